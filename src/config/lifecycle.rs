//! `options.refresh`, `options.expiryNotice` and `options.invalidNotice`: in-band token refresh, the
//! warning before expiry, and the notice before the plugin ends a session for another reason.
use super::walk::{ConfigError, Obj, Result};

pub const DEFAULT_AUTH_METHOD: &str = "JWT";
pub const DEFAULT_CONTROL_TOPIC: &str = "$CONTROL/jwt-auth/v1";
pub const DEFAULT_RESPONSE_TOPIC: &str = "$CONTROL/jwt-auth/v1/response";
pub const DEFAULT_NOTICE_TOPIC: &str = "$CONTROL/jwt-auth/v1/expiring";
pub const DEFAULT_INVALID_TOPIC: &str = "$CONTROL/jwt-auth/v1/invalid";
pub const DEFAULT_MIN_REFRESH_INTERVAL_MS: u64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refresh {
    /// MQTT v5 authentication method handled by the plugin; None disables enhanced authentication.
    pub auth_method: Option<String>,
    /// Topic a client publishes a new token to; None disables the control-topic refresh.
    pub control_topic: Option<String>,
    /// Topic of the answer, delivered to the refreshing client only.
    pub response_topic: String,
    /// A refresh sooner than this after the last accepted one is refused without verifying it
    /// (and without ending the session): refresh floods cost neither crypto nor memory.
    pub min_interval_ms: u64,
}

impl Default for Refresh {
    fn default() -> Self {
        Refresh {
            auth_method: Some(DEFAULT_AUTH_METHOD.into()),
            control_topic: Some(DEFAULT_CONTROL_TOPIC.into()),
            response_topic: DEFAULT_RESPONSE_TOPIC.into(),
            min_interval_ms: DEFAULT_MIN_REFRESH_INTERVAL_MS,
        }
    }
}

/// `options.invalidNotice`: `{"reason": "<category>"}` to the client before the plugin ends its
/// session for any reason but plain expiry (revoked, refused refresh).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidNotice {
    pub topic: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryNotice {
    pub seconds_before: u64,
    pub topic: String,
}

/// A topic the plugin publishes to: no wildcards, not empty.
fn publish_topic(o: &Obj, key: &str, t: &str) -> Result<()> {
    if t.is_empty() || t.contains(['+', '#', '\0']) {
        return Err(ConfigError::new(o.key_path(key), "must be a topic name without wildcards"));
    }
    Ok(())
}

pub fn parse_refresh(mut o: Obj) -> Result<Refresh> {
    let mut r = Refresh::default();
    // An explicit null switches a mechanism off; absence keeps the default.
    let method_given = o.has("authMethod");
    r.auth_method = o.string("authMethod")?.map(str::to_string).or(if method_given { None } else { r.auth_method });
    if r.auth_method.as_deref() == Some("") {
        return Err(ConfigError::new(o.key_path("authMethod"), "empty (use null to disable)"));
    }
    let control_given = o.has("controlTopic");
    r.control_topic =
        o.string("controlTopic")?.map(str::to_string).or(if control_given { None } else { r.control_topic });
    if let Some(t) = &r.control_topic {
        // mosquitto routes only `$CONTROL/<name>/v1`-shaped topics to plugins.
        let rest = t.strip_prefix("$CONTROL/").unwrap_or("");
        if rest.len() < 4 || !rest.contains('/') || t.contains(['+', '#', '\0']) {
            return Err(ConfigError::new(o.key_path("controlTopic"), "must look like $CONTROL/<name>/v1"));
        }
    }
    if let Some(t) = o.string("responseTopic")? {
        publish_topic(&o, "responseTopic", t)?;
        r.response_topic = t.to_string();
    }
    r.min_interval_ms = o.u64("minIntervalMs", DEFAULT_MIN_REFRESH_INTERVAL_MS)?;
    if r.min_interval_ms > 3_600_000 {
        return Err(ConfigError::new(o.key_path("minIntervalMs"), "must be at most 3600000 (one hour)"));
    }
    o.finish()?;
    Ok(r)
}

pub fn parse_expiry_notice(mut o: Obj) -> Result<Option<ExpiryNotice>> {
    let enabled = o.bool("enabled", true)?;
    let seconds_before = o.u64("secondsBefore", 60)?;
    let topic = o.string("topic")?.unwrap_or(DEFAULT_NOTICE_TOPIC).to_string();
    publish_topic(&o, "topic", &topic)?;
    if seconds_before == 0 || seconds_before > 86_400 {
        return Err(ConfigError::new(o.key_path("secondsBefore"), "must be between 1 and 86400"));
    }
    o.finish()?;
    Ok(enabled.then_some(ExpiryNotice { seconds_before, topic }))
}

pub fn parse_invalid_notice(mut o: Obj) -> Result<Option<InvalidNotice>> {
    let enabled = o.bool("enabled", true)?;
    let topic = o.string("topic")?.unwrap_or(DEFAULT_INVALID_TOPIC).to_string();
    publish_topic(&o, "topic", &topic)?;
    o.finish()?;
    Ok(enabled.then_some(InvalidNotice { topic }))
}
