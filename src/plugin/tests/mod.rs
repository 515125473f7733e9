//! Handler logic against the fake broker: sessions, kicks, refresh and reload re-checks.
// Scenario tests of the handlers, one file per topic.
mod granted;
mod identity;
mod kept_claims;
mod lifecycle;
mod logout;
mod waiting_auth;
mod waiting_exchange;

use super::fake::FakeBroker;
use super::*;
use crate::acl::Access;
use crate::host::*;
use serde_json::json;

const SECRET: &str = "unit-test-secret-0123456789-abcdef";

fn plugin(extra: serde_json::Value) -> (Plugin, FakeBroker, tempfile::TempDir) {
    let mut cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": SECRET}, "common": {"matchUsernameToSubject": true}}});
    for (k, v) in extra.as_object().unwrap() {
        cfg["options"][k] = v.clone();
    }
    fake::load(&cfg)
}

fn tok(sub: &str, exp: f64) -> String {
    crate::keys::hs256_token(SECRET, &json!({"sub": sub, "exp": exp}))
}

const NOW: f64 = 1_800_000_000.0;

#[test]
fn accepted_clients_get_a_session_and_are_kicked_at_exp() {
    let (p, b, _d) = plugin(json!({}));
    let c = b.client(1, "dev");
    let t = tok("dev", NOW + 10.0);
    assert_eq!(p.basic_auth(&b, c, Some(b"x"), Some(t.as_bytes()), NOW), AuthResult::Accept);
    assert_eq!(b.usernames.borrow().get(&c).map(String::as_str), Some("dev"));
    assert_eq!(p.live_sessions(), 1);
    p.tick(&b, NOW + 9.9);
    assert!(b.kicks.borrow().is_empty());
    p.tick(&b, NOW + 10.0);
    assert_eq!(*b.kicks.borrow(), vec![("dev".to_string(), true)]);
    p.disconnect(&b, c, NOW + 10.1);
    assert_eq!(p.live_sessions(), 0);
}

#[test]
fn refused_clients_get_no_session() {
    let (p, b, _d) = plugin(json!({}));
    let c = b.client(1, "dev");
    assert_eq!(p.basic_auth(&b, c, None, None, NOW), AuthResult::Refuse);
    assert_eq!(p.basic_auth(&b, c, None, Some(b"a.b.c"), NOW), AuthResult::Refuse);
    assert_eq!(p.live_sessions(), 0);
    assert!(b.logged("refused client dev from 127.0.0.1: no-token"));
}

#[test]
fn reauthentication_replaces_the_deadline_and_keeps_the_identity() {
    let (p, b, _d) = plugin(json!({}));
    let c = b.client(1, "car");
    let first = tok("car", NOW + 10.0);
    assert_eq!(p.ext_auth_start(&b, c, Some("JWT"), first.as_bytes(), NOW), AuthResult::Accept);
    let second = tok("car", NOW + 100.0);
    assert_eq!(p.ext_auth_start(&b, c, Some("JWT"), second.as_bytes(), NOW + 5.0), AuthResult::Accept);
    p.tick(&b, NOW + 50.0);
    assert!(b.kicks.borrow().is_empty(), "the first token's deadline is gone");
    let other = tok("truck", NOW + 100.0);
    assert_eq!(p.ext_auth_start(&b, c, Some("JWT"), other.as_bytes(), NOW + 6.0), AuthResult::Refuse);
    assert_eq!(p.ext_auth_start(&b, c, Some("OTHER"), other.as_bytes(), NOW), AuthResult::Defer);
}

#[test]
fn refused_control_refresh_answers_then_kicks_later() {
    let (p, b, _d) = plugin(json!({}));
    let c = b.client(1, "m");
    let t = tok("m", NOW + 10.0);
    assert_eq!(p.basic_auth(&b, c, None, Some(t.as_bytes()), NOW), AuthResult::Accept);
    p.control(&b, c, tok("m", NOW + 99.0).as_bytes(), NOW);
    p.control(&b, c, b"garbage", NOW + 2.0);
    let published = b.published.borrow().clone();
    assert_eq!(published.len(), 2);
    assert!(String::from_utf8_lossy(&published[0].2).contains("\"ok\""));
    assert!(String::from_utf8_lossy(&published[1].2).contains("malformed-token"));
    // Never from inside the client's own callback: the kick waits for a tick.
    assert!(b.kicks.borrow().is_empty());
    p.tick(&b, NOW + 2.1);
    assert!(b.kicks.borrow().is_empty(), "the answer gets time to arrive");
    p.tick(&b, NOW + 3.0);
    assert_eq!(b.kicks.borrow().len(), 1);
}

