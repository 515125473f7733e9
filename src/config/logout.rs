//! `options.logout`: OIDC back-channel logout tokens published by a client (e.g. `mqtt-jwt
//! logout-relay`) end the sessions they name.
use super::walk::{ConfigError, Obj, Result};

pub const DEFAULT_LOGOUT_TOPIC: &str = "$CONTROL/jwt-auth/v1/logout";
pub const DEFAULT_MAX_AGE_SECONDS: u64 = 300;
pub const DEFAULT_REMEMBER_SECONDS: u64 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutConfig {
    /// The control topic a client publishes the raw logout token to (never routed).
    pub topic: String,
    /// The client id the identity provider addresses logout tokens to (their `aud`).
    pub audience: String,
    /// A logout token issued longer ago than this is refused (and its `jti` need not be kept longer).
    pub max_age_seconds: u64,
    /// How long a logout refuses tokens issued at or before it.
    pub remember_seconds: u64,
}

pub fn parse_logout(mut o: Obj) -> Result<Option<LogoutConfig>> {
    let enabled = o.bool("enabled", true)?;
    let topic = o.string("topic")?.unwrap_or(DEFAULT_LOGOUT_TOPIC).to_string();
    // mosquitto hands a plugin only `$CONTROL/...` topics at least as long as `$CONTROL/A/v1`.
    if !topic.starts_with("$CONTROL/") || topic.len() < "$CONTROL/A/v1".len() || topic.contains(['+', '#', '\0']) {
        return Err(ConfigError::new(o.key_path("topic"), "must look like $CONTROL/<name>/v1/logout"));
    }
    let audience = match o.string("audience")? {
        Some(a) if !a.is_empty() => a.to_string(),
        Some(_) => return Err(ConfigError::new(o.key_path("audience"), "empty")),
        None if !enabled => String::new(),
        None => {
            return Err(ConfigError::new(
                o.key_path("audience"),
                "missing: the client id the identity provider puts in the logout tokens' aud",
            ))
        }
    };
    let max_age_seconds = o.u64("maxAgeSeconds", DEFAULT_MAX_AGE_SECONDS)?;
    if !(1..=86_400).contains(&max_age_seconds) {
        return Err(ConfigError::new(o.key_path("maxAgeSeconds"), "must be between 1 and 86400"));
    }
    let remember_seconds = o.u64("rememberSeconds", DEFAULT_REMEMBER_SECONDS)?;
    if remember_seconds > 30 * 86_400 {
        return Err(ConfigError::new(o.key_path("rememberSeconds"), "must be at most 2592000 (30 days)"));
    }
    o.finish()?;
    Ok(enabled.then_some(LogoutConfig { topic, audience, max_age_seconds, remember_seconds }))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use serde_json::json;

    fn parse(logout: serde_json::Value) -> Result<Config, String> {
        let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
            "options": {"modes": {"local": "secret-0123456789-0123456789-0123"}, "logout": logout}});
        Config::parse(&cfg.to_string()).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_required_audience() {
        let l = parse(json!({"audience": "relay"})).unwrap().logout.unwrap();
        assert_eq!(l.topic, "$CONTROL/jwt-auth/v1/logout");
        assert_eq!((l.max_age_seconds, l.remember_seconds), (300, 86_400));
        assert!(parse(json!({"enabled": false})).unwrap().logout.is_none());
        let e = parse(json!({})).unwrap_err();
        assert!(e.contains("options.logout.audience") && e.contains("missing"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = parse(json!({"audience": "a", "maxAge": 5})).unwrap_err();
        assert!(e.contains("options.logout.maxAge"), "{e}");
        let e = parse(json!({"audience": "a", "topic": "logout/#"})).unwrap_err();
        assert!(e.contains("options.logout.topic"), "{e}");
        let e = parse(json!({"audience": "a", "maxAgeSeconds": 0})).unwrap_err();
        assert!(e.contains("options.logout.maxAgeSeconds"), "{e}");
        let e = parse(json!({"audience": ""})).unwrap_err();
        assert!(e.contains("options.logout.audience"), "{e}");
        let e = parse(json!({"audience": "a", "topic": "$CONTROL/jwt-auth/v1"})).unwrap_err();
        assert!(e.contains("options.logout.topic") && e.contains("controlTopic"), "{e}");
    }
}
