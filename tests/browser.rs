//! The browser example (examples/browser) end to end: a real OpenID provider with the page's public
//! client (tests/idp) and back-channel logout to `mqtt-jwt logout-relay`, a mosquitto with the
//! plugin (`options.logout`) and a WebSockets listener, and headless chromium driven by
//! playwright-core (examples/browser/test/e2e.test.mjs). Sign-out ends the MQTT session through
//! back-channel logout. A screenshot is saved to target/browser-e2e/failure.png when it fails.
mod support;

use serde_json::json;
use std::path::Path;
use std::time::Duration;
use support::broker::{free_port, target_dir, Broker, Options};
use support::external::run;
use support::idp::Idp;
use support::relay::Relay;

/// The page's access tokens live this long: the test waits past the first one's exp.
const TOKEN_TTL: u64 = 8;

#[test]
fn browser_signs_in_renews_in_band_past_exp_and_signs_out_through_back_channel_logout() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("examples/browser/node_modules/playwright-core").exists(),
        "examples/browser/node_modules is missing: run ci/setup.sh (npm ci in examples/browser)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    assert!(Path::new(&chromium).exists(), "{chromium} is missing: run ci/setup.sh (apt-get install chromium)");

    let page_port = free_port();
    let relay_port = free_port();
    let logout_uri = format!("http://127.0.0.1:{relay_port}/backchannel-logout");
    let idp = Idp::start_with_backchannel(&format!("http://127.0.0.1:{page_port}/"), TOKEN_TTL, &logout_uri);
    // The expiry notice comes 6 s before exp, the page renews 4 s before (RENEW_BEFORE): each token's
    // notice reaches the page before its renewal. Logout tokens are addressed to the page's client.
    let jwt = json!({
        "version": 1, "algorithm": "RS256", "mode": "jwks",
        "options": {
            "modes": {"jwks": {"uri": idp.jwks_uri()}},
            "common": {"issuer": idp.issuer, "audiences": ["urn:mqtt:web", "urn:mqtt"], "matchUsernameToSubject": true},
            "expiryNotice": {"secondsBefore": 6},
            "invalidNotice": {},
            "logout": {"audience": "mqtt-web"}
        }
    });
    let ws_port = free_port();
    // See tests/clients.rs: 2.0.11 needs an MQTT listener besides, and socket_domain to bind loopback only.
    let extra_conf = format!("listener {ws_port} 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\n");
    let broker = Broker::start_with(&jwt.to_string(), Options { extra_conf, ..Default::default() })
        .unwrap_or_else(|log| panic!("mosquitto did not start:\n{log}"));
    // The relay on the port the provider was told about, with a device token of its own.
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("relay.jwt");
    std::fs::write(&token_file, idp.token("urn:mqtt")).unwrap();
    let relay = Relay::start_on(relay_port, &[broker.port], &["--token-file", token_file.to_str().unwrap()]);

    let out = target_dir().join("browser-e2e");
    let profile = out.join("profile");
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile).unwrap();
    let screenshot = out.join("failure.png");
    let _ = std::fs::remove_file(&screenshot);
    let env = [
        ("PORT", page_port.to_string()),
        ("ISSUER", idp.issuer.clone()),
        ("MQTT_URL", format!("ws://127.0.0.1:{ws_port}")),
        ("DEVICE_URL", format!("mqtt://127.0.0.1:{}", broker.port)),
        ("DEVICE_TOKEN", idp.token("urn:mqtt")),
        ("TOKEN_TTL", TOKEN_TTL.to_string()),
        ("SCREENSHOT", screenshot.display().to_string()),
        ("PROFILE_DIR", profile.display().to_string()),
        ("CHROMIUM", chromium),
    ];
    let args = ["--test", "--test-force-exit", "--test-reporter=spec", "test/e2e.test.mjs"];
    let r = run("node", &args, "examples/browser", &env, Duration::from_secs(150));
    let _ = std::fs::remove_dir_all(&profile);
    let logs = || format!("--- broker log ---\n{}\n--- relay log ---\n{}", broker.log(), relay.log());
    assert!(r.success, "browser test failed:\n{}\n{}", r.output, logs());
    println!("{}", r.output);
    // The page's session ended by the provider's logout token (naming the provider session's sid),
    // and the relay got the broker's answer before it answered the provider. The log is read by a
    // thread: wait for the lines rather than sample it once.
    let seen = |needle: &str| broker.wait_log(needle, Duration::from_secs(3));
    assert!(seen("back-channel logout of sub alice sid "), "{}", logs());
    assert!(seen(": 1 session(s) ending"), "{}", logs());
    assert!(seen(": logged out by the identity provider"), "{}", logs());
    assert!(broker.log().contains("disconnecting client web-alice-"), "{}", logs());
    let published = relay.wait_log(|l| l.contains("200 published to 1/1 broker(s)"), Duration::from_secs(3));
    assert!(published, "{}", logs());
    // The remembered logout refused the old token (the page's test tried it after the kick).
    assert!(seen("refused client web-alice-retry from 127.0.0.1: logged-out"), "{}", logs());
}
