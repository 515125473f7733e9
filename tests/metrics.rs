//! Metrics through a real mosquitto: the plugin publishes its counters under $SYS from TICK.
mod support;

use mqtt_jwt_auth::alg::Alg;
use serde_json::json;
use std::time::{Duration, Instant};
use support::broker::Broker;
use support::mqtt::{self, Connect, Outcome};
use support::tokens::{token, HS_SECRET};

#[test]
fn counters_are_published_under_sys_and_summarised_in_the_log() {
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {
        "modes": {"local": HS_SECRET},
        "metrics": {"intervalSeconds": 1, "logIntervalSeconds": 1}}});
    let b = Broker::start(&cfg.to_string());
    let good = token(Alg::HS256, "watcher", json!({}));
    let c = Connect { version: 4, client_id: "watcher", password: Some(good.as_bytes()), ..Default::default() };
    let (s, out) = mqtt::connect(b.port, &c);
    assert_eq!(out, Outcome::Connack(0), "{}", b.log());
    let mut s = s.unwrap();
    mqtt::subscribe(&mut s, false, "$SYS/broker/plugin/jwt/#");
    let bad = format!("{good}x");
    assert_eq!(mqtt::connect_with_password(b.port, "intruder", None, &bad), Outcome::Connack(5));

    let mut seen = std::collections::HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    // Retained values from before the CONNECTs may come first: wait for the ones after them.
    let done = |seen: &std::collections::HashMap<String, String>| {
        seen.contains_key("$SYS/broker/plugin/jwt/auth/refused/bad-signature")
            && seen.get("$SYS/broker/plugin/jwt/sessions/live").map(String::as_str) == Some("1")
    };
    while Instant::now() < deadline && !done(&seen) {
        if let Some((topic, payload)) = mqtt::next_publish(&mut s, false, Duration::from_secs(3)) {
            seen.insert(topic, String::from_utf8_lossy(&payload).into_owned());
        }
    }
    assert_eq!(
        seen.get("$SYS/broker/plugin/jwt/auth/refused/bad-signature").map(String::as_str),
        Some("1"),
        "{seen:?}"
    );
    assert_eq!(seen.get("$SYS/broker/plugin/jwt/auth/accepted").map(String::as_str), Some("1"), "{seen:?}");
    assert_eq!(seen.get("$SYS/broker/plugin/jwt/sessions/live").map(String::as_str), Some("1"), "{seen:?}");
    assert!(
        b.wait_log("jwt-auth: metrics: accepted 1, refused 1 (bad-signature 1)", Duration::from_secs(5)),
        "{}",
        b.log()
    );
    mqtt::disconnect(s);
}
