//! Sessions end to end: expiry kicks (with and without will), MQTT v5 re-authentication, refresh
//! over the control topic, expiry notices, reload, and the live-session count.
mod support;

use mqtt_jwt_auth::alg::Alg;
use serde_json::{json, Value};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::broker::Broker;
use support::mqtt::{self, ConnectV5, Outcome};
use support::tokens::{self, token, HS_SECRET};

const CONTROL: &str = "$CONTROL/jwt-auth/v1";
const RESPONSE: &str = "$CONTROL/jwt-auth/v1/response";

fn broker(extra_options: Value) -> Broker {
    Broker::start(&tokens::hs256_config(&extra_options))
}

/// A token for `sub` expiring `secs` from now (whole seconds, as exp is).
fn expiring(sub: &str, secs: i64) -> (String, i64) {
    let exp = tokens::now() + secs;
    (token(Alg::HS256, sub, json!({"exp": exp})), exp)
}

fn now_f() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

fn connect(b: &Broker, c: &ConnectV5) -> TcpStream {
    let (s, out) = mqtt::connect_v5(b.port, c);
    assert_eq!(out, Outcome::Connack(0), "{}", b.log());
    s.unwrap()
}

/// A long-lived client subscribed to `filter`.
fn observer(b: &Broker, filter: &str) -> TcpStream {
    let t = token(Alg::HS256, "observer", json!({}));
    let mut s = connect(b, &ConnectV5 { client_id: "observer", password: Some(t.as_bytes()), ..Default::default() });
    assert_eq!(mqtt::subscribe(&mut s, true, filter), 0);
    s
}

#[test]
fn expired_clients_are_kicked_within_a_second_with_their_will() {
    let b = broker(json!({"common": {"kickExpiredClientsWithWill": true}}));
    let mut obs = observer(&b, "wills/#");
    let (t, exp) = expiring("dev-1", 2);
    let c = ConnectV5 {
        client_id: "dev-1",
        password: Some(t.as_bytes()),
        will: Some(("wills/dev-1", b"gone")),
        ..Default::default()
    };
    let mut s = connect(&b, &c);
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(5)).is_some(), "not kicked:\n{}", b.log());
    let late = now_f() - exp as f64;
    assert!((-0.05..1.0).contains(&late), "kicked {late:.3}s after exp");
    let will = mqtt::next_publish(&mut obs, true, Duration::from_secs(3));
    assert_eq!(will, Some(("wills/dev-1".to_string(), b"gone".to_vec())));
    assert!(b.wait_log("disconnecting client dev-1: token expired", Duration::from_secs(2)));
}

#[test]
fn without_will_when_configured_so() {
    let b = broker(json!({"common": {"kickExpiredClientsWithWill": false}}));
    let mut obs = observer(&b, "wills/#");
    let (t, _) = expiring("dev-2", 1);
    let c = ConnectV5 {
        client_id: "dev-2",
        password: Some(t.as_bytes()),
        will: Some(("wills/dev-2", b"gone")),
        ..Default::default()
    };
    let mut s = connect(&b, &c);
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(4)).is_some());
    assert_eq!(mqtt::next_publish(&mut obs, true, Duration::from_millis(1500)), None, "will was published");
}

#[test]
fn v5_reauthentication_extends_the_session() {
    let b = broker(json!({}));
    let (t1, exp1) = expiring("car-7", 2);
    let c = ConnectV5 {
        client_id: "car-7",
        username: Some(b"anything"),
        auth: Some(("JWT", t1.as_bytes())),
        ..Default::default()
    };
    let mut s = connect(&b, &c);
    assert!(b.wait_log("as car-7 (p5, c1, k30, u'car-7')", Duration::from_secs(3)), "{}", b.log());
    let (t2, _) = expiring("car-7", 60);
    let (kind, body) = mqtt::reauthenticate(&mut s, "JWT", t2.as_bytes()).unwrap();
    assert_eq!((kind, body[0]), (0xf0, 0x00), "AUTH success expected");
    // Past the first token's exp (+ the kick delay bound) the client is still there.
    std::thread::sleep(Duration::from_secs_f64((exp1 as f64 - now_f() + 1.2).max(0.0)));
    assert!(mqtt::ping(&mut s), "kicked although refreshed:\n{}", b.log());

    let refusals = [
        ("another subject", expiring("car-8", 60).0),
        ("expired", expiring("car-7", -10).0),
        ("garbage", "garbage".to_string()),
    ];
    for (i, (what, bad)) in refusals.iter().enumerate() {
        let id = format!("car-7-{i}");
        let good = token(Alg::HS256, &id, json!({}));
        let c = ConnectV5 { client_id: &id, auth: Some(("JWT", good.as_bytes())), ..Default::default() };
        let mut s = connect(&b, &c);
        let bad = if *what == "another subject" { expiring("someone-else", 60).0 } else { bad.clone() };
        let _ = mqtt::reauthenticate(&mut s, "JWT", bad.as_bytes());
        assert!(mqtt::wait_closed(&mut s, Duration::from_secs(3)).is_some(), "{what}: still connected");
        assert!(b.wait_log(&format!("re-authentication refused for client {id}"), Duration::from_secs(2)), "{what}");
    }
}

