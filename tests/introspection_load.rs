//! Revocation as an operator meets it, against a real mosquitto and the Authlib server's fault
//! switches: a SIGHUP (logrotate) during a provider outage, re-check demand above what the endpoint
//! answers, and the blocking policy without a cache. Every wait is bounded.
mod support;

use serde_json::{json, Value};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::authserver::{AuthServer, CLIENT_ID, CLIENT_SECRET};
use support::broker::{keys_dir, Broker};
use support::mqtt::{self, Connect, Outcome};

fn config(revocation: Value) -> String {
    let key = keys_dir().join("ec256.pub.pem");
    json!({"version": 1, "algorithm": "ES256", "mode": "local",
        "options": {"modes": {"local": {"filePath": key}}, "common": {"audience": "mqtt"}, "revocation": revocation}})
    .to_string()
}

fn introspection(uri: &str, extra: Value) -> Value {
    let mut r = json!({"introspection": {"uri": uri, "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}});
    r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    r
}

/// With a username: mosquitto's own re-check after a reload drops anonymous clients.
fn connected(b: &Broker, id: &str, token: &str) -> TcpStream {
    let c = Connect {
        version: 4,
        client_id: id,
        username: Some(id.as_bytes()),
        password: Some(token.as_bytes()),
        keepalive: 60,
    };
    let (s, out) = mqtt::connect(b.port, &c);
    assert_eq!(out, Outcome::Connack(0), "{id}: {}", b.log());
    s.unwrap()
}

/// Waits until the server has answered at least `n` introspection requests.
fn wait_requests(a: &AuthServer, n: u64, within: Duration) {
    let deadline = Instant::now() + within;
    while a.stats().introspect < n {
        assert!(Instant::now() < deadline, "only {} of {n} introspection requests", a.stats().introspect);
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn alive(conns: &mut [TcpStream]) -> usize {
    conns.iter_mut().map(mqtt::ping).filter(|ok| *ok).count()
}

#[test]
fn a_reload_during_a_provider_outage_disconnects_nobody() {
    let a = AuthServer::start();
    let uri = a.introspection_uri();
    let settings = json!({"recheckIntervalMs": 1000, "retryIntervalMs": 1000, "timeoutMs": 1000});
    let b = Broker::start(&config(introspection(&uri, settings.clone())));
    let tokens = a.mint(20, "o-");
    let mut conns: Vec<TcpStream> =
        tokens.iter().enumerate().map(|(i, t)| connected(&b, &format!("o-{i}"), t)).collect();
    wait_requests(&a, 20, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    a.fault("500", 0);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(alive(&mut conns), 20, "failed re-checks keep the verdict:\n{}", b.log());

    // logrotate's SIGHUP, same settings: the verdicts and the "checked" state survive it.
    b.signal("HUP");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(alive(&mut conns), 20, "a reload during the outage dropped clients:\n{}", b.log());

    // Another endpoint address (same server): the old verdicts go, but the sessions' next checks
    // are re-checks, which the outage does not turn into disconnects either.
    std::fs::write(b.dir.path().join("jwt.json"), config(introspection(&format!("{uri}?v=2"), settings))).unwrap();
    b.signal("HUP");
    assert!(b.wait_log("reloaded", Duration::from_secs(5)), "{}", b.log());
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(alive(&mut conns), 20, "a new endpoint during the outage dropped clients:\n{}", b.log());

    // The endpoint is back: a token revoked meanwhile is found by the re-checks.
    a.fault("none", 0);
    a.revoke(&tokens[7]);
    assert!(mqtt::wait_closed(&mut conns[7], Duration::from_secs(5)).is_some(), "{}", b.log());
    conns.remove(7);
    assert_eq!(alive(&mut conns), 19, "{}", b.log());
    assert!(!b.log().contains("token could not be checked"), "{}", b.log());
}

#[test]
fn rechecks_beyond_the_endpoints_capacity_never_make_a_new_client_fail() {
    const LIVE: usize = 2000;
    let a = AuthServer::start();
    let settings = json!({"recheckIntervalMs": 1000, "timeoutMs": 3000});
    let b = Broker::start(&config(introspection(&a.introspection_uri(), settings)));
    let tokens = a.mint(LIVE + 7, "live-");
    let mut conns = Vec::with_capacity(LIVE);
    // In batches, so that the live sessions' own first checks are answered in time.
    for (i, t) in tokens[..LIVE].iter().enumerate() {
        conns.push(connected(&b, &format!("live-{i}"), t));
        if i % 250 == 249 {
            wait_requests(&a, i as u64 + 1, Duration::from_secs(30));
        }
    }
    wait_requests(&a, LIVE as u64, Duration::from_secs(30));
    // 30 ms per answer and 4 workers: ~130 checks/s against 2,000 re-checks/s of demand.
    a.fault("slow", 30);
    std::thread::sleep(Duration::from_secs(3));
    // Two newcomers hold revoked tokens: their first checks are answered at once, not after the
    // re-checks queued before them.
    for (i, t) in tokens[LIVE + 5..].iter().enumerate() {
        a.revoke(t);
        let mut s = connected(&b, &format!("revoked-{i}"), t);
        let took = mqtt::wait_closed(&mut s, Duration::from_secs(5));
        eprintln!("revoked newcomer {i} disconnected after {took:?}");
        assert!(took.is_some_and(|t| t < Duration::from_millis(1500)), "{took:?}\n{}", tail(&b.log()));
        assert!(b.wait_log(&format!("disconnecting client revoked-{i}: token revoked"), Duration::from_secs(2)));
    }
    let mut fresh: Vec<TcpStream> =
        tokens[LIVE..LIVE + 5].iter().enumerate().map(|(i, t)| connected(&b, &format!("new-{i}"), t)).collect();
    std::thread::sleep(Duration::from_secs(4));
    let log = b.log();
    assert_eq!(alive(&mut fresh), 5, "new clients failed behind the re-checks:\n{}", tail(&log));
    assert_eq!(log.matches("disconnecting client").count(), 2, "{}", tail(&log));
    assert!(log.contains("cannot keep up with the re-checks"), "{}", tail(&log));
    // The live sessions are all still there.
    assert_eq!(alive(&mut conns[..100]), 100);
    a.fault("none", 0);
}

fn tail(log: &str) -> &str {
    &log[log.len().saturating_sub(4000)..]
}

#[test]
fn blocking_without_a_cache_asks_once_per_connect() {
    let a = AuthServer::start();
    let settings = json!({"policy": "blocking", "cacheTtlMs": 0, "recheckIntervalMs": 3000, "timeoutMs": 1000});
    let b = Broker::start(&config(introspection(&a.introspection_uri(), settings)));
    let tokens = a.mint(5, "blk-");
    let mut conns: Vec<TcpStream> =
        tokens.iter().enumerate().map(|(i, t)| connected(&b, &format!("blk-{i}"), t)).collect();
    // The same token again: no cache, so it is asked again, once.
    conns.push(connected(&b, "blk-again", &tokens[0]));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(a.stats().introspect, 6, "one request per CONNECT:\n{}", b.log());
    // The inline answer was the first check: a provider outage now is a failed re-check, kept.
    a.fault("500", 0);
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(alive(&mut conns), 6, "{}", b.log());
    a.fault("none", 0);
}
