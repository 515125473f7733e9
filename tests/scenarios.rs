//! The deployments this plugin must serve, end to end, each from its example in
//! mosquitto-conf/scenarios/ (only the identity provider's URL is replaced by the test's own).
mod support;

use serde_json::Value;
use std::time::Duration;
use support::authserver::AuthServer;
use support::broker::{Broker, Options};
use support::idp::{Idp, CLIENT_ID};
use support::mqtt::{self, ConnectV5, Outcome};

fn scenario_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mosquitto-conf/scenarios").join(name)
}

fn example(name: &str, idp: &Idp) -> String {
    example_at(name, &idp.issuer)
}

/// The example, compacted, with the identity provider's URL replaced by `issuer`.
fn example_at(name: &str, issuer: &str) -> String {
    let path = scenario_path(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(mqtt_jwt_auth::config::Config::parse(&text).is_ok(), "{} does not load", path.display());
    v.to_string().replace("https://idp.example.com", issuer)
}

fn now_f() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
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
    assert!(b.wait_connected(CLIENT_ID, &format!("c1, k30, u'{CLIENT_ID}')"), Duration::from_secs(3)), "{}", b.log());
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

fn introspection_secret() {
    // The examples read the introspection client secret from the environment, as operators should.
    std::env::set_var("MQTT_JWT_INTROSPECTION_SECRET", support::authserver::CLIENT_SECRET);
}

fn connect_v5_token(b: &Broker, id: &str, token: &str) -> std::net::TcpStream {
    let c = ConnectV5 {
        client_id: id,
        username: Some(b"anything"),
        password: Some(token.as_bytes()),
        ..Default::default()
    };
    let (s, out) = mqtt::connect_v5(b.port, &c);
    assert_eq!(out, Outcome::Connack(0), "{id}: {}", b.log());
    s.unwrap()
}

/// Scenario 1: an IoT device-management platform in front of a third-party broker. Devices hold tokens
/// of the platform's identity server, which the broker checks by introspection; each device may only
/// use `<tenant>/<deviceType>/<deviceId>/#`, tenant and device type from its token, device id = client id
/// = the token's subject.
#[test]
fn scenario_1_device_platform_with_introspection_and_own_topic_tree() {
    introspection_secret();
    let a = AuthServer::start();
    let b = Broker::start(&example_at("device-platform.json", &a.issuer));
    let claims = serde_json::json!({"tenant": "acme", "deviceType": "meter"});
    let t = a.token_with("meter-7", &claims, 3600);
    let mut s = connect_v5_token(&b, "meter-7", &t);
    assert_eq!(mqtt::publish_qos1(&mut s, true, "acme/meter/meter-7/energy", b"1"), Some(0), "{}", b.log());
    assert_eq!(mqtt::publish_qos1(&mut s, true, "acme/meter/meter-8/energy", b"1"), Some(0x87));
    assert_eq!(mqtt::publish_qos1(&mut s, true, "other/meter/meter-7/energy", b"1"), Some(0x87));
    assert_eq!(mqtt::subscribe(&mut s, true, "acme/meter/meter-7/cmd/#"), 0);
    assert_eq!(mqtt::subscribe(&mut s, true, "acme/#"), 0x87);
    // Another device's token cannot pose as meter-7 (which would drop the real meter-7 and read and
    // write its tree), nor this token as another device: the client id is bound to the subject.
    let t8 = a.token_with("meter-8", &claims, 3600);
    let as_meter_7 = ConnectV5 { client_id: "meter-7", password: Some(t8.as_bytes()), ..Default::default() };
    assert_eq!(mqtt::connect_v5(b.port, &as_meter_7).1, Outcome::Connack(0x87));
    let as_meter_9 = ConnectV5 { client_id: "meter-9", password: Some(t.as_bytes()), ..Default::default() };
    assert_eq!(mqtt::connect_v5(b.port, &as_meter_9).1, Outcome::Connack(0x87));
    // The real meter-7 stays connected and keeps receiving its commands.
    // (QoS 0: a QoS 1 helper would swallow the delivery while it waits for its PUBACK.)
    mqtt::publish(&mut s, true, "acme/meter/meter-7/cmd/open-valve", b"1").unwrap();
    let got = mqtt::next_publish(&mut s, true, Duration::from_secs(3));
    assert_eq!(got.map(|(t, _)| t).as_deref(), Some("acme/meter/meter-7/cmd/open-valve"), "{}", b.log());
    // The platform revokes the device: disconnected within the re-check interval.
    a.revoke(&t);
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(5)).is_some(), "{}", b.log());
    assert_eq!(
        mqtt::connect_v5(
            b.port,
            &ConnectV5 { client_id: "meter-7", password: Some(t.as_bytes()), ..Default::default() }
        )
        .1,
        Outcome::Connack(0x87)
    );
}

