//! waiting_auth.rs against the fake broker as mosquitto 2.1 (`defers`): the blocking policy's
//! CONNECT answers later, from TICK; nothing opens before a positive answer; the deadline applies
//! onError; a client gone meanwhile leaves nothing behind. As 2.0 the check stays inline.
use super::fake::FakeBroker;
use super::revocation::tests::{plugin, tick_until, tok, Endpoint};
use super::*;
use crate::host::*;
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn blocking(uri: &str, extra: serde_json::Value) -> (Plugin, FakeBroker, tempfile::TempDir) {
    let mut opts = json_obj(serde_json::json!({"policy": "blocking", "cacheTtlMs": 0, "recheckIntervalMs": 60000}));
    for (k, v) in json_obj(extra) {
        opts.insert(k, v);
    }
    let (p, mut b, d) = plugin(uri, serde_json::Value::Object(opts));
    b.defers = true;
    (p, b, d)
}

fn json_obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// An endpoint that takes connections and never answers (the kernel's backlog accepts them).
fn hanging() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}/introspect", l.local_addr().unwrap());
    (l, uri)
}

fn connect(p: &Plugin, b: &FakeBroker, n: usize, id: &str) -> (ClientRef<'static>, AuthResult, Duration) {
    let c = b.client(n, id);
    let t = tok(id);
    let started = Instant::now();
    let r = p.basic_auth(b, c, Some(id.as_bytes()), Some(t.as_bytes()), now_seconds());
    (c, r, started.elapsed())
}

#[test]
fn on_2_1_a_blocking_check_answers_later_and_opens_the_session_only_then() {
    let e = Endpoint::start();
    let (p, b, _d) = blocking(&e.uri, serde_json::json!({}));
    let (c, r, took) = connect(&p, &b, 1, "dev");
    assert_eq!(r, AuthResult::Delayed);
    assert!(took < Duration::from_millis(200), "BASIC_AUTH returned at once ({took:?})");
    assert!(!p.has_session(c), "nothing opens before the answer");
    assert_eq!(p.waiting_connects(), 1);
    assert!(p.next_wakeup(now_seconds()).is_some_and(|w| w - now_seconds() < 0.05), "ticks come soon");
    assert!(tick_until(&p, &b, |_| !b.completions.borrow().is_empty()), "{:?}", b.logs.borrow());
    assert_eq!(*b.completions.borrow(), [("dev".to_string(), true)]);
    assert!(p.has_session(c));
    assert_eq!(p.waiting_connects(), 0);
}

