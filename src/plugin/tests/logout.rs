//! Back-channel logout against the fake broker: what a logout token ends, what it never ends, and
//! what it refuses afterwards.
use crate::acl::Access;
use crate::host::*;
use crate::logout::BACKCHANNEL_EVENT;
use crate::plugin::fake::FakeBroker;
use crate::plugin::*;
use serde_json::{json, Value};

const SECRET: &str = "logout-plugin-test-secret-0123456789-abcdef";
const NOW: f64 = 1_800_000_000.0;
const ISS: &str = "https://idp.example";
const TOPIC: &str = "$CONTROL/jwt-auth/v1/logout";

fn plugin(with_will: bool) -> (Plugin, FakeBroker, tempfile::TempDir) {
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {
        "modes": {"local": SECRET},
        "common": {"issuer": ISS, "audience": "mqtt", "kickExpiredClientsWithWill": with_will},
        "invalidNotice": {},
        "logout": {"audience": "relay-client"}}});
    fake::load(&cfg)
}

/// HS256 with `secret`; a logout token's header has typ logout+jwt.
fn sign_as(logout: bool, claims: &Value, secret: &str) -> String {
    let typ = if logout { "logout+jwt" } else { "JWT" };
    let signer = crate::keys::Signer::new(crate::alg::Alg::HS256, secret.as_bytes()).unwrap();
    crate::keys::encode_jws_with_header(&signer, &json!({"typ": typ, "alg": "HS256"}), claims).unwrap()
}

fn access(sub: &str, sid: Option<&str>, iat: f64) -> String {
    let mut c = json!({"iss": ISS, "aud": "mqtt", "sub": sub, "iat": iat as i64, "exp": NOW as i64 + 3600});
    if let Some(s) = sid {
        c["sid"] = json!(s);
    }
    sign_as(false, &c, SECRET)
}

fn logout_claims(sub: Option<&str>, sid: Option<&str>, jti: &str) -> Value {
    let mut c = json!({"iss": ISS, "aud": "relay-client", "iat": NOW as i64, "jti": jti,
        "events": {BACKCHANNEL_EVENT: {}}});
    if let Some(s) = sub {
        c["sub"] = json!(s);
    }
    if let Some(s) = sid {
        c["sid"] = json!(s);
    }
    c
}

fn logout_token(claims: &Value) -> String {
    sign_as(true, claims, SECRET)
}

fn connect(p: &Plugin, b: &FakeBroker, n: usize, id: &str, token: &str, now: f64) -> (ClientRef<'static>, AuthResult) {
    let c = b.client(n, id);
    (c, p.basic_auth(b, c, None, Some(token.as_bytes()), now))
}

fn answers(b: &FakeBroker, to: &str) -> Vec<Value> {
    let published = b.published.borrow();
    let mine = published.iter().filter(|(id, t, _)| id == to && t == "$CONTROL/jwt-auth/v1/response");
    mine.map(|(_, _, p)| serde_json::from_slice(p).unwrap()).collect()
}

fn kicked(b: &FakeBroker) -> Vec<(String, bool)> {
    let mut k = b.kicks.borrow().clone();
    k.sort();
    k
}

