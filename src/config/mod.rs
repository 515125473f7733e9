//! jwt.json → validated [`Config`]. The Pro Mosquitto JWT plugin's schema is the base; additions live
//! under new keys. Every error names the key path and the problem; unknown keys are errors.
mod authorization;
mod exchange;
mod identity;
mod jwks;
pub mod keys;
mod lifecycle;
mod logout;
mod metrics;
mod revocation;
mod secret;
pub(crate) mod walk;

/// For the section tests: a local-mode configuration with `options` merged in.
#[cfg(test)]
pub(crate) mod test_options {
    use super::{Config, ConfigError};
    use serde_json::{json, Value};

    pub fn parse(options: Value) -> std::result::Result<Config, ConfigError> {
        let mut o = json!({"modes": {"local": "s"}, "common": {"issuer": "https://idp.example.com/realms/x"}});
        for (k, v) in options.as_object().unwrap() {
            o[k] = v.clone();
        }
        Config::parse(&json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": o}).to_string())
    }

    pub fn err(options: Value) -> String {
        parse(options).unwrap_err().to_string()
    }
}

pub use exchange::{ExchangeConfig, Grant, TokenEndpoint};
pub use identity::{ClientIdTakeover, NonJwtCredentials};
pub use lifecycle::{ExpiryNotice, InvalidNotice, Refresh};
pub use logout::LogoutConfig;
pub use metrics::MetricsConfig;
pub use revocation::{
    BodyEncoding, Introspection, OnError, Plain, Policy, Revocation, RevocationEndpoint, TOKEN_PLACEHOLDER,
};
pub use secret::{Resolved, Secret};

pub use walk::ConfigError;
pub(crate) use walk::{Obj, Result};

use crate::acl::AuthorizationConfig;
use crate::alg::Alg;
use jwks::{parse_issuer_keys, parse_jwks, resolve_discovery};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Default for `options.common.maxTokenBytes`: far above any real access token, far below abuse.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8192;
pub const DEFAULT_CACHE_ENTRIES: usize = 100_000;
/// Default for `minRefreshIntervalMs`: a flood of unknown kids costs the IdP one request per interval.
pub const DEFAULT_MIN_REFRESH_MS: u64 = 30_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub algorithms: Vec<Alg>,
    pub mode: Mode,
    pub lazy_connect: bool,
    /// Where the static key (shared secret or PEM public key) comes from.
    pub local: Option<Secret>,
    pub jwks: Option<JwksSource>,
    /// `options.issuerKeys`: each issuer with its own key source; the token's `iss` picks one.
    pub issuer_keys: Vec<IssuerKeys>,
    pub common: Common,
    pub revocation: Option<Revocation>,
    pub verified_cache_entries: usize,
    pub refresh: Refresh,
    pub expiry_notice: Option<ExpiryNotice>,
    pub invalid_notice: Option<InvalidNotice>,
    /// `options.authorization`; None: the plugin answers no ACL check (mosquitto's default applies).
    pub authorization: Option<AuthorizationConfig>,
    /// `options.metrics`; None: no counters published or logged.
    pub metrics: Option<MetricsConfig>,
    /// `options.credentialsExchange`; None: a password that is not a JWT is refused as before.
    pub credentials_exchange: Option<ExchangeConfig>,
    /// `options.logout`; None: logout tokens are not handled.
    pub logout: Option<LogoutConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Local,
    Jwks,
}

/// Where a JWK set comes from: exactly one of `file_path`, `uri`, `discovery` is set.
#[derive(Debug, Clone, PartialEq)]
pub struct JwksSource {
    pub file_path: Option<PathBuf>,
    pub uri: Option<String>,
    /// OIDC discovery: the issuer URL whose `/.well-known/openid-configuration` names the `jwks_uri`.
    pub discovery: Option<String>,
    pub timeout_ms: u64,
    pub cache_enabled: bool,
    pub cache_ttl_ms: u64,
    pub respect_cache_headers: bool,
    pub min_refresh_interval_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IssuerKeys {
    /// Compared exactly with the token's `iss`.
    pub issuer: String,
    pub keys: JwksSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Password,
    Username,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Common {
    pub issuers: Vec<String>,
    pub audiences: Vec<String>,
    /// Scopes the token must grant (`scope` as a space-separated string, or `scp`), all of them.
    pub required_scopes: Vec<String>,
    pub validate_expiration: bool,
    pub match_username_to_subject: bool,
    pub match_client_id_to_subject: bool,
    pub match_username_to_claim: Option<String>,
    pub match_client_id_to_claim: Option<String>,
    pub kick_expired_clients: bool,
    pub kick_expired_clients_with_will: bool,
    // Additions to the Pro schema.
    pub leeway_seconds: u64,
    pub token_source: TokenSource,
    pub max_token_bytes: usize,
    pub refuse_username_mismatch: bool,
    pub client_id_takeover: ClientIdTakeover,
    pub non_jwt_credentials: NonJwtCredentials,
}

/// A problem with a named configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub file: PathBuf,
    pub error: ConfigError,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.error)
    }
}

