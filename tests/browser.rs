//! The browser example (examples/browser) end to end: a real OpenID provider with the page's public
//! client (tests/idp), a mosquitto with the plugin and a WebSockets listener, and headless chromium
//! driven by playwright-core (examples/browser/test/e2e.test.mjs). A screenshot is saved to
//! target/browser-e2e/failure.png when it fails.
mod support;

use serde_json::json;
use std::path::Path;
use std::time::Duration;
use support::broker::{free_port, target_dir, Broker, Options};
use support::external::run;
use support::idp::Idp;

/// The page's access tokens live this long: the test waits past the first one's exp.
const TOKEN_TTL: u64 = 8;

#[test]
fn browser_signs_in_renews_in_band_past_exp_and_signs_out() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("examples/browser/node_modules/playwright-core").exists(),
        "examples/browser/node_modules is missing: run ci/setup.sh (npm ci in examples/browser)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    assert!(Path::new(&chromium).exists(), "{chromium} is missing: run ci/setup.sh (apt-get install chromium)");

    let page_port = free_port();
    let idp = Idp::start_for_web(&format!("http://127.0.0.1:{page_port}/"), TOKEN_TTL);
    let jwt = json!({
        "version": 1, "algorithm": "RS256", "mode": "jwks",
        "options": {
            "modes": {"jwks": {"uri": idp.jwks_uri()}},
            "common": {"issuer": idp.issuer, "audiences": ["urn:mqtt:web", "urn:mqtt"], "matchUsernameToSubject": true},
            "expiryNotice": {"secondsBefore": 3}
        }
    });
    let ws_port = free_port();
    // See tests/clients.rs: 2.0.11 needs an MQTT listener besides, and socket_domain to bind loopback only.
    let extra_conf = format!("listener {ws_port} 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\n");
    let broker = Broker::start_with(&jwt.to_string(), Options { extra_conf, ..Default::default() })
        .unwrap_or_else(|log| panic!("mosquitto did not start:\n{log}"));

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
    assert!(r.success, "browser test failed:\n{}\n--- broker log ---\n{}", r.output, broker.log());
    println!("{}", r.output);
}