#[test]
fn a_logout_by_subject_ends_every_session_of_it_within_a_second_and_nothing_else() {
    for with_will in [true, false] {
        let (p, b, _d) = plugin(with_will);
        let alice = access("alice", None, NOW - 60.0);
        assert_eq!(connect(&p, &b, 1, "phone", &alice, NOW - 50.0).1, AuthResult::Accept);
        assert_eq!(connect(&p, &b, 2, "laptop", &alice, NOW - 50.0).1, AuthResult::Accept);
        assert_eq!(connect(&p, &b, 3, "bob-dev", &access("bob", None, NOW - 60.0), NOW - 50.0).1, AuthResult::Accept);
        let (relay, _) = connect(&p, &b, 4, "relay", &access("relay", None, NOW - 60.0), NOW - 50.0);
        p.control_message(&b, relay, TOPIC, logout_token(&logout_claims(Some("alice"), None, "j1")).as_bytes(), NOW);
        assert_eq!(answers(&b, "relay"), vec![json!({"result": "ok", "ended": 2})]);
        // ACLs deny at once; the notice goes out on the next pass, the kick right after it.
        assert_eq!(
            p.acl_check(&b, ClientRef::from_host(1), Access::Read, "t", 0, false, NOW),
            crate::acl::Decision::Deny
        );
        p.tick(&b, NOW + 0.05);
        let notices: Vec<_> =
            b.published.borrow().iter().filter(|(_, t, _)| t.ends_with("/invalid")).cloned().collect();
        assert_eq!(notices.len(), 2);
        assert_eq!(notices[0].2, br#"{"reason":"logged-out"}"#);
        assert!(b.kicks.borrow().is_empty(), "the notice has time to arrive before the kick");
        p.tick(&b, NOW + 0.35);
        assert_eq!(kicked(&b), vec![("laptop".into(), with_will), ("phone".into(), with_will)]);
        // This plugin's own counters: exactly its two kicks.
        assert_eq!(p.metrics.snapshot(0).get("kicks/logged-out"), 2);
        p.disconnect(&b, ClientRef::from_host(1), NOW + 0.4);
        p.disconnect(&b, ClientRef::from_host(2), NOW + 0.4);
        // The will check after the kick follows kickExpiredClientsWithWill.
        let will = p.acl_check(&b, ClientRef::from_host(1), Access::Write, "status/phone", 0, false, NOW + 0.4);
        assert_eq!(will == crate::acl::Decision::Deny, !with_will);
        assert_eq!(p.live_sessions(), 2, "bob and the relay stay");
    }
}

#[test]
fn refused_logout_tokens_end_no_session_and_are_answered_with_the_reason() {
    let (p, b, _d) = plugin(true);
    assert_eq!(connect(&p, &b, 1, "phone", &access("alice", Some("s1"), NOW - 60.0), NOW - 50.0).1, AuthResult::Accept);
    let (relay, _) = connect(&p, &b, 2, "relay", &access("relay", None, NOW - 60.0), NOW - 50.0);
    let good = logout_claims(Some("alice"), Some("s1"), "j1");
    let mut cases: Vec<(&str, String, &str)> = Vec::new();
    let forged = sign_as(true, &good, "an-attacker-secret-of-the-same-size-0123456");
    cases.push(("forged signature", forged, "bad-signature"));
    let mut c = good.clone();
    c["aud"] = json!("mqtt");
    cases.push(("access-token audience", logout_token(&c), "wrong-audience"));
    let mut c = good.clone();
    c.as_object_mut().unwrap().remove("events");
    cases.push(("missing events", logout_token(&c), "bad-logout-token"));
    let mut c = good.clone();
    c["iat"] = json!(NOW as i64 - 301);
    cases.push(("stale iat", logout_token(&c), "bad-logout-token"));
    let mut c = good.clone();
    c["nonce"] = json!("abc");
    cases.push(("nonce present", logout_token(&c), "bad-logout-token"));
    cases.push(("typ JWT", sign_as(false, &good, SECRET), "bad-logout-token"));
    cases.push(("an access token", access("alice", Some("s1"), NOW), "wrong-audience"));
    cases.push(("garbage", "not a token".into(), "malformed-token"));
    for (what, token, reason) in &cases {
        b.published.borrow_mut().clear();
        p.control_message(&b, relay, TOPIC, token.as_bytes(), NOW);
        assert_eq!(answers(&b, "relay"), vec![json!({"result": "refused", "reason": reason})], "{what}");
    }
    p.tick(&b, NOW + 2.0);
    assert!(b.kicks.borrow().is_empty());
    assert_eq!(p.live_sessions(), 2, "neither the target nor the publisher is ended");
    assert_eq!(p.acl_check(&b, relay, Access::Write, "x", 0, false, NOW + 2.0), crate::acl::Decision::Defer);
    // The good one works, once: its replay is refused.
    p.control_message(&b, relay, TOPIC, logout_token(&good).as_bytes(), NOW + 2.0);
    b.published.borrow_mut().clear();
    p.control_message(&b, relay, TOPIC, logout_token(&good).as_bytes(), NOW + 3.0);
    assert_eq!(answers(&b, "relay"), vec![json!({"result": "refused", "reason": "logout-replayed"})]);
}

#[test]
fn after_a_logout_older_tokens_are_refused_and_newer_ones_accepted() {
    let (p, b, _d) = plugin(true);
    let (relay, _) = connect(&p, &b, 9, "relay", &access("relay", None, NOW - 60.0), NOW - 50.0);
    let (phone, ok) = connect(&p, &b, 1, "phone", &access("alice", None, NOW - 60.0), NOW - 50.0);
    assert_eq!(ok, AuthResult::Accept);
    p.control_message(&b, relay, TOPIC, logout_token(&logout_claims(Some("alice"), None, "j1")).as_bytes(), NOW);
    p.tick(&b, NOW + 0.5);
    p.disconnect(&b, phone, NOW + 0.5);
    let old = access("alice", None, NOW - 60.0);
    let (_, again) = connect(&p, &b, 2, "phone", &old, NOW + 1.0);
    assert_eq!(again, AuthResult::Refuse);
    assert!(b.logged("refused client phone from 127.0.0.1: logged-out"));
    assert_eq!(
        connect(&p, &b, 3, "phone", &access("alice", None, NOW), NOW + 1.0).1,
        AuthResult::Refuse,
        "iat = logout iat"
    );
    let (fresh, ok) = connect(&p, &b, 4, "phone", &access("alice", None, NOW + 1.0), NOW + 1.5);
    assert_eq!(ok, AuthResult::Accept, "a token of a new login");
    // A refresh back to a token from before the logout is refused (and ends that session).
    b.published.borrow_mut().clear();
    p.control_message(&b, fresh, "$CONTROL/jwt-auth/v1", old.as_bytes(), NOW + 2.0);
    assert_eq!(answers(&b, "phone"), vec![json!({"result": "refused", "reason": "logged-out"})]);
    // Bob was never logged out.
    assert_eq!(connect(&p, &b, 5, "bob", &access("bob", None, NOW - 60.0), NOW + 2.0).1, AuthResult::Accept);
}

#[test]
fn a_logout_by_sid_ends_that_provider_session_only() {
    let (p, b, _d) = plugin(true);
    let (relay, _) = connect(&p, &b, 9, "relay", &access("relay", None, NOW - 60.0), NOW - 50.0);
    assert_eq!(connect(&p, &b, 1, "phone", &access("alice", Some("s1"), NOW - 60.0), NOW - 50.0).1, AuthResult::Accept);
    assert_eq!(
        connect(&p, &b, 2, "laptop", &access("alice", Some("s2"), NOW - 60.0), NOW - 50.0).1,
        AuthResult::Accept
    );
    p.control_message(&b, relay, TOPIC, logout_token(&logout_claims(None, Some("s1"), "j1")).as_bytes(), NOW);
    p.tick(&b, NOW + 0.5);
    assert_eq!(kicked(&b), vec![("phone".into(), true)]);
    assert_eq!(connect(&p, &b, 3, "phone", &access("alice", Some("s1"), NOW - 1.0), NOW + 1.0).1, AuthResult::Refuse);
    assert_eq!(connect(&p, &b, 4, "tablet", &access("alice", Some("s3"), NOW - 1.0), NOW + 1.0).1, AuthResult::Accept);
}

#[test]
fn a_session_that_went_away_or_took_a_new_id_is_not_found_by_its_old_identity() {
    let (p, b, _d) = plugin(true);
    let (relay, _) = connect(&p, &b, 9, "relay", &access("relay", None, NOW - 60.0), NOW - 50.0);
    let (phone, _) = connect(&p, &b, 1, "phone", &access("alice", None, NOW - 60.0), NOW - 50.0);
    p.disconnect(&b, phone, NOW - 40.0);
    p.tick(&b, NOW - 39.0);
    // Another identity takes the same connection slot and client id.
    assert_eq!(connect(&p, &b, 1, "phone", &access("bob", None, NOW - 30.0), NOW - 30.0).1, AuthResult::Accept);
    p.control_message(&b, relay, TOPIC, logout_token(&logout_claims(Some("alice"), None, "j1")).as_bytes(), NOW);
    assert_eq!(answers(&b, "relay").last(), Some(&json!({"result": "ok", "ended": 0})));
    p.tick(&b, NOW + 0.5);
    assert!(b.kicks.borrow().is_empty());
}

#[test]
fn a_reload_keeps_the_remembered_logouts_and_cannot_move_the_topic() {
    let (p, b, dir) = plugin(true);
    let (relay, _) = connect(&p, &b, 9, "relay", &access("relay", None, NOW - 60.0), NOW - 50.0);
    p.control_message(&b, relay, TOPIC, logout_token(&logout_claims(Some("alice"), None, "j1")).as_bytes(), NOW);
    p.reload(&b, NOW + 1.0);
    assert!(b.logged("reloaded"), "{:?}", b.logs.borrow());
    assert_eq!(connect(&p, &b, 2, "phone", &access("alice", None, NOW - 60.0), NOW + 2.0).1, AuthResult::Refuse);
    let file = dir.path().join("jwt.json");
    let moved = std::fs::read_to_string(&file)
        .unwrap()
        .replace("\"logout\":{", "\"logout\":{\"topic\":\"$CONTROL/x/v1/logout\",");
    std::fs::write(&file, moved).unwrap();
    p.reload(&b, NOW + 3.0);
    assert!(b.logged("options.logout (enabled, topic), needs a restart"), "{:?}", b.logs.borrow());
}