#[test]
fn enhanced_auth_with_a_bad_token_is_refused() {
    let b = broker(json!({}));
    let c = ConnectV5 { client_id: "x", auth: Some(("JWT", b"nope")), ..Default::default() };
    assert_eq!(mqtt::connect_v5(b.port, &c).1, Outcome::Connack(0x87));
    // Methods that are not ours are left to other plugins (none here: refused as unsupported).
    let c = ConnectV5 { client_id: "y", auth: Some(("SCRAM-SHA-1", b"x")), ..Default::default() };
    assert_ne!(mqtt::connect_v5(b.port, &c).1, Outcome::Connack(0));
}

fn control_refresh(b: &Broker, s: &mut TcpStream, token: &str) -> Value {
    mqtt::publish(s, false, CONTROL, token.as_bytes()).unwrap();
    let got = mqtt::next_publish(s, false, Duration::from_secs(3));
    let Some((topic, payload)) = got else { panic!("no answer:\n{}", b.log()) };
    assert_eq!(topic, RESPONSE);
    serde_json::from_slice(&payload).unwrap()
}

#[test]
fn mqtt311_clients_refresh_through_the_control_topic_and_survive_a_reload() {
    let b = broker(json!({}));
    let (t1, exp1) = expiring("meter-1", 2);
    let c = ConnectV5 { version: 4, client_id: "meter-1", password: Some(t1.as_bytes()), ..Default::default() };
    let mut s = connect(&b, &c);
    let (t2, exp2) = expiring("meter-1", 60);
    let answer = control_refresh(&b, &mut s, &t2);
    assert_eq!(answer["result"], "ok", "{answer}");
    // Integers (strict JSON integer parsers reject 1796150667.0).
    assert_eq!(answer["exp"].as_i64(), Some(exp2), "{answer}");
    std::thread::sleep(Duration::from_secs_f64((exp1 as f64 - now_f() + 1.2).max(0.0)));
    assert!(mqtt::ping(&mut s), "kicked although refreshed:\n{}", b.log());
    // mosquitto re-checks the CONNECT password (now expired) after SIGHUP: the refreshed token counts.
    b.signal("HUP");
    assert!(b.wait_log("jwt-auth: reloaded", Duration::from_secs(3)));
    std::thread::sleep(Duration::from_millis(300));
    assert!(mqtt::ping(&mut s), "dropped by the reload:\n{}", b.log());

    // A refresh with another identity's token is refused and ends the connection.
    let answer = control_refresh(&b, &mut s, &expiring("meter-2", 60).0);
    assert_eq!(answer, json!({"result": "refused", "reason": "bad-subject"}));
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(3)).is_some(), "{}", b.log());
}

#[test]
fn reload_disconnects_clients_whose_token_fails_the_new_rules() {
    let mut b = broker(json!({}));
    let (t, _) = expiring("dev-r", 60);
    let mut s =
        connect(&b, &ConnectV5 { version: 4, client_id: "dev-r", password: Some(t.as_bytes()), ..Default::default() });
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": HS_SECRET}, "common": {"issuer": "https://only-this-issuer"}}});
    std::fs::write(b.dir.path().join("jwt.json"), cfg.to_string()).unwrap();
    b.signal("HUP");
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(3)).is_some(), "{}", b.log());
    assert!(b.wait_log("after reload, disconnecting client dev-r", Duration::from_secs(2)), "{}", b.log());
    assert!(b.is_alive());
}

#[test]
fn expiry_notice_arrives_before_exp() {
    let b = broker(json!({"expiryNotice": {"secondsBefore": 2}}));
    let (t, exp) = expiring("dev-n", 4);
    let mut s = connect(&b, &ConnectV5 { client_id: "dev-n", password: Some(t.as_bytes()), ..Default::default() });
    let (topic, payload) = mqtt::next_publish(&mut s, true, Duration::from_secs(5)).expect("no notice");
    let at = now_f();
    assert_eq!(topic, "$CONTROL/jwt-auth/v1/expiring");
    let v: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(v["exp"].as_i64(), Some(exp), "{v}");
    assert!(v["expiresIn"].as_i64().is_some_and(|s| (0..=4).contains(&s)), "{v}");
    assert!(at < exp as f64 && at > exp as f64 - 3.0, "notice at {at}, exp {exp}");
}

#[test]
fn live_sessions_return_to_zero() {
    let b = broker(json!({}));
    let mut conns = Vec::new();
    for i in 0..5 {
        let id = format!("c{i}");
        let t = token(Alg::HS256, &id, json!({}));
        conns.push(connect(&b, &ConnectV5 { client_id: &id, password: Some(t.as_bytes()), ..Default::default() }));
    }
    // Refused connections never open a session.
    for _ in 0..3 {
        assert_eq!(mqtt::connect_with_password(b.port, "bad", None, "x.y.z"), Outcome::Connack(5));
    }
    assert!(b.wait_log("jwt-auth: 5 live session(s)", Duration::from_secs(3)), "{}", b.log());
    let start = Instant::now();
    for s in conns {
        mqtt::disconnect(s);
    }
    assert!(b.wait_log("jwt-auth: 0 live session(s)", Duration::from_secs(3)), "{}", b.log());
    assert!(start.elapsed() < Duration::from_secs(3));
}
