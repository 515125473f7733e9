//! Where sessions meet mosquitto's connection lifecycle, tried as an attacker and an operator
//! would: wills after DISCONNECT (dropped sockets, expiry kicks, operator denies), refused refreshes
//! (no rename, no revival by a later good one, no token testing), the one deadline exp + leeway,
//! the refresh rate limit and the invalidity notice.
mod support;

use mqtt_jwt_auth::alg::Alg;
use serde_json::{json, Value};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;
use support::broker::{Broker, Options};
use support::mqtt::{self, ConnectV5, Outcome};
use support::tokens::{self, token};

const CONTROL: &str = "$CONTROL/jwt-auth/v1";
const RESPONSE: &str = "$CONTROL/jwt-auth/v1/response";
const INVALID: &str = "$CONTROL/jwt-auth/v1/invalid";

fn config(options: Value) -> String {
    tokens::hs256_config(&options)
}

fn broker(options: Value) -> Broker {
    Broker::start(&config(options))
}

/// Rules that let every client publish under `wills/` and `alerts/`, and subscribe to anything.
fn rules(no_match: &str) -> Value {
    json!({"noMatch": no_match, "rules": [
        {"permission": "allow", "action": "all", "topic": "wills/#"},
        {"permission": "allow", "action": "all", "topic": "alerts/#"},
        {"permission": "allow", "action": "subscribe", "topic": "#"}]})
}

fn connect(b: &Broker, c: &ConnectV5) -> TcpStream {
    let (s, out) = mqtt::connect_v5(b.port, c);
    assert_eq!(out, Outcome::Connack(0), "{}", b.log());
    s.unwrap()
}

fn observer(b: &Broker, filter: &str) -> TcpStream {
    let t = token(Alg::HS256, "observer", json!({}));
    let mut s = connect(b, &ConnectV5 { client_id: "observer", password: Some(t.as_bytes()), ..Default::default() });
    assert_eq!(mqtt::subscribe(&mut s, true, filter), 0);
    s
}

fn expiring(sub: &str, secs: i64) -> String {
    token(Alg::HS256, sub, json!({"exp": tokens::now() + secs}))
}

fn with_will<'a>(id: &'a str, t: &'a str, topic: &'a str) -> ConnectV5<'a> {
    ConnectV5 { client_id: id, password: Some(t.as_bytes()), will: Some((topic, b"gone")), ..Default::default() }
}

fn now_f() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

fn next(s: &mut TcpStream, secs: f64) -> Option<(String, Vec<u8>)> {
    mqtt::next_publish(s, true, Duration::from_secs_f64(secs))
}

#[test]
fn a_dropped_socket_publishes_the_will_under_the_plugins_rules() {
    let b = broker(json!({"authorization": rules("deny")}));
    let mut obs = observer(&b, "wills/#");
    let t = token(Alg::HS256, "dev-w", json!({}));
    let s = connect(&b, &with_will("dev-w", &t, "wills/dev-w"));
    s.shutdown(Shutdown::Both).unwrap();
    assert_eq!(next(&mut obs, 3.0), Some(("wills/dev-w".into(), b"gone".to_vec())), "{}", b.log());
    // A will on a topic the rules do not grant is still denied.
    let s = connect(&b, &with_will("dev-x", &token(Alg::HS256, "dev-x", json!({})), "secret/dev-x"));
    let mut spy = observer_on(&b, "spy", "#");
    s.shutdown(Shutdown::Both).unwrap();
    assert_eq!(next(&mut spy, 1.5), None, "a will outside the rules went out");
    assert!(b.wait_log("jwt-auth: 2 live session(s)", Duration::from_secs(3)), "{}", b.log());
}

/// A second observer whose id differs (the first one holds "observer").
fn observer_on(b: &Broker, id: &str, filter: &str) -> TcpStream {
    let t = token(Alg::HS256, id, json!({}));
    let mut s = connect(b, &ConnectV5 { client_id: id, password: Some(t.as_bytes()), ..Default::default() });
    assert_eq!(mqtt::subscribe(&mut s, true, filter), 0);
    s
}

#[test]
fn the_expiry_kick_publishes_the_will_only_when_the_operator_asks() {
    for with in [true, false] {
        let b = broker(json!({"authorization": rules("deny"), "common": {"kickExpiredClientsWithWill": with}}));
        let mut obs = observer(&b, "wills/#");
        let t = expiring("dev-k", 1);
        let mut s = connect(&b, &with_will("dev-k", &t, "wills/dev-k"));
        assert!(mqtt::wait_closed(&mut s, Duration::from_secs(4)).is_some(), "not kicked:\n{}", b.log());
        let will = next(&mut obs, 1.5);
        if with {
            assert_eq!(will, Some(("wills/dev-k".into(), b"gone".to_vec())), "{}", b.log());
        } else {
            assert_eq!(will, None, "will published although kickExpiredClientsWithWill is false");
        }
    }
}

