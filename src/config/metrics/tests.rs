//! options.metrics.
use crate::config::test_options::{err, parse};
use crate::config::*;
use serde_json::json;

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
