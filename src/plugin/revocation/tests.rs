//! plugin/revocation.rs against the fake broker and a loopback HTTP endpoint whose answer the test
//! switches: the tracker across reloads (same or another endpoint), the blocking policy's inline
//! answer as the first check, and cached verdicts at CONNECT.
use super::State;
use crate::cache::digest;
use crate::host::*;
use crate::introspect::Verdict;
use crate::net::introspect::Introspector;
use crate::plugin::fake::FakeBroker;
use crate::plugin::*;
use parking_lot::Mutex;
use serde_json::json;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SECRET: &str = "revocation-unit-test-secret-0123";

/// An introspection endpoint on loopback: answers every request with the current (status, body).
pub(crate) struct Endpoint {
    pub(crate) uri: String,
    answer: Arc<Mutex<(u16, String)>>,
    requests: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Endpoint {
    pub(crate) fn start() -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let uri = format!("http://{}/introspect", listener.local_addr().unwrap());
        let answer = Arc::new(Mutex::new((200, r#"{"active": true}"#.to_string())));
        let requests = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, n, s) = (answer.clone(), requests.clone(), stop.clone());
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(60);
            while !s.load(Ordering::Relaxed) && Instant::now() < until {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (a, n) = (a.clone(), n.clone());
                        std::thread::spawn(move || serve(conn, &a, &n));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Endpoint { uri, answer, requests, stop }
    }

    pub(crate) fn set(&self, status: u16, body: &str) {
        *self.answer.lock() = (status, body.to_string());
    }

    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// HTTP/1.1 with keep-alive, at most 1,000 requests per connection.
fn serve(conn: std::net::TcpStream, answer: &Mutex<(u16, String)>, requests: &AtomicU64) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = std::io::BufReader::new(conn);
    for _ in 0..1000 {
        if crate::net::canned::read_request(&mut r).is_none() {
            return;
        }
        requests.fetch_add(1, Ordering::Relaxed);
        let (status, text) = answer.lock().clone();
        if !crate::net::canned::write_answer(r.get_mut(), status, &text, false) {
            return;
        }
    }
}

fn write_config(file: &std::path::Path, uri: &str, extra: serde_json::Value) {
    let mut revocation = json!({"introspection": {"uri": uri, "clientId": "c", "clientSecret": "s"},
        "recheckIntervalMs": 300, "retryIntervalMs": 300, "timeoutMs": 1000});
    for (k, v) in extra.as_object().unwrap() {
        revocation[k] = v.clone();
    }
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": SECRET}, "common": {"matchUsernameToSubject": true}, "revocation": revocation}});
    std::fs::write(file, cfg.to_string()).unwrap();
}

pub(crate) fn plugin(uri: &str, extra: serde_json::Value) -> (Plugin, FakeBroker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_config(&dir.path().join("jwt.json"), uri, extra);
    let b = FakeBroker::default();
    let p = Plugin::load(&b, &dir.path().join("jwt.json")).unwrap();
    (p, b, dir)
}

pub(crate) fn tok(sub: &str) -> String {
    let claims = json!({"sub": sub, "exp": now_seconds() + 3600.0});
    crate::keys::hs256_token(SECRET, &claims)
}

/// Ticks (bounded) until `done` holds.
pub(crate) fn tick_until(p: &Plugin, b: &FakeBroker, done: impl Fn(&Plugin) -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        p.tick(b, now_seconds());
        if done(p) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn ticks_for(p: &Plugin, b: &FakeBroker, d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        p.tick(b, now_seconds());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn checked(p: &Plugin, token: &str) -> Option<Verdict> {
    p.revocation.borrow_mut().tracker.as_ref().and_then(|t| t.cached(&digest(token), now_seconds()))
}

/// A connected client whose token has been answered active once.
fn checked_client(p: &Plugin, b: &FakeBroker, n: usize, id: &str) -> (ClientRef<'static>, String) {
    let c = b.client(n, id);
    let t = tok(id);
    assert_eq!(p.basic_auth(b, c, Some(id.as_bytes()), Some(t.as_bytes()), now_seconds()), AuthResult::Accept);
    assert!(tick_until(p, b, |p| checked(p, &t) == Some(Verdict::Active)), "{:?}", b.logs.borrow());
    (c, t)
}

#[test]
fn a_reload_with_the_same_endpoint_keeps_verdicts_and_checked_sessions() {
    let e = Endpoint::start();
    let (p, b, _dir) = plugin(&e.uri, json!({}));
    let (c, t) = checked_client(&p, &b, 1, "dev");
    let before = p.revocation.borrow_mut().generation;
    e.set(500, "down");
    p.reload(&b, now_seconds());
    // mosquitto re-runs BASIC_AUTH for every client after a reload.
    assert_eq!(p.basic_auth(&b, c, Some(b"dev"), Some(t.as_bytes()), now_seconds()), AuthResult::Accept);
    assert_ne!(p.revocation.borrow_mut().generation, before, "the new configuration is told apart by generation");
    assert_eq!(checked(&p, &t), Some(Verdict::Active), "the verdict survived the reload");
    let asked = e.requests();
    ticks_for(&p, &b, Duration::from_millis(900));
    assert!(e.requests() > asked, "re-checks go on against the failing endpoint");
    assert!(b.kicks.borrow().is_empty(), "failed re-checks keep the verdict: {:?}", b.logs.borrow());
    // A new client's first check still fails closed during the outage.
    let other = b.client(2, "new");
    assert_eq!(p.basic_auth(&b, other, Some(b"new"), Some(tok("new").as_bytes()), now_seconds()), AuthResult::Accept);
    assert!(tick_until(&p, &b, |_| !b.kicks.borrow().is_empty()));
    // Without a revocation answer the will is not published (a revoked token's never is).
    assert_eq!(*b.kicks.borrow(), vec![("new".to_string(), false)]);
}

#[test]
fn another_endpoint_drops_the_verdicts_but_rechecks_instead_of_disconnecting() {
    let e = Endpoint::start();
    let (p, b, dir) = plugin(&e.uri, json!({}));
    let (c, t) = checked_client(&p, &b, 1, "dev");
    e.set(500, "down");
    write_config(&dir.path().join("jwt.json"), &format!("{}?other", e.uri), json!({}));
    p.reload(&b, now_seconds());
    assert_eq!(p.basic_auth(&b, c, Some(b"dev"), Some(t.as_bytes()), now_seconds()), AuthResult::Accept);
    assert_eq!(checked(&p, &t), None, "verdicts of the old endpoint are gone");
    ticks_for(&p, &b, Duration::from_millis(900));
    assert!(b.kicks.borrow().is_empty(), "{:?}", b.logs.borrow());
    // Back up and saying "revoked": the re-check ends the session.
    e.set(200, r#"{"active": false}"#);
    assert!(tick_until(&p, &b, |_| !b.kicks.borrow().is_empty()), "{:?}", b.logs.borrow());
    assert!(b.logged("disconnecting client dev: token revoked"));
}

#[test]
fn the_blocking_answer_is_the_first_check() {
    let e = Endpoint::start();
    let (p, b, _dir) = plugin(&e.uri, json!({"policy": "blocking", "cacheTtlMs": 0, "recheckIntervalMs": 60000}));
    for i in 0..3 {
        let id = format!("b{i}");
        let c = b.client(i, &id);
        let t = tok(&id);
        assert_eq!(p.basic_auth(&b, c, Some(id.as_bytes()), Some(t.as_bytes()), now_seconds()), AuthResult::Accept);
    }
    ticks_for(&p, &b, Duration::from_millis(300));
    assert_eq!(e.requests(), 3, "one request per CONNECT");
    let tracker = p.revocation.borrow_mut();
    assert_eq!(tracker.tracker.as_ref().map(|t| t.tracked()), Some(3));
    drop(tracker);
    assert_eq!(p.metrics.introspection_blocking_calls.load(Ordering::Relaxed), 3);
    // Revoked: refused inline, and the inactive verdict is kept (until exp) even with cacheTtlMs 0.
    e.set(200, r#"{"active": false}"#);
    let c = b.client(9, "gone");
    let t = tok("gone");
    assert_eq!(p.basic_auth(&b, c, Some(b"gone"), Some(t.as_bytes()), now_seconds()), AuthResult::Refuse);
    assert_eq!(p.basic_auth(&b, c, Some(b"gone"), Some(t.as_bytes()), now_seconds()), AuthResult::Refuse);
    assert_eq!(e.requests(), 4, "the second refusal came from the cache");
}

#[test]
fn the_recheck_budget_follows_the_workers_and_refills_over_time() {
    use crate::config::{Introspection, Secret};
    use crate::net::introspect::request::{Checker, Url};
    let cfg = Introspection {
        uri: Some("http://127.0.0.1:9/x".into()),
        client_id: "c".into(),
        client_secret: Secret::Plain("s".into()),
        include_token_type_hint: false,
    };
    let timeout = Duration::from_secs(1);
    let checker = Checker::introspection(&cfg, "s".into(), Url::Fixed("http://127.0.0.1:9/x".into()), timeout);
    let intro = Introspector::new(checker, timeout, 100, 4, crate::notices::Notices::default(), Default::default());
    // 4 workers at the assumed 50 ms: 80/s, of which re-checks get 80 %; at most a second's worth.
    let mut st = State::default();
    assert_eq!(st.budget(&intro, 1000.0), 64);
    st.credit -= 64.0;
    assert_eq!(st.budget(&intro, 1000.5), 32);
    assert_eq!(st.budget(&intro, 1010.0), 64, "credit does not pile up beyond a second's worth");
}