#[test]
fn the_plugins_denies_hold_for_wills_when_it_defers_the_rest() {
    // The plugin's rules deny alerts/# and defer the rest to an acl_file that allows everything:
    // a will must meet the plugin's deny, not fall through to the acl_file after DISCONNECT.
    let dir = tempfile::tempdir().unwrap();
    let acl_file = dir.path().join("acl");
    std::fs::write(&acl_file, "topic readwrite #\n").unwrap();
    let auth = json!({"noMatch": "defer", "rules": [{"permission": "deny", "action": "publish", "topic": "alerts/#"}]});
    let opts = Options { extra_conf: format!("acl_file {}\n", acl_file.display()), ..Default::default() };
    let b = Broker::start_with(&config(json!({"authorization": auth})), opts).unwrap();
    let mut obs = observer(&b, "alerts/#");
    // Direct publishes there are denied...
    let t = token(Alg::HS256, "dev-a", json!({}));
    let mut direct = connect(&b, &ConnectV5 { client_id: "dev-a", password: Some(t.as_bytes()), ..Default::default() });
    assert_eq!(mqtt::publish_qos1(&mut direct, true, "alerts/fire", b"x"), Some(0x87));
    // ...and so is a retained will there, on a dropped socket.
    let t = token(Alg::HS256, "dev-f", json!({}));
    let mut c = with_will("dev-f", &t, "alerts/fire");
    c.will_retain = true;
    let s = connect(&b, &c);
    s.shutdown(Shutdown::Both).unwrap();
    assert_eq!(next(&mut obs, 1.5), None, "the will bypassed the plugin's deny:\n{}", b.log());
    let mut late = observer_on(&b, "late", "alerts/#");
    assert_eq!(next(&mut late, 1.0), None, "the will was retained");
}

fn control_refresh(s: &mut TcpStream, token: &str) -> Option<Value> {
    control_refresh_v(s, false, token)
}

fn control_refresh_v(s: &mut TcpStream, v5: bool, token: &str) -> Option<Value> {
    mqtt::publish(s, v5, CONTROL, token.as_bytes()).ok()?;
    loop {
        let (topic, payload) = mqtt::next_publish(s, v5, Duration::from_secs(3))?;
        if topic == RESPONSE {
            return serde_json::from_slice(&payload).ok();
        }
    }
}

fn v311<'a>(id: &'a str, t: &'a str) -> ConnectV5<'a> {
    ConnectV5 { version: 4, client_id: id, password: Some(t.as_bytes()), ..Default::default() }
}

#[test]
fn a_refused_refresh_cannot_be_undone_by_a_good_one() {
    let b = broker(json!({}));
    let t = expiring("meter-r", 60);
    let mut s = connect(&b, &v311("meter-r", &t));
    let forged = format!("{}x", expiring("meter-r", 120));
    let answer = control_refresh(&mut s, &forged).expect("answer");
    assert_eq!(answer["reason"], "bad-signature", "{answer}");
    // A valid token inside the grace period before the kick does not revive the session.
    let answer = control_refresh(&mut s, &expiring("meter-r", 120));
    if let Some(a) = answer {
        assert_eq!(a["reason"], "session-ending", "{a}");
    }
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(3)).is_some(), "a good refresh revived it:\n{}", b.log());
    assert!(b.wait_log("disconnecting client meter-r: token refresh refused", Duration::from_secs(2)));
}

#[test]
fn a_refresh_naming_another_username_changes_nothing() {
    // Same subject, another preferred_username: refused before mosquitto's username changes, and a
    // good refresh right after cannot keep the connection alive under the other name.
    let dir = tempfile::tempdir().unwrap();
    let acl_file = dir.path().join("acl");
    std::fs::write(&acl_file, "pattern readwrite users/%u/#\npattern write $CONTROL/jwt-auth/v1\n").unwrap();
    let opts = Options { extra_conf: format!("acl_file {}\n", acl_file.display()), ..Default::default() };
    let cfg =
        config(json!({"common": {"matchUsernameToSubject": false, "matchUsernameToClaim": "preferred_username"}}));
    let b = Broker::start_with(&cfg, opts).unwrap();
    let claims = |name: &str, secs: i64| json!({"preferred_username": name, "exp": tokens::now() + secs});
    let alice = token(Alg::HS256, "u-1", claims("alice", 60));
    let mut s = connect(&b, &ConnectV5 { client_id: "cli-1", password: Some(alice.as_bytes()), ..Default::default() });
    let bob = token(Alg::HS256, "u-1", claims("bob", 90));
    let answer = control_refresh_v(&mut s, true, &bob).expect("answer");
    assert_eq!(answer["reason"], "username-mismatch", "{answer}");
    let _ = control_refresh_v(&mut s, true, &token(Alg::HS256, "u-1", claims("alice", 120)));
    // mosquitto's acl_file grants every SUBSCRIBE and checks READ at delivery.
    assert_eq!(mqtt::subscribe(&mut s, true, "users/bob/#"), 0);
    let real_bob = token(Alg::HS256, "u-2", claims("bob", 60));
    let mut pubr =
        connect(&b, &ConnectV5 { client_id: "bob", password: Some(real_bob.as_bytes()), ..Default::default() });
    assert_eq!(mqtt::publish_qos1(&mut pubr, true, "users/bob/inbox", b"for bob"), Some(0));
    let got = next(&mut s, 1.0);
    assert_eq!(got, None, "the connection reads bob's topics:\n{}", b.log());
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(3)).is_some(), "{}", b.log());
}

