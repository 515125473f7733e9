//! Back-channel logout from a real OpenID provider (oidc-provider, tests/idp): a user signs in over
//! HTTP (the provider's development login, authorization code + PKCE), a device connects with the
//! access token; ending the provider session at its end-session endpoint makes the provider POST a
//! logout token to `mqtt-jwt logout-relay`, which publishes it to the broker: the device's MQTT
//! session ends within a second, and its old token is refused afterwards.
mod support;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::broker::{free_port, Broker};
use support::idp::Idp;
use support::mqtt::{self, ConnectV5, Outcome};
use support::relay::Relay;

#[test]
fn ending_the_provider_session_ends_the_devices_mqtt_session_within_a_second() {
    let relay_port = free_port();
    let redirect = "http://127.0.0.1:9/callback";
    let idp = Idp::start_with_backchannel(redirect, 300, &format!("http://127.0.0.1:{relay_port}/backchannel-logout"));
    let jwt = json!({"version": 1, "algorithm": "RS256", "mode": "jwks", "options": {
        "modes": {"jwks": {"uri": idp.jwks_uri()}},
        "common": {"issuer": idp.issuer, "audiences": ["urn:mqtt:web"]},
        "invalidNotice": {},
        "logout": {"audience": "mqtt-web"}}});
    let broker = Broker::start(&jwt.to_string());

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut flow = Command::new("node")
        .arg(root.join("tests/idp/logout-flow.mjs"))
        .env("ISSUER", &idp.issuer)
        .env("REDIRECT", redirect)
        .env("RESOURCE", "urn:mqtt:web")
        .env("LOGIN", "alice")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node");
    let mut lines = BufReader::new(flow.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().expect("sign-in output").unwrap()).unwrap();
    let access = first["access_token"].as_str().expect("an access token").to_string();

    // The relay with its own token (any identity the broker accepts; here the same user's, which
    // the logout also ends: the relay reconnects with a re-read token file, tested elsewhere).
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("relay.jwt");
    std::fs::write(&token_file, idp.token("urn:mqtt:web")).unwrap();
    let relay = Relay::start_on(relay_port, &[broker.port], &["--token-file", token_file.to_str().unwrap()]);

    let c = ConnectV5 { client_id: "alices-device", password: Some(access.as_bytes()), ..Default::default() };
    let (device, out) = mqtt::connect_v5(broker.port, &c);
    assert_eq!(out, Outcome::Connack(0), "{}", broker.log());
    let mut device = device.unwrap();

    let started = Instant::now();
    writeln!(flow.stdin.as_mut().unwrap(), "logout").unwrap();
    let second: Value = serde_json::from_str(&lines.next().expect("sign-out output").unwrap()).unwrap();
    assert!(matches!(second["status"].as_u64(), Some(200 | 302 | 303)), "{second}");
    let closed = mqtt::wait_closed(&mut device, Duration::from_secs(3));
    let took = started.elapsed();
    let _ = flow.wait();
    if closed.is_none() {
        // Long enough for the relay's own verdict (a publish timeout) to be in its log below.
        std::thread::sleep(Duration::from_secs(6));
    }
    assert!(closed.is_some(), "device still connected\n{}\n--- relay ---\n{}", broker.log(), relay.log());
    assert!(took <= Duration::from_secs(1), "the device's session ended {took:?} after the sign-out");
    assert!(
        relay.wait_log(|l| l.contains("200 published to 1/1 broker(s)"), Duration::from_secs(3)),
        "{}",
        relay.log()
    );
    assert!(broker.wait_log("back-channel logout of sub alice sid ", Duration::from_secs(3)), "{}", broker.log());
    // Its token is from before the logout: refused from now on.
    assert_eq!(mqtt::connect_v5(broker.port, &c).1, Outcome::Connack(0x87));
}
