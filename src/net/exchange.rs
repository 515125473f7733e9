//! Credentials exchange (opt-in, `options.credentialsExchange`): a client that sends a username and
//! password instead of a JWT has them exchanged at the identity provider's token endpoint for an
//! access token, which is then verified like any other. The request BLOCKS the broker thread (BASIC_AUTH
//! must answer synchronously in mosquitto 2.0), so results are cached until the token's exp, keyed by a
//! salted SHA-256 of the credentials: neither the password nor an unsalted hash of it is kept.
use crate::cache::Digest;
use crate::config::{ConfigError, ExchangeConfig, Grant, TokenEndpoint};
use crate::logsafe::clean;
use crate::metrics::Metrics;
use crate::net::discovery::{self, Discovered};
use crate::net::http;
use crate::refusal::{Reason, Refused};
use arc_swap::ArcSwapOption;
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Without an exp (validateExpiration false) or expires_in, a result is kept this long.
const DEFAULT_TTL: f64 = 300.0;

pub struct Exchanger {
    pub config: ExchangeConfig,
    agent: ureq::Agent,
    salt: [u8; 32],
    /// The password grant's client secret, read from wherever the configuration keeps it.
    client_secret: Option<String>,
    /// The token endpoint, once discovery has named it.
    endpoint: Mutex<Option<String>>,
    /// The discovery document of the key source for the same issuer, when there is one.
    discovered: Option<Arc<ArcSwapOption<Discovered>>>,
    cache: Mutex<HashMap<Digest, (f64, String)>>,
    metrics: Arc<Metrics>,
}

/// An access token and how long the provider says it lasts.
#[derive(Debug, Clone)]
pub struct Exchanged {
    pub token: String,
    pub expires_in: Option<f64>,
    /// How long the request took (discovery included), for the log.
    pub took: Duration,
}

/// A compact JWS: three base64url parts, a JSON header (`eyJ` is `{"`). Anything else is a password.
pub fn looks_like_jwt(s: &str) -> bool {
    s.starts_with("eyJ") && s.split('.').count() == 3
}

impl Exchanger {
    /// Fails when the password grant's client secret cannot be read (env unset, file unreadable).
    /// `discovered`: the discovery document a key source of the same issuer keeps up to date.
    pub fn new(
        config: ExchangeConfig,
        discovered: Option<Arc<ArcSwapOption<Discovered>>>,
        metrics: Arc<Metrics>,
    ) -> Result<Exchanger, ConfigError> {
        let mut salt = [0u8; 32];
        // A failing system RNG leaves a zero salt: still keyed per process, never a plain hash.
        let _ = aws_lc_rs::rand::fill(&mut salt);
        let agent = http::agent(Duration::from_millis(config.timeout_ms));
        let endpoint = match &config.endpoint {
            TokenEndpoint::Url(u) => Some(u.clone()),
            TokenEndpoint::Discovery(_) => None,
        };
        let client_secret = match &config.grant {
            Grant::Password { client_secret: Some(s), .. } => {
                Some(s.resolve("options.credentialsExchange.clientSecret")?.value)
            }
            _ => None,
        };
        let (endpoint, cache) = (Mutex::new(endpoint), Mutex::new(HashMap::new()));
        Ok(Exchanger { config, agent, salt, client_secret, endpoint, discovered, cache, metrics })
    }