/// Scenario 3: the Pro plugin's documented configuration, unchanged but for its URLs: RS256 keys from
/// the provider's JWKS, cache, introspection, username := subject, expired clients kicked with their
/// will; the dynamic-security plugin grants topics by role to that username.
#[test]
fn scenario_3_pro_plugin_configuration_with_dynamic_security() {
    let a = AuthServer::start_signing("RS256", "rsa.key");
    let cfg = std::fs::read_to_string(scenario_path("pro-plugin.json"))
        .unwrap()
        .replace("http://127.0.0.1:1/certs", &format!("{}/jwks", a.issuer))
        .replace("http://127.0.0.1:1/introspect", &a.introspection_uri())
        .replace("\"client-id\"", &format!("\"{}\"", support::authserver::CLIENT_ID))
        .replace("\"secret\"", &format!("\"{}\"", support::authserver::CLIENT_SECRET));
    let dynsec_dir = tempfile::tempdir().unwrap();
    let dynsec = dynsec_dir.path().join("dynamic-security.json");
    std::fs::copy(scenario_path("pro-plugin-dynamic-security.json"), &dynsec).unwrap();
    std::fs::set_permissions(dynsec_dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let extra =
        format!("plugin {}\nplugin_opt_config_file {}\n", support::broker::dynsec_plugin().display(), dynsec.display());
    let b = Broker::start_with(&cfg, Options { extra_conf: extra, ..Default::default() })
        .unwrap_or_else(|log| panic!("did not start:\n{log}"));
    // A dashboard watching wills and plant data.
    let dash = a.token("dashboard");
    let mut d = connect_v5_token(&b, "dash", &dash);
    assert_eq!(mqtt::subscribe(&mut d, true, "wills/#"), 0, "{}", b.log());
    // The sensor: any username, the token as password, a session expiry interval longer than its token.
    let t = a.token_with("sensor-1", &serde_json::json!({}), 3);
    let exp = now_f() + 3.0;
    let c = ConnectV5 {
        client_id: "sensor-1-conn",
        username: Some(b"whatever"),
        password: Some(t.as_bytes()),
        will: Some(("wills/sensor-1", b"offline")),
        session_expiry: Some(3600),
        ..Default::default()
    };
    let (s, out) = mqtt::connect_v5(b.port, &c);
    assert_eq!(out, Outcome::Connack(0), "{}", b.log());
    let mut s = s.unwrap();
    assert!(b.wait_log("as sensor-1-conn (p5, c1, k30, u'sensor-1')", Duration::from_secs(3)), "{}", b.log());
    assert_eq!(mqtt::publish_qos1(&mut s, true, "plant/sensor-1/temp", b"20"), Some(0), "{}", b.log());
    assert_eq!(mqtt::publish_qos1(&mut s, true, "plant/sensor-2/temp", b"20"), Some(0x87));
    // Kicked at exp, with its will.
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(6)).is_some(), "not kicked:\n{}", b.log());
    assert!(now_f() - exp < 1.5, "kicked {:.2}s after exp", now_f() - exp);
    let will = mqtt::next_publish(&mut d, true, Duration::from_secs(3));
    assert_eq!(will, Some(("wills/sensor-1".to_string(), b"offline".to_vec())), "{}", b.log());
}

