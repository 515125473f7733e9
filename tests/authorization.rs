//! Authorization end to end: permissions from token claims and jwt.json rules, answered by the
//! plugin's ACL callback in a real mosquitto; chaining with the dynamic-security plugin.
mod support;

use mqtt_jwt_auth::alg::Alg;
use serde_json::{json, Value};
use std::net::TcpStream;
use std::time::Duration;
use support::broker::{Broker, Options};
use support::mqtt::{self, ConnectV5, Outcome};
use support::tokens::{self, token, HS_SECRET};

const NOT_AUTHORIZED: u8 = 0x87;

fn broker_with(authorization: Value, common: Value, opts: Options) -> Broker {
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": HS_SECRET}, "common": common, "authorization": authorization}});
    Broker::start_with(&cfg.to_string(), opts).unwrap_or_else(|log| panic!("broker did not start:\n{log}"))
}

fn broker(authorization: Value) -> Broker {
    broker_with(authorization, json!({"matchUsernameToSubject": true}), Options::default())
}

fn client(b: &Broker, version: u8, id: &str, claims: Value) -> TcpStream {
    let t = token(Alg::HS256, id, claims);
    let c = ConnectV5 { version, client_id: id, password: Some(t.as_bytes()), ..Default::default() };
    let (s, out) = mqtt::connect_v5(b.port, &c);
    assert_eq!(out, Outcome::Connack(0), "{}", b.log());
    s.unwrap()
}

#[test]
fn claim_lists_grant_publish_and_subscribe_with_v5_reason_codes() {
    let b = broker(json!({}));
    let mut s = client(&b, 5, "dev1", json!({"publ": ["sensors/dev1/#"], "subs": ["cmd/dev1/+"]}));
    assert_eq!(mqtt::publish_qos1(&mut s, true, "sensors/dev1/temp", b"21"), Some(0));
    assert_eq!(mqtt::publish_qos1(&mut s, true, "sensors/dev2/temp", b"21"), Some(NOT_AUTHORIZED));
    assert_eq!(mqtt::subscribe(&mut s, true, "cmd/dev1/+"), 0);
    assert_eq!(mqtt::subscribe(&mut s, true, "cmd/dev1/reboot"), 0, "covered by cmd/dev1/+");
    assert_eq!(mqtt::subscribe(&mut s, true, "cmd/#"), NOT_AUTHORIZED);
    assert_eq!(mqtt::subscribe(&mut s, true, "$share/g/cmd/dev1/x"), 0);
    assert_eq!(mqtt::subscribe(&mut s, true, "#"), NOT_AUTHORIZED);
    assert!(b.wait_log("Denied PUBLISH from dev1", Duration::from_secs(2)), "{}", b.log());
}

#[test]
fn mqtt311_denied_messages_are_not_delivered() {
    let b = broker(json!({}));
    let mut reader = client(&b, 4, "reader", json!({"subs": ["data/#"]}));
    assert_eq!(mqtt::subscribe(&mut reader, false, "data/#"), 0);
    let mut writer = client(&b, 4, "writer", json!({"publ": ["data/allowed"]}));
    mqtt::publish(&mut writer, false, "data/forbidden", b"no").unwrap();
    mqtt::publish(&mut writer, false, "data/allowed", b"yes").unwrap();
    let got = mqtt::next_publish(&mut reader, false, Duration::from_secs(3));
    assert_eq!(got, Some(("data/allowed".to_string(), b"yes".to_vec())), "only the allowed message arrives");
    // 3.1.1 SUBACK failure code.
    assert_eq!(mqtt::subscribe(&mut reader, false, "secret/#"), 0x80);
}

#[test]
fn reads_are_checked_for_routed_messages() {
    // The reader may subscribe to t/# but a deny rule forbids t/secret: it must not receive it.
    let b = broker(json!({"rules": [
        {"permission": "deny", "action": "subscribe", "topic": "t/secret"},
        {"permission": "allow", "action": "all", "topic": "t/#"}
    ]}));
    let mut reader = client(&b, 5, "r", json!({}));
    assert_eq!(mqtt::subscribe(&mut reader, true, "t/#"), 0);
    let mut writer = client(&b, 5, "w", json!({}));
    assert_eq!(mqtt::publish_qos1(&mut writer, true, "t/secret", b"s"), Some(0));
    assert_eq!(mqtt::publish_qos1(&mut writer, true, "t/open", b"o"), Some(0));
    let got = mqtt::next_publish(&mut reader, true, Duration::from_secs(3));
    assert_eq!(got.map(|(t, _)| t), Some("t/open".to_string()));
}