impl Config {
    pub fn load(file: &Path) -> std::result::Result<Config, FileError> {
        let err = |error| FileError { file: file.to_path_buf(), error };
        let text = std::fs::read_to_string(file).map_err(|e| err(ConfigError::new("", format!("cannot read: {e}"))))?;
        Config::parse(&text).map_err(err)
    }

    pub fn parse(text: &str) -> Result<Config> {
        let root: Value = serde_json::from_str(text).map_err(|e| {
            ConfigError::new("", format!("invalid JSON at line {} column {}: {e}", e.line(), e.column()))
        })?;
        let mut top = Obj::new("", &root)?;
        match top.get("version") {
            None => return Err(ConfigError::new("version", "missing (expected 1)")),
            Some(v) if v.as_u64() == Some(1) => {}
            Some(_) => return Err(ConfigError::new("version", "unsupported (expected 1)")),
        }
        let algorithms = parse_algorithms(&mut top)?;
        let mode = match top.string("mode")? {
            Some("local") => Mode::Local,
            Some("jwks") => Mode::Jwks,
            Some(other) => {
                return Err(ConfigError::new(
                    "mode",
                    format!("unknown mode {other:?} (expected \"local\" or \"jwks\")"),
                ))
            }
            None => return Err(ConfigError::new("mode", "missing (expected \"local\" or \"jwks\")")),
        };
        let empty = Value::Object(Default::default());
        let options_value = top.get("options").unwrap_or(&empty);
        top.finish()?;

        let mut options = Obj::new("options", options_value)?;
        let lazy_connect = options.bool("lazyConnect", false)?;
        let (local, jwks) = match options.object("modes")? {
            Some(mut modes) => {
                let local = parse_local(&mut modes)?;
                let jwks = modes.object("jwks")?.map(|o| parse_jwks(o, None)).transpose()?;
                modes.finish()?;
                (local, jwks)
            }
            None => (None, None),
        };
        let common = match options.object("common")? {
            Some(o) => parse_common(o)?,
            None => parse_common(Obj::new("options.common", &empty)?)?,
        };
        let issuer_keys = parse_issuer_keys(&mut options)?;
        let revocation = options.object("revocation")?.map(revocation::parse).transpose()?;
        let verified_cache_entries = match options.object("verifiedTokenCache")? {
            Some(mut c) => {
                let enabled = c.bool("enabled", true)?;
                let max = c.u64("maxEntries", DEFAULT_CACHE_ENTRIES as u64)? as usize;
                c.finish()?;
                if enabled {
                    max
                } else {
                    0
                }
            }
            None => DEFAULT_CACHE_ENTRIES,
        };
        let refresh = options.object("refresh")?.map(lifecycle::parse_refresh).transpose()?.unwrap_or_default();
        let expiry_notice = options.object("expiryNotice")?.map(lifecycle::parse_expiry_notice).transpose()?.flatten();
        let invalid_notice =
            options.object("invalidNotice")?.map(lifecycle::parse_invalid_notice).transpose()?.flatten();
        let mut authorization = options.object("authorization")?.map(authorization::parse).transpose()?;
        if let Some(a) = authorization.as_mut() {
            a.trust_client_id |= identity::client_id_bound(&common);
        }
        let metrics = options.object("metrics")?.map(metrics::parse_metrics).transpose()?.flatten();
        let credentials_exchange =
            options.object("credentialsExchange")?.map(|o| exchange::parse_exchange(o, &common)).transpose()?.flatten();
        let logout = options.object("logout")?.map(logout::parse_logout).transpose()?.flatten();
        if logout.as_ref().is_some_and(|l| Some(&l.topic) == refresh.control_topic.as_ref()) {
            return Err(ConfigError::new(
                "options.logout.topic",
                "is options.refresh.controlTopic: give each its own topic",
            ));
        }
        options.finish()?;

        match mode {
            Mode::Local if local.is_none() => {
                return Err(ConfigError::new(
                    "options.modes.local",
                    "missing: mode \"local\" needs a key (plain, env or filePath)",
                ))
            }
            Mode::Local if !issuer_keys.is_empty() => {
                return Err(ConfigError::new(
                    "options.issuerKeys",
                    "needs mode \"jwks\" (each issuer has its own JWK set)",
                ))
            }
            Mode::Jwks if jwks.is_some() && !issuer_keys.is_empty() => {
                return Err(ConfigError::new(
                    "options.modes.jwks",
                    "conflicts with options.issuerKeys: give the key source inside each issuer entry",
                ))
            }
            Mode::Jwks if jwks.is_none() && issuer_keys.is_empty() => {
                return Err(ConfigError::new(
                    "options.modes.jwks",
                    "missing: mode \"jwks\" needs a uri, filePath or discovery (or options.issuerKeys)",
                ))
            }
            _ => {}
        }
        let jwks = jwks.map(|j| resolve_discovery(j, &common)).transpose()?;
        let config = Config {
            algorithms,
            mode,
            lazy_connect,
            local,
            jwks,
            issuer_keys,
            common,
            revocation,
            verified_cache_entries,
            refresh,
            expiry_notice,
            invalid_notice,
            authorization,
            metrics,
            credentials_exchange,
            logout,
        };
        identity::check(&config)?;
        Ok(config)
    }
}

