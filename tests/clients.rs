//! The client helpers against a real broker: clients/js (MQTT.js, node's test runner) and
//! clients/python (paho-mqtt, pytest) each run their own suite against a mosquitto with the plugin,
//! an MQTT listener and a WebSockets listener, started here. Tokens: HS256 with the test secret.
mod support;

use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use support::broker::{free_port, Broker, Options};
use support::external::{run, Run};
use support::tokens::HS_SECRET;

struct Listeners {
    broker: Broker,
    ws_port: u16,
}

/// The broker the helpers' suites expect: username from the subject, expiry notices 2 s before exp.
fn broker(extra_options: Value) -> Listeners {
    let mut options = json!({
        "modes": {"local": HS_SECRET},
        "common": {"matchUsernameToSubject": true},
        "expiryNotice": {"secondsBefore": 2}
    });
    options.as_object_mut().unwrap().extend(extra_options.as_object().unwrap().clone());
    let jwt = json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": options});
    let ws_port = free_port();
    // mosquitto 2.0.11 starts no WebSockets-only broker ("Unable to start any listening sockets"):
    // the harness's MQTT listener comes first. Without socket_domain ipv4, its libwebsockets
    // listens on every interface whatever the bind address says.
    let extra_conf = format!("listener {ws_port} 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\n");
    let broker = Broker::start_with(&jwt.to_string(), Options { extra_conf, ..Default::default() })
        .unwrap_or_else(|log| panic!("mosquitto did not start:\n{log}"));
    Listeners { broker, ws_port }
}

fn env(l: &Listeners) -> Vec<(&'static str, String)> {
    vec![
        ("MQTT_JWT_TEST_URL", format!("mqtt://127.0.0.1:{}", l.broker.port)),
        ("MQTT_JWT_TEST_WS_URL", format!("ws://127.0.0.1:{}", l.ws_port)),
        ("MQTT_JWT_TEST_HOST", "127.0.0.1".to_string()),
        ("MQTT_JWT_TEST_PORT", l.broker.port.to_string()),
        ("MQTT_JWT_TEST_WS_PORT", l.ws_port.to_string()),
        ("MQTT_JWT_TEST_SECRET", HS_SECRET.to_string()),
    ]
}

fn check(what: &str, r: Run, l: &Listeners) {
    assert!(r.success, "{what} failed:\n{}\n--- broker log ---\n{}", r.output, l.broker.log());
    // Shown with --nocapture: the suite's own summary.
    println!("{}", r.output);
}

fn node(l: &Listeners, file: &str) -> Run {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/js/node_modules/mqtt");
    assert!(dir.exists(), "clients/js/node_modules is missing: run ci/setup.sh (npm ci in clients/js)");
    run(
        "node",
        &["--test", "--test-force-exit", "--test-reporter=spec", file],
        "clients/js",
        &env(l),
        Duration::from_secs(120),
    )
}

fn pytest(l: &Listeners, file: &str) -> Run {
    let args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", file];
    run("python3", &args, "clients/python", &env(l), Duration::from_secs(120))
}

#[test]
fn js_helper_refreshes_hears_the_expiry_notice_and_reconnects_with_the_newest_token() {
    let l = broker(json!({}));
    check("node --test clients/js/test/helper.test.mjs", node(&l, "test/helper.test.mjs"), &l);
}

/// Needs options.invalidNotice (the lifecycle work): a refused control-topic refresh is announced
/// on `$CONTROL/jwt-auth/v1/invalid` before the session ends.
#[test]
fn js_helper_hears_the_invalidity_notice() {
    let l = broker(json!({"invalidNotice": {"enabled": true}}));
    check("node --test clients/js/test/invalid.test.mjs", node(&l, "test/invalid.test.mjs"), &l);
}

#[test]
fn python_helper_refreshes_hears_the_expiry_notice_and_reconnects_with_the_newest_token() {
    let l = broker(json!({}));
    check("pytest clients/python/tests/test_helper.py", pytest(&l, "tests/test_helper.py"), &l);
}

/// Needs options.invalidNotice (the lifecycle work), as js_helper_hears_the_invalidity_notice.
#[test]
fn python_helper_hears_the_invalidity_notice() {
    let l = broker(json!({"invalidNotice": {"enabled": true}}));
    check("pytest clients/python/tests/test_invalid.py", pytest(&l, "tests/test_invalid.py"), &l);
}