/// Scenario 5: a token service. An application server obtains, for a client, a token listing resources
/// with a permission each; the client reuses it across reconnects; revoking it disconnects the client;
/// shortly before it expires the client is told so and uploads a new token in-band, staying connected.
#[test]
fn scenario_5_token_service_with_per_resource_permissions() {
    introspection_secret();
    let a = AuthServer::start();
    let b = Broker::start(&example_at("token-service.json", &a.issuer));
    let resources = serde_json::json!({"resources": [
        {"topic": "sites/1/telemetry/#", "permission": "read"},
        {"topic": "sites/1/commands", "permission": "write"},
        {"topic": "sites/1/chat", "permission": "read-write"}
    ]});
    let t = a.token_with("app-client-1", &resources, 3600);
    // Persisted and reused: connect, leave, come back with the same token.
    for round in 0..2 {
        let mut s = connect_v5_token(&b, "app-client-1", &t);
        assert_eq!(mqtt::subscribe(&mut s, true, "sites/1/telemetry/#"), 0, "round {round}");
        assert_eq!(mqtt::subscribe(&mut s, true, "sites/1/commands"), 0x87);
        assert_eq!(mqtt::publish_qos1(&mut s, true, "sites/1/commands", b"go"), Some(0));
        assert_eq!(mqtt::publish_qos1(&mut s, true, "sites/1/chat", b"hi"), Some(0));
        assert_eq!(mqtt::publish_qos1(&mut s, true, "sites/1/telemetry/x", b"1"), Some(0x87));
        mqtt::disconnect(s);
    }
    // Revoked: disconnected.
    let mut s = connect_v5_token(&b, "app-client-1", &t);
    a.revoke(&t);
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(5)).is_some(), "{}", b.log());

    // Short-lived token: notice before exp, new token over the control topic, still connected after.
    let short = a.token_with("app-client-1", &resources, 5);
    let exp = now_f() + 5.0;
    let c = ConnectV5 { version: 4, client_id: "app-client-1", password: Some(short.as_bytes()), ..Default::default() };
    let (s, out) = mqtt::connect_v5(b.port, &c);
    assert_eq!(out, Outcome::Connack(0), "{}", b.log());
    let mut s = s.unwrap();
    let (topic, _) = mqtt::next_publish(&mut s, false, Duration::from_secs(5)).expect("no expiry notice");
    assert_eq!(topic, "$CONTROL/jwt-auth/v1/expiring");
    let fresh = a.token_with("app-client-1", &resources, 3600);
    mqtt::publish(&mut s, false, "$CONTROL/jwt-auth/v1", fresh.as_bytes()).unwrap();
    let (topic, answer) = mqtt::next_publish(&mut s, false, Duration::from_secs(3)).expect("no refresh answer");
    assert_eq!(topic, "$CONTROL/jwt-auth/v1/response");
    assert!(String::from_utf8_lossy(&answer).contains("\"ok\""), "{}", String::from_utf8_lossy(&answer));
    std::thread::sleep(Duration::from_secs_f64((exp - now_f() + 1.5).max(0.0)));
    assert!(mqtt::ping(&mut s), "kicked although refreshed:\n{}", b.log());
}

/// Scenario 4, credentials variant: the device sends a username/password; the plugin exchanges them at
/// the identity provider (client_credentials) for a token, and the same profile rules apply.
#[test]
fn scenario_4_profile_topics_through_credentials_exchange() {
    let idp = Idp::start();
    let b = Broker::start(&example("profile-topics-exchange.json", &idp));
    let c = ConnectV5 {
        client_id: CLIENT_ID,
        username: Some(CLIENT_ID.as_bytes()),
        password: Some(support::idp::CLIENT_SECRET.as_bytes()),
        ..Default::default()
    };
    let (s, out) = mqtt::connect_v5(b.port, &c);
    assert_eq!(out, Outcome::Connack(0), "{}", b.log());
    let mut s = s.unwrap();
    assert_eq!(mqtt::publish_qos1(&mut s, true, &format!("devices/{CLIENT_ID}/telemetry"), b"1"), Some(0));
    assert_eq!(mqtt::publish_qos1(&mut s, true, "devices/device-2/telemetry", b"1"), Some(0x87));
    assert_eq!(mqtt::subscribe(&mut s, true, "devices/#"), 0x87);
    let wrong = ConnectV5 {
        client_id: CLIENT_ID,
        username: Some(CLIENT_ID.as_bytes()),
        password: Some(b"wrong"),
        ..Default::default()
    };
    assert_eq!(mqtt::connect_v5(b.port, &wrong).1, Outcome::Connack(0x87));
    assert!(!b.log().contains(support::idp::CLIENT_SECRET), "a secret reached the log");
}