#[test]
fn refreshes_are_rate_limited_without_ending_the_session() {
    let b = broker(json!({"refresh": {"minIntervalMs": 2000}}));
    let mut s = connect(&b, &v311("meter-f", &expiring("meter-f", 60)));
    assert_eq!(control_refresh(&mut s, &expiring("meter-f", 70)).unwrap()["result"], "ok");
    for _ in 0..20 {
        let a = control_refresh(&mut s, &expiring("meter-f", 80)).expect("answer");
        assert_eq!(a["reason"], "refresh-too-soon", "{a}");
    }
    assert!(mqtt::ping(&mut s), "a too-early refresh ended the session:\n{}", b.log());
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(control_refresh(&mut s, &expiring("meter-f", 90)).unwrap()["result"], "ok");
}

#[test]
fn leeway_is_one_deadline_for_connect_acl_and_kick() {
    let b = broker(json!({"common": {"leewaySeconds": 3}}));
    // Expired a second ago: accepted within the leeway, and kept until exp + leeway, not kicked at once.
    let exp = tokens::now() - 1;
    let t = token(Alg::HS256, "dev-l", json!({"exp": exp}));
    let mut s = connect(&b, &ConnectV5 { client_id: "dev-l", password: Some(t.as_bytes()), ..Default::default() });
    // exp is whole seconds, so exp + leeway is 1–2 s away: look 0.6 s before it (the old code
    // kicked at the first tick, ~0.1 s after CONNECT).
    let deadline = (exp + 3) as f64;
    std::thread::sleep(Duration::from_secs_f64((deadline - 0.6 - now_f()).max(0.3)));
    assert!(mqtt::ping(&mut s), "kicked before exp + leeway:\n{}", b.log());
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(4)).is_some(), "not kicked at exp + leeway");
    let late = now_f() - (exp + 3) as f64;
    assert!((-0.05..1.0).contains(&late), "kicked {late:.2}s after exp + leeway");
    // Reconnecting with the same token is now refused: one kick per token, no reconnect loop.
    let (_, out) =
        mqtt::connect_v5(b.port, &ConnectV5 { client_id: "dev-l", password: Some(t.as_bytes()), ..Default::default() });
    assert_eq!(out, Outcome::Connack(0x87));
}

#[test]
fn the_invalidity_notice_precedes_the_disconnect_of_a_refused_refresh() {
    let b = broker(json!({"invalidNotice": {}}));
    let mut s = connect(&b, &v311("meter-i", &expiring("meter-i", 60)));
    mqtt::publish(&mut s, false, CONTROL, expiring("someone-else", 60).as_bytes()).unwrap();
    let mut got = Vec::new();
    while let Some((topic, payload)) = mqtt::next_publish(&mut s, false, Duration::from_secs(3)) {
        got.push((topic, String::from_utf8_lossy(&payload).into_owned()));
    }
    let notice = got.iter().find(|(t, _)| t == INVALID).unwrap_or_else(|| panic!("no notice in {got:?}"));
    assert_eq!(serde_json::from_str::<Value>(&notice.1).unwrap(), json!({"reason": "bad-subject"}));
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(2)).is_some());
}

#[test]
fn expiry_sends_no_invalidity_notice() {
    let b = broker(json!({"invalidNotice": {}}));
    let mut s = connect(&b, &v311("meter-e", &expiring("meter-e", 1)));
    let mut topics = Vec::new();
    while let Some((topic, _)) = mqtt::next_publish(&mut s, false, Duration::from_secs(3)) {
        topics.push(topic);
    }
    assert!(!topics.iter().any(|t| t == INVALID), "{topics:?}");
}
