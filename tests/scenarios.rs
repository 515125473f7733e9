//! The deployments this plugin must serve, end to end, each from its example in
//! mosquitto-conf/scenarios/ (only the identity provider's URL is replaced by the test's own).
mod support;

use serde_json::Value;
use std::time::Duration;
use support::broker::Broker;
use support::idp::{Idp, CLIENT_ID};
use support::mqtt::{self, ConnectV5, Outcome};

fn example(name: &str, idp: &Idp) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mosquitto-conf/scenarios").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(mqtt_jwt_auth::config::Config::parse(&text).is_ok(), "{} does not load", path.display());
    v.to_string().replace("https://idp.example.com", &idp.issuer)
}

/// Scenario 2: OAuth2 client credentials. The device gets a short-lived token from the authorization
/// server and connects with it in the username field (empty password); the token must carry the
/// scope `mqtt.connect`; the client id is bound to the token's `client_id` claim.
#[test]
fn scenario_2_client_credentials_token_in_the_username() {
    let idp = Idp::start();
    let b = Broker::start(&example("client-credentials.json", &idp));
    let connect = |client_id: &str, token: &str| {
        let c = ConnectV5 { version: 4, client_id, username: Some(token.as_bytes()), ..Default::default() };
        mqtt::connect_v5(b.port, &c).1
    };
    let good = idp.token_with_scope("urn:mqtt", "mqtt.connect");
    assert_eq!(connect(CLIENT_ID, &good), Outcome::Connack(0), "{}", b.log());
    assert!(
        b.wait_log(&format!("as {CLIENT_ID} (p2, c1, k30, u'{CLIENT_ID}')"), Duration::from_secs(3)),
        "{}",
        b.log()
    );
    let no_scope = idp.token_with_scope("urn:mqtt", "mqtt");
    assert_eq!(connect(CLIENT_ID, &no_scope), Outcome::Connack(5));
    assert!(b.wait_log("missing-scope (scope mqtt.connect not granted)", Duration::from_secs(3)), "{}", b.log());
    assert_eq!(connect("someone-else", &good), Outcome::Connack(5));
    assert!(b.wait_log("refused client someone-else from 127.0.0.1: client-id-mismatch", Duration::from_secs(3)));
    let wrong_audience = idp.token_with_scope("urn:other", "mqtt.connect");
    assert_eq!(connect(CLIENT_ID, &wrong_audience), Outcome::Connack(5));
}

/// Scenario 2, the token in the password instead.
#[test]
fn scenario_2_client_credentials_token_in_the_password() {
    let idp = Idp::start();
    let cfg = example("client-credentials.json", &idp)
        .replace("\"tokenSource\":\"username\"", "\"tokenSource\":\"password\"");
    let b = Broker::start(&cfg);
    let good = idp.token_with_scope("urn:mqtt", "mqtt.connect");
    assert_eq!(mqtt::connect_with_password(b.port, CLIENT_ID, Some("any"), &good), Outcome::Connack(0), "{}", b.log());
}

/// Scenario 4: identity-provider profile topics. The token carries the device profile as a `topics`
/// array; publish and subscribe are allowed exactly on those topics.
#[test]
fn scenario_4_profile_topics_from_the_identity_provider() {
    let idp = Idp::start();
    let b = Broker::start(&example("profile-topics.json", &idp));
    let t = idp.token("urn:mqtt:profile");
    let c = ConnectV5 { client_id: CLIENT_ID, password: Some(t.as_bytes()), ..Default::default() };
    let (s, out) = mqtt::connect_v5(b.port, &c);
    assert_eq!(out, Outcome::Connack(0), "{}", b.log());
    let mut s = s.unwrap();
    let own = format!("devices/{CLIENT_ID}");
    assert_eq!(mqtt::publish_qos1(&mut s, true, &format!("{own}/telemetry"), b"1"), Some(0));
    assert_eq!(mqtt::publish_qos1(&mut s, true, &format!("{own}/other"), b"1"), Some(0x87));
    assert_eq!(mqtt::publish_qos1(&mut s, true, "devices/device-2/telemetry", b"1"), Some(0x87));
    assert_eq!(mqtt::subscribe(&mut s, true, &format!("{own}/commands/#")), 0);
    assert_eq!(mqtt::subscribe(&mut s, true, &format!("{own}/commands/reboot")), 0);
    assert_eq!(mqtt::subscribe(&mut s, true, "devices/#"), 0x87);
    // A token without a profile grants nothing.
    let bare = idp.token("urn:mqtt");
    let c = ConnectV5 { client_id: CLIENT_ID, password: Some(bare.as_bytes()), ..Default::default() };
    assert_eq!(mqtt::connect_v5(b.port, &c).1, Outcome::Connack(0x87), "wrong audience");
}
