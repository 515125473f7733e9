//! Who may use a client id, and what a `%c` or a username may be trusted with, in a real mosquitto:
//! one token holder must not take over, or read the topics of, another device's client id; the token
//! must never become the username mosquitto logs.
mod support;

use mqtt_jwt_auth::alg::Alg;
use serde_json::{json, Value};
use std::net::TcpStream;
use std::time::Duration;
use support::broker::{Broker, Options};
use support::mqtt::{self, ConnectV5, Outcome};
use support::tokens::{token, HS_SECRET};

const NOT_AUTHORIZED: u8 = 0x87;

fn config(common: Value, authorization: Value) -> String {
    let mut cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": HS_SECRET}, "common": common}});
    if !authorization.is_null() {
        cfg["options"]["authorization"] = authorization;
    }
    cfg.to_string()
}

fn allow_all() -> Value {
    json!({"rules": [{"permission": "allow", "action": "all", "topic": "#"}]})
}

fn connect(b: &Broker, id: &str, sub: &str) -> (Option<TcpStream>, Outcome) {
    let t = token(Alg::HS256, sub, json!({}));
    mqtt::connect_v5(b.port, &ConnectV5 { client_id: id, password: Some(t.as_bytes()), ..Default::default() })
}

fn connected(b: &Broker, id: &str, sub: &str) -> TcpStream {
    let (s, out) = connect(b, id, sub);
    assert_eq!(out, Outcome::Connack(0), "{id} as {sub}: {}", b.log());
    s.unwrap()
}

/// The holder of the client id still receives what is published to it.
fn still_receives(b: &Broker, holder: &mut TcpStream, topic: &str) {
    let mut ops = connected(b, "ops-console", "ops");
    assert_eq!(mqtt::publish_qos1(&mut ops, true, topic, b"open-valve"), Some(0), "{}", b.log());
    let got = mqtt::next_publish(holder, true, Duration::from_secs(3));
    assert_eq!(got.map(|(t, _)| t), Some(topic.to_string()), "the holder lost its connection:\n{}", b.log());
}

/// Without a client id binding, a token of another subject asks for a connected device's id.
#[test]
fn another_identity_cannot_take_over_a_connected_client_id() {
    let b = Broker::start(&config(json!({"matchUsernameToSubject": true}), allow_all()));
    let mut meter7 = connected(&b, "meter-7", "meter-7");
    assert_eq!(mqtt::subscribe(&mut meter7, true, "acme/meter-7/cmd/#"), 0);
    assert_eq!(connect(&b, "meter-7", "meter-8").1, Outcome::Connack(NOT_AUTHORIZED));
    assert!(
        b.wait_log("refused client meter-7 from 127.0.0.1: client-id-in-use", Duration::from_secs(3)),
        "{}",
        b.log()
    );
    still_receives(&b, &mut meter7, "acme/meter-7/cmd/open");
    // The same identity reconnecting takes its id over, as MQTT does.
    let _again = connected(&b, "meter-7", "meter-7");
    assert!(mqtt::wait_closed(&mut meter7, Duration::from_secs(3)).is_some(), "old connection kept:\n{}", b.log());
}

/// Same subject, other issuer: another identity (multi-tenant deployments share subject names).
#[test]
fn the_issuer_is_part_of_the_identity() {
    let b = Broker::start(&config(json!({"matchUsernameToSubject": true}), allow_all()));
    let t = |iss: &str| token(Alg::HS256, "dev-1", json!({"iss": iss}));
    let (a, b_tok) = (t("https://tenant-a"), t("https://tenant-b"));
    let c = |t: &str| {
        mqtt::connect_v5(b.port, &ConnectV5 { client_id: "dev-1", password: Some(t.as_bytes()), ..Default::default() })
    };
    let (s, out) = c(&a);
    assert_eq!(out, Outcome::Connack(0), "{}", b.log());
    let mut s = s.unwrap();
    assert_eq!(c(&b_tok).1, Outcome::Connack(NOT_AUTHORIZED));
    assert!(mqtt::ping(&mut s));
}