fn parse_algorithms(top: &mut Obj) -> Result<Vec<Alg>> {
    let names = top.strings("algorithm")?;
    if names.is_empty() {
        return Err(ConfigError::new(
            "algorithm",
            "missing: name the allowed algorithm(s), e.g. \"RS256\" or [\"RS256\", \"ES256\"]",
        ));
    }
    let mut algs = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let alg = Alg::parse(name).map_err(|problem| {
            let path = if names.len() > 1 { format!("algorithm[{i}]") } else { "algorithm".into() };
            ConfigError::new(path, problem)
        })?;
        if !algs.contains(&alg) {
            algs.push(alg);
        }
    }
    Ok(algs)
}

fn parse_local(modes: &mut Obj) -> Result<Option<Secret>> {
    secret::parse(modes, "local")
}

fn parse_common(mut o: Obj) -> Result<Common> {
    let mut issuers = o.strings("issuer")?;
    issuers.extend(o.strings("issuers")?);
    let mut audiences = o.strings("audience")?;
    audiences.extend(o.strings("audiences")?);
    let token_source = match o.string("tokenSource")? {
        None | Some("password") => TokenSource::Password,
        Some("username") => TokenSource::Username,
        Some(other) => {
            return Err(ConfigError::new(
                o.key_path("tokenSource"),
                format!("unknown source {other:?} (expected \"password\" or \"username\")"),
            ))
        }
    };
    let max_token_bytes = o.u64("maxTokenBytes", DEFAULT_MAX_TOKEN_BYTES as u64)?;
    if !(64..=1 << 20).contains(&max_token_bytes) {
        return Err(ConfigError::new(o.key_path("maxTokenBytes"), "must be between 64 and 1048576"));
    }
    let c = Common {
        issuers,
        audiences,
        required_scopes: o.strings("requiredScopes")?,
        validate_expiration: o.bool("validateExpiration", true)?,
        match_username_to_subject: o.bool("matchUsernameToSubject", false)?,
        match_client_id_to_subject: o.bool("matchClientIdToSubject", false)?,
        match_username_to_claim: claim_name(&mut o, "matchUsernameToClaim")?,
        match_client_id_to_claim: claim_name(&mut o, "matchClientIdToClaim")?,
        kick_expired_clients: o.bool("kickExpiredClients", true)?,
        kick_expired_clients_with_will: o.bool("kickExpiredClientsWithWill", true)?,
        leeway_seconds: o.u64("leewaySeconds", 0)?,
        token_source,
        max_token_bytes: max_token_bytes as usize,
        refuse_username_mismatch: o.bool("refuseUsernameMismatch", false)?,
        client_id_takeover: identity::parse_takeover(&mut o)?,
        non_jwt_credentials: identity::parse_non_jwt(&mut o)?,
    };
    if c.match_username_to_subject && c.match_username_to_claim.is_some() {
        return Err(ConfigError::new(
            o.key_path("matchUsernameToClaim"),
            "conflicts with matchUsernameToSubject: the username can come from one source only",
        ));
    }
    if c.leeway_seconds > 3600 {
        return Err(ConfigError::new(o.key_path("leewaySeconds"), "must be at most 3600"));
    }
    for (i, p) in c.issuers.iter().chain(&c.audiences).enumerate() {
        let key = if i < c.issuers.len() { "issuer" } else { "audience" };
        crate::pattern::Pattern::compile(p).map_err(|e| ConfigError::new(o.key_path(key), e))?;
    }
    o.finish()?;
    // After finish: a misspelt binding is reported as the typo it is.
    identity::check_common(&c)?;
    Ok(c)
}

fn claim_name(o: &mut Obj, key: &'static str) -> Result<Option<String>> {
    match o.string(key)? {
        Some("") => Err(ConfigError::new(o.key_path(key), "empty claim name")),
        other => Ok(other.map(str::to_string)),
    }
}

#[cfg(test)]
mod tests;
