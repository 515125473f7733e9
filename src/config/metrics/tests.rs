//! options.metrics.
use crate::config::*;
use serde_json::{json, Value};

fn parse(options: Value) -> std::result::Result<Config, ConfigError> {
    let mut o = json!({"modes": {"local": "s"}, "common": {"issuer": "https://idp.example.com/realms/x"}});
    for (k, v) in options.as_object().unwrap() {
        o[k] = v.clone();
    }
    Config::parse(&json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": o}).to_string())
}

fn err(options: Value) -> String {
    parse(options).unwrap_err().to_string()
}

#[test]
fn metrics_defaults_and_limits() {
    let m = parse(json!({"metrics": {}})).unwrap().metrics.unwrap();
    assert_eq!(
        m,
        MetricsConfig {
            interval_seconds: 60,
            topic_prefix: "$SYS/broker/plugin/jwt".into(),
            log_interval_seconds: 300
        }
    );
    assert_eq!(parse(json!({"metrics": {"enabled": false}})).unwrap().metrics, None);
    assert_eq!(parse(json!({})).unwrap().metrics, None);
    assert!(err(json!({"metrics": {"intervalSeconds": 0}})).starts_with("options.metrics.intervalSeconds:"));
    assert!(err(json!({"metrics": {"topicPrefix": "$SYS/#"}})).starts_with("options.metrics.topicPrefix:"));
    assert!(err(json!({"metrics": {"interval": 5}})).starts_with("options.metrics.interval: unknown key"));
}