#[test]
fn on_2_1_a_revoked_token_is_refused_later_with_its_category() {
    let e = Endpoint::start();
    e.set(200, r#"{"active": false}"#);
    let (p, b, _d) = blocking(&e.uri, serde_json::json!({}));
    let (c, r, _) = connect(&p, &b, 1, "gone-token");
    assert_eq!(r, AuthResult::Delayed);
    assert!(tick_until(&p, &b, |_| !b.completions.borrow().is_empty()));
    assert_eq!(*b.completions.borrow(), [("gone-token".to_string(), false)]);
    assert!(!p.has_session(c));
    assert_eq!(p.live_sessions(), 0);
    assert!(b.logged("refused client gone-token from 127.0.0.1: token-revoked"), "{:?}", b.logs.borrow());
}

#[test]
fn on_2_1_no_answer_by_the_timeout_refuses_under_deny() {
    let (_l, uri) = hanging();
    let (p, b, _d) = blocking(&uri, serde_json::json!({"timeoutMs": 300, "onError": "deny"}));
    let (c, r, took) = connect(&p, &b, 1, "waits");
    assert_eq!(r, AuthResult::Delayed);
    assert!(took < Duration::from_millis(200), "{took:?}");
    assert!(tick_until(&p, &b, |_| !b.completions.borrow().is_empty()));
    assert_eq!(*b.completions.borrow(), [("waits".to_string(), false)]);
    assert!(!p.has_session(c));
    assert!(b.logged("refused client waits from 127.0.0.1: revocation-unchecked"), "{:?}", b.logs.borrow());
}

#[test]
fn on_2_1_no_answer_by_the_timeout_accepts_under_allow() {
    let (_l, uri) = hanging();
    let (p, b, _d) = blocking(&uri, serde_json::json!({"timeoutMs": 300, "onError": "allow"}));
    let (c, r, _) = connect(&p, &b, 1, "lenient");
    assert_eq!(r, AuthResult::Delayed);
    assert!(tick_until(&p, &b, |_| !b.completions.borrow().is_empty()));
    assert_eq!(*b.completions.borrow(), [("lenient".to_string(), true)]);
    assert!(p.has_session(c));
}

#[test]
fn on_2_1_a_client_gone_while_waiting_leaves_nothing_behind() {
    let e = Endpoint::start();
    e.set(500, "slow start");
    let (p, b, _d) = blocking(&e.uri, serde_json::json!({"onError": "allow"}));
    let (c, r, _) = connect(&p, &b, 1, "leaver");
    assert_eq!(r, AuthResult::Delayed);
    // mosquitto 2.1 raises no event for it: the fake just forgets the connection.
    b.ids.borrow_mut().remove(&c);
    assert!(tick_until(&p, &b, |_| !b.completions.borrow().is_empty()));
    assert_eq!(p.live_sessions(), 0);
    assert!(!p.tracks_revocation(), "its token is not followed");
    assert_eq!(p.waiting_connects(), 0);
}

#[test]
fn the_same_id_again_replaces_a_connect_that_went_away() {
    let (_l, uri) = hanging();
    let (p, b, _d) = blocking(&uri, serde_json::json!({"timeoutMs": 300, "onError": "allow"}));
    let (old, _, _) = connect(&p, &b, 1, "again");
    b.ids.borrow_mut().remove(&old);
    let (new, r, _) = connect(&p, &b, 2, "again");
    assert_eq!(r, AuthResult::Delayed);
    assert_eq!(p.waiting_connects(), 1);
    assert!(tick_until(&p, &b, |_| !b.completions.borrow().is_empty()));
    assert_eq!(*b.completions.borrow(), [("again".to_string(), true)], "completed once");
    assert!(p.has_session(new) && !p.has_session(old));
}

#[test]
fn on_2_0_the_blocking_check_stays_inline() {
    let e = Endpoint::start();
    let (p, mut b, _d) = blocking(&e.uri, serde_json::json!({}));
    b.defers = false;
    let (c, r, _) = connect(&p, &b, 1, "old-broker");
    assert_eq!(r, AuthResult::Accept);
    assert!(p.has_session(c));
    assert_eq!(p.waiting_connects(), 0);
    assert!(b.completions.borrow().is_empty());
}

#[test]
fn the_re_check_after_a_reload_is_never_answered_later() {
    let e = Endpoint::start();
    let (p, b, _d) = blocking(&e.uri, serde_json::json!({}));
    p.reload(&b, now_seconds());
    // mosquitto 2.1 re-runs BASIC_AUTH for connected clients and disconnects any that does not
    // get SUCCESS at once: within that pass the check stays inline.
    let (c, r, _) = connect(&p, &b, 1, "unknown-after-reload");
    assert_eq!(r, AuthResult::Accept);
    assert!(p.has_session(c));
    p.tick(&b, now_seconds());
    let (_, r, _) = connect(&p, &b, 2, "after-the-pass");
    assert_eq!(r, AuthResult::Delayed);
}

#[test]
fn a_waiting_connect_is_renamed_only_once_accepted_or_now_when_it_resumes_a_session() {
    let e = Endpoint::start();
    let (p, b, _d) = blocking(&e.uri, serde_json::json!({}));
    // matchUsernameToSubject: a CONNECT with another username is renamed to the subject.
    let (clean, resumes) = (b.client(1, "clean"), b.client(2, "resumes"));
    b.persistent.borrow_mut().insert(resumes);
    for c in [clean, resumes] {
        let id = b.client_id(c).unwrap();
        let r = p.basic_auth(&b, c, Some(b"login-name"), Some(tok(&id).as_bytes()), now_seconds());
        assert_eq!(r, AuthResult::Delayed);
    }
    assert_eq!(b.usernames.borrow().get(&clean), None, "not before the answer");
    assert_eq!(b.usernames.borrow().get(&resumes).map(String::as_str), Some("resumes"), "before its queued messages");
    assert!(tick_until(&p, &b, |_| b.completions.borrow().len() == 2), "{:?}", b.logs.borrow());
    assert_eq!(b.usernames.borrow().get(&clean).map(String::as_str), Some("clean"));
    assert!(p.has_session(clean) && p.has_session(resumes));
}
