//! `options.credentialsExchange`: a username and password exchanged at the token endpoint for an
//! access token.
use super::walk::{ConfigError, Obj, Result};
use super::{Common, Secret, TokenSource};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenEndpoint {
    Url(String),
    /// The issuer whose discovery document names the `token_endpoint`.
    Discovery(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// The MQTT username is the OAuth client id, the password its secret.
    ClientCredentials,
    /// Resource-owner password grant, as the configured client.
    Password { client_id: String, client_secret: Option<Secret> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeConfig {
    pub endpoint: TokenEndpoint,
    pub grant: Grant,
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub resource: Option<String>,
    pub timeout_ms: u64,
    pub max_entries: usize,
}

fn http_url(o: &Obj, key: &str, url: &str) -> Result<()> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(ConfigError::new(o.key_path(key), "must be an http:// or https:// URL"))
    }
}

pub fn parse_exchange(mut o: Obj, common: &Common) -> Result<Option<ExchangeConfig>> {
    let enabled = o.bool("enabled", true)?;
    let url = o.string("tokenEndpoint")?.map(str::to_string);
    if let Some(u) = &url {
        http_url(&o, "tokenEndpoint", u)?;
    }
    let discovery = match o.get("discovery") {
        None | Some(serde_json::Value::Bool(false)) => None,
        Some(serde_json::Value::Bool(true)) => match common.issuers.as_slice() {
            [one] if one.starts_with("http") && !one.contains('*') && !one.starts_with('/') => Some(one.clone()),
            _ => {
                return Err(ConfigError::new(
                    o.key_path("discovery"),
                    "true needs options.common.issuer to be one exact issuer URL; or give the issuer URL here",
                ))
            }
        },
        Some(serde_json::Value::String(s)) => {
            http_url(&o, "discovery", s)?;
            Some(s.clone())
        }
        Some(v) => return Err(o.wrong("discovery", "true or an issuer URL", v)),
    };
    let endpoint = match (url, discovery) {
        (Some(u), None) => TokenEndpoint::Url(u),
        (None, Some(i)) => TokenEndpoint::Discovery(i),
        (None, None) => {
            return Err(ConfigError::new(o.key_path("tokenEndpoint"), "missing: give tokenEndpoint or discovery"))
        }
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(o.key_path("discovery"), "give only one of tokenEndpoint and discovery"))
        }
    };
    let client_id = o.string("clientId")?.map(str::to_string);
    let client_secret = super::secret::parse(&mut o, "clientSecret")?;
    let grant = match o.string("grant")? {
        None | Some("client_credentials") => {
            if client_id.is_some() || client_secret.is_some() {
                return Err(ConfigError::new(
                    o.key_path("clientId"),
                    "not used by the client_credentials grant (the MQTT username and password are the client's \
                     id and secret); remove it, or use grant \"password\"",
                ));
            }
            Grant::ClientCredentials
        }
        Some("password") => Grant::Password {
            client_id: client_id.ok_or_else(|| {
                ConfigError::new(o.key_path("clientId"), "missing: the password grant needs the broker's client id")
            })?,
            client_secret,
        },
        Some(other) => {
            return Err(ConfigError::new(
                o.key_path("grant"),
                format!("unknown grant {other:?} (expected \"client_credentials\" or \"password\")"),
            ))
        }
    };
    let timeout_ms = o.u64("timeoutMs", 5000)?;
    // The exchange blocks the broker thread: a long timeout stalls every client for that long.
    if !(100..=30_000).contains(&timeout_ms) {
        return Err(ConfigError::new(o.key_path("timeoutMs"), "must be between 100 and 30000"));
    }
    let max_entries = o.u64("maxEntries", 10_000)?;
    if !(1..=1_000_000).contains(&max_entries) {
        return Err(ConfigError::new(o.key_path("maxEntries"), "must be between 1 and 1000000"));
    }
    let scope = o.string("scope")?.map(str::to_string);
    let audience = o.string("audience")?.map(str::to_string);
    let resource = o.string("resource")?.map(str::to_string);
    if common.token_source == TokenSource::Username {
        return Err(ConfigError::new(
            o.path.clone(),
            "needs options.common.tokenSource \"password\" (the username is the client id to exchange)",
        ));
    }
    o.finish()?;
    Ok(enabled.then_some(ExchangeConfig {
        endpoint,
        grant,
        scope,
        audience,
        resource,
        timeout_ms,
        max_entries: max_entries as usize,
    }))
}

#[cfg(test)]
mod tests;
