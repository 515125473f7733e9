//! waiting_exchange.rs against the fake broker as mosquitto 2.1 and a one-shot token endpoint on
//! loopback: a clean-start CONNECT waits for its exchange, the username its token binds is set only
//! once the broker accepted it, a client gone meanwhile leaves nothing, a persistent session and
//! 2.0 exchange inline.
use crate::host::*;
use crate::plugin::fake::FakeBroker;
use crate::plugin::*;
use serde_json::json;
use std::time::{Duration, Instant};

const SECRET: &str = "waiting-exchange-test-secret-0123456789";

/// Answers each request in turn with (status, body); at most `answers.len()` requests.
fn endpoint(answers: Vec<(u16, String)>) -> String {
    crate::net::canned::one_shot(answers, "/token").0
}

fn issued(sub: &str) -> (u16, String) {
    let claims = json!({"sub": sub, "exp": now_seconds() + 3600.0});
    let t = crate::keys::hs256_token(SECRET, &claims);
    (200, json!({"access_token": t, "expires_in": 3600}).to_string())
}

fn plugin(url: &str, defers: bool) -> (Plugin, FakeBroker, tempfile::TempDir) {
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": SECRET}, "common": {"matchUsernameToSubject": true},
            "credentialsExchange": {"tokenEndpoint": url, "timeoutMs": 2000}}});
    fake::load_with(&cfg, FakeBroker { defers, ..Default::default() })
}

fn tick_until(p: &Plugin, b: &FakeBroker, done: impl Fn() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        p.tick(b, now_seconds());
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn on_2_1_the_exchange_waits_and_the_bound_username_is_set_after_the_answer() {
    let (p, b, _d) = plugin(&endpoint(vec![issued("alice")]), true);
    let c = b.client(1, "dev-1");
    let r = p.basic_auth(&b, c, Some(b"alice-login"), Some(b"secret"), now_seconds());
    assert_eq!(r, AuthResult::Delayed);
    assert!(!p.has_session(c));
    assert!(b.usernames.borrow().is_empty(), "not renamed before the broker accepted it");
    assert!(tick_until(&p, &b, || !b.completions.borrow().is_empty()), "{:?}", b.logs.borrow());
    assert_eq!(*b.completions.borrow(), [("dev-1".to_string(), true)]);
    assert!(p.has_session(c));
    assert_eq!(b.usernames.borrow().get(&c).map(String::as_str), Some("alice"));
    // The token is cached: the next CONNECT with these credentials is answered at once.
    let c2 = b.client(2, "dev-2");
    assert_eq!(p.basic_auth(&b, c2, Some(b"alice-login"), Some(b"secret"), now_seconds()), AuthResult::Accept);
}

#[test]
fn on_2_1_a_refused_exchange_is_refused_later_with_its_category() {
    let (p, b, _d) = plugin(&endpoint(vec![(401, r#"{"error":"invalid_client"}"#.into())]), true);
    let c = b.client(1, "wrong");
    assert_eq!(p.basic_auth(&b, c, Some(b"alice"), Some(b"bad"), now_seconds()), AuthResult::Delayed);
    assert!(tick_until(&p, &b, || !b.completions.borrow().is_empty()));
    assert_eq!(*b.completions.borrow(), [("wrong".to_string(), false)]);
    assert!(!p.has_session(c));
    assert!(b.logged("refused client wrong from 127.0.0.1: credentials-refused"), "{:?}", b.logs.borrow());
}

#[test]
fn on_2_1_a_client_gone_while_its_exchange_ran_leaves_nothing() {
    let (p, b, _d) = plugin(&endpoint(vec![issued("bob")]), true);
    let c = b.client(1, "leaver");
    assert_eq!(p.basic_auth(&b, c, Some(b"bob-login"), Some(b"pw"), now_seconds()), AuthResult::Delayed);
    b.ids.borrow_mut().remove(&c);
    assert!(tick_until(&p, &b, || !b.completions.borrow().is_empty()));
    assert_eq!(p.live_sessions(), 0);
    assert!(b.usernames.borrow().is_empty(), "a gone client's pointer is never used");
    assert_eq!(p.waiting_connects(), 0);
}

#[test]
fn a_persistent_session_and_2_0_exchange_inline() {
    for defers in [true, false] {
        let (p, b, _d) = plugin(&endpoint(vec![issued("carol")]), defers);
        let c = b.client(1, "resumes");
        b.persistent.borrow_mut().insert(c);
        assert_eq!(p.basic_auth(&b, c, Some(b"carol-login"), Some(b"pw"), now_seconds()), AuthResult::Accept);
        assert!(p.has_session(c));
        assert_eq!(b.usernames.borrow().get(&c).map(String::as_str), Some("carol"));
        assert!(b.completions.borrow().is_empty());
    }
}

/// Exchange, then the blocking revocation check: the CONNECT waits twice, and the bound username is
/// still set only after the broker accepted it.
#[test]
fn on_2_1_an_exchange_then_a_blocking_check_waits_twice_and_renames_last() {
    let intro = super::revocation::tests::Endpoint::start();
    let url = endpoint(vec![issued("dave")]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": SECRET}, "common": {"matchUsernameToSubject": true},
            "credentialsExchange": {"tokenEndpoint": url, "timeoutMs": 2000},
            "revocation": {"introspection": {"uri": intro.uri, "clientId": "c", "clientSecret": "s"},
                "policy": "blocking", "timeoutMs": 2000}}});
    let file = dir.path().join("jwt.json");
    std::fs::write(&file, cfg.to_string()).unwrap();
    let b = FakeBroker { defers: true, ..Default::default() };
    let p = Plugin::load(&b, &file).unwrap();
    let c = b.client(1, "both");
    assert_eq!(p.basic_auth(&b, c, Some(b"dave-login"), Some(b"pw"), now_seconds()), AuthResult::Delayed);
    assert!(tick_until(&p, &b, || !b.completions.borrow().is_empty()), "{:?}", b.logs.borrow());
    assert_eq!(*b.completions.borrow(), [("both".to_string(), true)]);
    assert!(p.has_session(c));
    assert_eq!(b.usernames.borrow().get(&c).map(String::as_str), Some("dave"));
    assert_eq!(intro.requests(), 1, "the exchanged token's revocation check");
}

/// A token minted during a blocking exchange carries an `iat` later than the CONNECT's `now`: it is
/// checked against the time the exchange answered, not refused as issued in the future.
#[test]
fn on_2_0_a_token_minted_during_the_exchange_is_not_issued_in_the_future() {
    let now = now_seconds().floor() + 0.9;
    let claims = json!({"sub": "erin", "iat": now.ceil() as i64, "exp": now + 3600.0});
    let body = json!({"access_token": crate::keys::hs256_token(SECRET, &claims), "expires_in": 3600}).to_string();
    let (url, _) = crate::net::canned::one_shot_after(vec![(200, body)], "/token", Duration::from_millis(300));
    let (p, b, _d) = plugin(&url, false);
    let c = b.client(1, "minted");
    assert_eq!(p.basic_auth(&b, c, Some(b"erin-login"), Some(b"pw"), now), AuthResult::Accept, "{:?}", b.logs.borrow());
    assert!(p.has_session(c));
}