#[test]
fn rule_templates_with_claims_and_no_wildcard_injection() {
    let b = broker_with(
        json!({"claims": {"publish": [], "subscribe": [], "both": []}, "rules": [
            {"permission": "allow", "action": "all", "topic": "tenants/%{tenant}/%{device_type}/%c/#"},
            {"permission": "allow", "action": "subscribe", "topic": "users/%u/#"}
        ]}),
        json!({"matchUsernameToSubject": true, "matchClientIdToSubject": true}),
        Options::default(),
    );
    let mut s = client(&b, 5, "d-17", json!({"tenant": "acme", "device_type": "meter"}));
    assert_eq!(mqtt::publish_qos1(&mut s, true, "tenants/acme/meter/d-17/v", b"1"), Some(0));
    assert_eq!(mqtt::publish_qos1(&mut s, true, "tenants/acme/meter/d-18/v", b"1"), Some(NOT_AUTHORIZED));
    assert_eq!(mqtt::publish_qos1(&mut s, true, "tenants/other/meter/d-17/v", b"1"), Some(NOT_AUTHORIZED));
    assert_eq!(mqtt::subscribe(&mut s, true, "users/d-17/inbox"), 0);
    // A tenant claim holding a wildcard makes the rule match nothing.
    let mut evil = client(&b, 5, "d-19", json!({"tenant": "#", "device_type": "meter"}));
    assert_eq!(mqtt::publish_qos1(&mut evil, true, "tenants/acme/meter/d-19/v", b"1"), Some(NOT_AUTHORIZED));
    // A subject of "#" never gets as far as users/#: it is refused at CONNECT (bad-subject).
    let t = token(Alg::HS256, "#", json!({"tenant": "acme", "device_type": "meter"}));
    let c = ConnectV5 { client_id: "d-20", password: Some(t.as_bytes()), ..Default::default() };
    assert_eq!(mqtt::connect_v5(b.port, &c).1, Outcome::Connack(0x87));
    // The control topic stays writable for in-band refresh.
    let fresh = token(Alg::HS256, "d-17", json!({"tenant": "acme", "device_type": "meter"}));
    assert_eq!(mqtt::publish_qos1(&mut s, true, "$CONTROL/jwt-auth/v1", fresh.as_bytes()), Some(0));
}

#[test]
fn expired_sessions_are_kicked_with_authorization_on() {
    // (That ACL checks deny from exp on, before the kick lands, is a unit test in src/plugin/tests.rs.)
    let b = broker(json!({"rules": [{"permission": "allow", "action": "all", "topic": "#"}]}));
    let t = token(Alg::HS256, "e", json!({"exp": tokens::now() + 1}));
    let c = ConnectV5 { client_id: "e", password: Some(t.as_bytes()), ..Default::default() };
    let mut s = mqtt::connect_v5(b.port, &c).0.expect("accepted");
    assert_eq!(mqtt::publish_qos1(&mut s, true, "x", b"1"), Some(0));
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(4)).is_some(), "not kicked");
}

#[test]
fn dynamic_security_authorizes_by_username_equal_to_subject() {
    let dir = tempfile::tempdir().unwrap();
    let dynsec = json!({
        "clients": [{"username": "sensor-1", "roles": [{"rolename": "sensors"}]}],
        "roles": [{"rolename": "sensors", "acls": [
            {"acltype": "publishClientSend", "topic": "plant/sensor-1/#", "priority": 0, "allow": true},
            {"acltype": "subscribePattern", "topic": "plant/#", "priority": 0, "allow": true}
        ]}],
        "groups": [],
        "defaultACLAccess": {"publishClientSend": false, "publishClientReceive": true, "subscribe": false, "unsubscribe": true}
    });
    let path = dir.path().join("dynamic-security.json");
    std::fs::write(&path, dynsec.to_string()).unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let extra =
        format!("plugin {}\nplugin_opt_config_file {}\n", support::broker::dynsec_plugin().display(), path.display());
    let b = broker_with(
        json!({"defer": true}),
        json!({"matchUsernameToSubject": true}),
        Options { extra_conf: extra, ..Default::default() },
    );
    // Any username is replaced by the subject; dynsec grants by that username.
    let t = token(Alg::HS256, "sensor-1", json!({}));
    let c =
        ConnectV5 { client_id: "s1", username: Some(b"whoever"), password: Some(t.as_bytes()), ..Default::default() };
    let (s, out) = mqtt::connect_v5(b.port, &c);
    assert_eq!(out, Outcome::Connack(0), "{}", b.log());
    let mut s = s.unwrap();
    assert_eq!(mqtt::publish_qos1(&mut s, true, "plant/sensor-1/t", b"1"), Some(0), "{}", b.log());
    assert_eq!(mqtt::publish_qos1(&mut s, true, "plant/sensor-2/t", b"1"), Some(NOT_AUTHORIZED));
    assert_eq!(mqtt::subscribe(&mut s, true, "plant/#"), 0);
    // A token for a subject dynsec does not know gets nothing.
    let t = token(Alg::HS256, "stranger", json!({}));
    let c = ConnectV5 { client_id: "s2", password: Some(t.as_bytes()), ..Default::default() };
    let mut s2 = mqtt::connect_v5(b.port, &c).0.expect("authenticated by the JWT plugin");
    assert_eq!(mqtt::publish_qos1(&mut s2, true, "plant/sensor-1/t", b"1"), Some(NOT_AUTHORIZED));
}
