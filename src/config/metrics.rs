//! `options.metrics`: counters published under a topic prefix and summarised in the log.
use super::walk::{ConfigError, Obj, Result};

pub const DEFAULT_METRICS_PREFIX: &str = "$SYS/broker/plugin/jwt";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Seconds between two publications under `topic_prefix`.
    pub interval_seconds: u64,
    pub topic_prefix: String,
    /// Seconds between two summary lines in the log; 0: never.
    pub log_interval_seconds: u64,
}

pub fn parse_metrics(mut o: Obj) -> Result<Option<MetricsConfig>> {
    let enabled = o.bool("enabled", true)?;
    let interval_seconds = o.u64("intervalSeconds", 60)?;
    if !(1..=86_400).contains(&interval_seconds) {
        return Err(ConfigError::new(o.key_path("intervalSeconds"), "must be between 1 and 86400"));
    }
    let log_interval_seconds = o.u64("logIntervalSeconds", 300)?;
    if log_interval_seconds > 86_400 * 7 {
        return Err(ConfigError::new(o.key_path("logIntervalSeconds"), "must be at most 604800 (0: never)"));
    }
    let topic_prefix = o.string("topicPrefix")?.unwrap_or(DEFAULT_METRICS_PREFIX).to_string();
    if topic_prefix.is_empty() || topic_prefix.ends_with('/') || topic_prefix.contains(['+', '#', '\0']) {
        return Err(ConfigError::new(
            o.key_path("topicPrefix"),
            "must be a topic name without wildcards or a trailing /",
        ));
    }
    o.finish()?;
    Ok(enabled.then_some(MetricsConfig { interval_seconds, topic_prefix, log_interval_seconds }))
}

#[cfg(test)]
mod tests;