#[test]
fn allow_keeps_mqtt_takeover_for_anyone() {
    let common = json!({"matchUsernameToSubject": true, "clientIdTakeover": "allow"});
    let b = Broker::start(&config(common, allow_all()));
    let mut meter7 = connected(&b, "meter-7", "meter-7");
    let _impostor = connected(&b, "meter-7", "meter-8");
    assert!(mqtt::wait_closed(&mut meter7, Duration::from_secs(3)).is_some(), "{}", b.log());
}

/// `%c` is whatever the client sends: a rule that trusts it needs the id bound to the token.
#[test]
fn a_rule_with_the_client_id_needs_a_client_id_binding() {
    let rules = json!({"rules": [{"permission": "allow", "action": "all", "topic": "devices/%c/#"}]});
    let log = Broker::start_with(&config(json!({}), rules.clone()), Options::default())
        .err()
        .expect("the broker started with an unbound %c");
    for words in ["options.authorization.rules[0].topic", "matchClientIdToSubject", "trustClientId"] {
        assert!(log.contains(words), "{words:?} not in:\n{log}");
    }
    // Bound: the device gets its own tree only.
    let b = Broker::start(&config(json!({"matchClientIdToSubject": true}), rules.clone()));
    let mut s = connected(&b, "meter-7", "meter-7");
    assert_eq!(mqtt::publish_qos1(&mut s, true, "devices/meter-7/x", b"1"), Some(0));
    assert_eq!(connect(&b, "meter-9", "meter-7").1, Outcome::Connack(NOT_AUTHORIZED), "client-id-mismatch");
    // Trusted on purpose: loads.
    let mut trusted = rules;
    trusted["trustClientId"] = json!(true);
    drop(Broker::start(&config(json!({}), trusted)));
}

/// An `acl` claim is written by the token issuer for the client it was issued to; without a binding
/// its `%c` would be any device's id.
#[test]
fn an_acl_claim_with_the_client_id_grants_nothing_without_a_binding() {
    let b = Broker::start(&config(json!({}), json!({})));
    let t = token(Alg::HS256, "meter-8", json!({"acl": {"pub": ["up/%c"]}}));
    let c = ConnectV5 { client_id: "meter-7", password: Some(t.as_bytes()), ..Default::default() };
    let (s, out) = mqtt::connect_v5(b.port, &c);
    assert_eq!(out, Outcome::Connack(0), "{}", b.log());
    assert_eq!(mqtt::publish_qos1(&mut s.unwrap(), true, "up/meter-7", b"1"), Some(NOT_AUTHORIZED));
    assert!(b.wait_log("client id is not bound to the token", Duration::from_secs(3)), "{}", b.log());
    // Bound to the subject, the same claim works for the device it names.
    let bound = Broker::start(&config(json!({"matchClientIdToSubject": true}), json!({})));
    let c = ConnectV5 { client_id: "meter-8", password: Some(t.as_bytes()), ..Default::default() };
    let (s, out) = mqtt::connect_v5(bound.port, &c);
    assert_eq!(out, Outcome::Connack(0), "{}", bound.log());
    assert_eq!(mqtt::publish_qos1(&mut s.unwrap(), true, "up/meter-8", b"1"), Some(0));
}

/// mosquitto logs and keeps the username: with the token in it, only a binding that replaces it
/// keeps the token out of the log.
#[test]
fn a_token_in_the_username_needs_a_username_binding() {
    let log = Broker::start_with(&config(json!({"tokenSource": "username"}), Value::Null), Options::default())
        .err()
        .expect("the broker started with the token as the username");
    for words in ["options.common.tokenSource", "matchUsernameToSubject", "matchUsernameToClaim", "log"] {
        assert!(log.contains(words), "{words:?} not in:\n{log}");
    }
    let b = Broker::start(&config(json!({"tokenSource": "username", "matchUsernameToSubject": true}), Value::Null));
    let t = token(Alg::HS256, "dev-9", json!({}));
    let c = ConnectV5 { client_id: "u1", username: Some(t.as_bytes()), ..Default::default() };
    assert_eq!(mqtt::connect_v5(b.port, &c).1, Outcome::Connack(0), "{}", b.log());
    assert!(b.wait_log("u'dev-9'", Duration::from_secs(3)), "{}", b.log());
    assert!(!b.log().contains(&t[..40]), "the token reached the log");
}