#[test]
fn reload_recheck_uses_the_refreshed_token() {
    let (p, b, _d) = plugin(json!({}));
    let c = b.client(1, "m");
    let old = tok("m", NOW + 10.0);
    assert_eq!(p.basic_auth(&b, c, Some(b"m"), Some(old.as_bytes()), NOW), AuthResult::Accept);
    p.control(&b, c, tok("m", NOW + 99.0).as_bytes(), NOW);
    p.reload(&b, NOW + 20.0);
    // mosquitto re-checks with the CONNECT password, which expired at NOW + 10.
    assert_eq!(p.basic_auth(&b, c, Some(b"m"), Some(old.as_bytes()), NOW + 20.0), AuthResult::Accept);
    // A new connection with an expired token is still refused during the re-check window.
    let other = b.client(2, "n");
    assert_eq!(p.basic_auth(&b, other, None, Some(tok("n", NOW).as_bytes()), NOW + 20.0), AuthResult::Refuse);
}

#[test]
fn sessions_keep_the_token_only_where_the_reload_recheck_cannot_get_it_again() {
    let (p, b, _d) = plugin(json!({}));
    let c = b.client(1, "m");
    let t = tok("m", NOW + 100.0);
    assert_eq!(p.basic_auth(&b, c, Some(b"m"), Some(t.as_bytes()), NOW), AuthResult::Accept);
    assert_eq!(p.sessions.borrow_mut().get(c.key()).unwrap().token(), None, "the password is the token: no copy");
    let e = b.client(2, "e");
    assert_eq!(p.ext_auth_start(&b, e, Some("JWT"), tok("e", NOW + 100.0).as_bytes(), NOW), AuthResult::Accept);
    assert!(p.sessions.borrow_mut().get(e.key()).unwrap().token().is_some(), "enhanced auth: mosquitto has no copy");
    p.reload(&b, NOW + 1.0);
    // The re-check verifies the password mosquitto passes again; without one it fails closed.
    assert_eq!(p.basic_auth(&b, c, Some(b"m"), Some(t.as_bytes()), NOW + 1.0), AuthResult::Accept);
    assert_eq!(p.basic_auth(&b, e, None, None, NOW + 1.0), AuthResult::Accept);
    assert_eq!(p.basic_auth(&b, c, Some(b"m"), None, NOW + 1.0), AuthResult::Refuse);
    // A token of another subject in the password field does not take the session over either.
    let d = b.client(3, "d");
    assert_eq!(p.basic_auth(&b, d, None, Some(tok("d", NOW + 100.0).as_bytes()), NOW + 1.0), AuthResult::Accept);
    p.reload(&b, NOW + 2.0);
    assert_eq!(p.basic_auth(&b, d, None, Some(tok("x", NOW + 100.0).as_bytes()), NOW + 2.0), AuthResult::Refuse);
}

#[test]
fn expiry_notice_is_sent_once() {
    let (p, b, _d) = plugin(json!({"expiryNotice": {"secondsBefore": 5, "topic": "notice/t"}}));
    let c = b.client(1, "n");
    assert_eq!(p.basic_auth(&b, c, None, Some(tok("n", NOW + 10.0).as_bytes()), NOW), AuthResult::Accept);
    p.tick(&b, NOW + 4.0);
    assert!(b.published.borrow().is_empty());
    p.tick(&b, NOW + 5.0);
    p.tick(&b, NOW + 6.0);
    assert_eq!(b.published.borrow().len(), 1);
    assert_eq!(b.published.borrow()[0].1, "notice/t");
}

#[test]
fn fallback_drains_when_tick_is_silent_but_never_for_the_busy_client() {
    let (p, b, _d) = plugin(json!({}));
    let a = b.client(1, "a");
    let other = b.client(2, "b");
    assert_eq!(p.basic_auth(&b, a, None, Some(tok("a", NOW + 1.0).as_bytes()), NOW), AuthResult::Accept);
    p.expire_fallback(&b, NOW + 2.0, a);
    assert!(b.kicks.borrow().is_empty(), "a is busy");
    p.basic_auth(&b, other, None, Some(tok("b", NOW + 100.0).as_bytes()), NOW + 2.0);
    assert_eq!(*b.kicks.borrow(), vec![("a".to_string(), true)]);
}

#[test]
fn acl_checks_deny_from_exp_before_the_kick_and_defer_for_strangers() {
    use crate::acl::Decision;
    let (p, b, _d) =
        plugin(json!({"authorization": {"rules": [{"permission": "allow", "action": "all", "topic": "#"}]}}));
    let c = b.client(1, "a");
    assert_eq!(p.basic_auth(&b, c, None, Some(tok("a", NOW + 10.0).as_bytes()), NOW), AuthResult::Accept);
    assert_eq!(p.acl_check(&b, c, Access::Write, "x/y", 0, false, NOW + 9.0), Decision::Allow);
    assert_eq!(
        p.acl_check(&b, c, Access::Write, "x/y", 0, false, NOW + 10.0),
        Decision::Deny,
        "no tick has kicked yet"
    );
    assert_eq!(p.acl_check(&b, ClientRef::from_host(99), Access::Write, "x/y", 0, false, NOW), Decision::Defer);
    // The refresh topic stays writable (unknown access bits are denied in src/broker/codes.rs).
    assert_eq!(p.acl_check(&b, c, Access::Write, "$CONTROL/jwt-auth/v1", 0, false, NOW), Decision::Allow);
}