    fn key(&self, username: &str, password: &str) -> Digest {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(&self.salt);
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        ctx.update(&(username.len() as u64).to_be_bytes());
        ctx.update(username.as_bytes());
        ctx.update(password.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    /// A token obtained earlier for these credentials that is still within its lifetime.
    pub fn cached(&self, username: &str, password: &str, now: f64) -> Option<String> {
        let key = self.key(username, password);
        let mut cache = self.cache.lock();
        match cache.get(&key) {
            Some((until, token)) if now < *until => Some(token.clone()),
            Some(_) => {
                cache.remove(&key);
                None
            }
            None => None,
        }
    }

    pub fn remember(&self, username: &str, password: &str, token: String, until: f64, now: f64) {
        let key = self.key(username, password);
        let mut cache = self.cache.lock();
        if cache.len() >= self.config.max_entries {
            cache.retain(|_, (u, _)| now < *u);
            if cache.len() >= self.config.max_entries {
                // Still full of live entries: the cache is a convenience, so make room wholesale.
                cache.clear();
            }
        }
        cache.insert(key, (until.min(now + 86_400.0), token));
    }

    pub fn forget(&self, username: &str, password: &str) {
        self.cache.lock().remove(&self.key(username, password));
    }

    pub fn cached_entries(&self) -> usize {
        self.cache.lock().len()
    }

    /// How long to keep a result: the verified token's exp, else expires_in, else DEFAULT_TTL.
    pub fn until(exp: Option<f64>, expires_in: Option<f64>, now: f64) -> f64 {
        exp.or(expires_in.map(|s| now + s)).unwrap_or(now + DEFAULT_TTL)
    }

    /// The token endpoint, reading the discovery document the first time (blocking).
    pub fn token_endpoint(&self) -> Result<String, String> {
        if let Some(u) = self.endpoint.lock().clone() {
            return Ok(u);
        }
        let TokenEndpoint::Discovery(issuer) = &self.config.endpoint else { unreachable!("set in new") };
        // The key source of the same issuer may have read the document already.
        let known = self.discovered.as_ref().and_then(|d| d.load_full()).filter(|d| d.token_endpoint.is_some());
        let doc = match known {
            Some(d) => d,
            None => Arc::new(
                discovery::fetch(&self.agent, issuer, Duration::from_millis(self.config.timeout_ms))
                    .map_err(|e| format!("discovery {e}"))?,
            ),
        };
        let Some(endpoint) = doc.token_endpoint.clone() else {
            return Err(format!("discovery {}: no http(s) token_endpoint", discovery::discovery_url(issuer)));
        };
        *self.endpoint.lock() = Some(endpoint.clone());
        Ok(endpoint)
    }

    /// `mqtt-jwt check`: the HTTP status the endpoint answers a GET with. Any answer proves the
    /// endpoint is there; no credentials are sent.
    pub fn probe(&self, endpoint: &str) -> Result<u16, String> {
        let resp = self.agent.get(endpoint).call().map_err(|e| e.to_string())?;
        Ok(resp.status().as_u16())
    }

    /// Asks the token endpoint for an access token for these credentials. Blocking, bounded by
    /// `timeoutMs`. Refusals by the provider are `credentials-refused`; anything else `exchange-failed`.
    pub fn exchange(&self, username: &str, password: &str) -> Result<Exchanged, Refused> {
        let failed = |d: String| Refused::new(Reason::ExchangeFailed, d);
        let begun = std::time::Instant::now();
        let endpoint = self.token_endpoint().map_err(failed)?;
        let c = &self.config;
        let mut form: Vec<(&str, &str)> = match &c.grant {
            Grant::ClientCredentials => {
                vec![("grant_type", "client_credentials"), ("client_id", username), ("client_secret", password)]
            }
            Grant::Password { client_id, .. } => {
                let mut f = vec![
                    ("grant_type", "password"),
                    ("username", username),
                    ("password", password),
                    ("client_id", client_id.as_str()),
                ];
                if let Some(s) = &self.client_secret {
                    f.push(("client_secret", s.as_str()));
                }
                f
            }
        };
        for (name, value) in [("scope", &c.scope), ("audience", &c.audience), ("resource", &c.resource)] {
            if let Some(v) = value {
                form.push((name, v.as_str()));
            }
        }
        let started = std::time::Instant::now();
        let result = self.post(&endpoint, &form).map(|e| Exchanged { took: begun.elapsed(), ..e });
        let m = &self.metrics;
        Metrics::inc(&m.exchange_calls);
        m.exchange_latency.record(started.elapsed());
        if result.is_err() {
            Metrics::inc(&m.exchange_failures);
        }
        result
    }

    fn post(&self, endpoint: &str, form: &[(&str, &str)]) -> Result<Exchanged, Refused> {
        let timeout = self.config.timeout_ms;
        let failed = |d: String| Refused::new(Reason::ExchangeFailed, d);
        let mut resp =
            self.agent.post(endpoint).header("accept", "application/json").send_form(form.iter().copied()).map_err(
                |e| match e {
                    ureq::Error::Timeout(_) => failed(format!("token endpoint timed out after {timeout} ms")),
                    other => failed(format!("token endpoint: {}", clean(&other.to_string(), 200))),
                },
            )?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(http::DOCUMENT_LIMIT)
            .read_to_string()
            .map_err(|e| failed(format!("token endpoint: {}", clean(&e.to_string(), 200))))?;
        let doc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            // RFC 6749 §5.2 error codes; only the code is logged, never the description (it may echo input).
            let code = doc.get("error").and_then(Value::as_str).unwrap_or("");
            let detail = format!("token endpoint answered HTTP {status} {}", clean(code, 64)).trim_end().to_string();
            let refused = matches!(code, "invalid_client" | "invalid_grant" | "unauthorized_client")
                || (status == 401 && code.is_empty());
            return Err(Refused::new(
                if refused { Reason::CredentialsRefused } else { Reason::ExchangeFailed },
                detail,
            ));
        }
        let token = doc
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| failed("token endpoint answered without an access_token".into()))?;
        if !looks_like_jwt(token) {
            return Err(failed(
                "the access token is not a JWT (configure the provider to issue JWT access tokens)".into(),
            ));
        }
        Ok(Exchanged {
            token: token.to_string(),
            expires_in: doc.get("expires_in").and_then(Value::as_f64),
            took: Duration::ZERO,
        })
    }
}

#[cfg(test)]
mod tests;
mod threads;

pub use threads::Threads;
