//! Revocation through a real OAuth2 authorization server (Authlib, tests/authserver) and a real
//! mosquitto: active tokens stay, revoked ones are disconnected within the re-check interval, a
//! down / slow / hanging / garbage endpoint gets the configured policy and never delays CONNECTs,
//! and each distinct token costs at most one introspection request. Every wait is bounded.
mod support;

use serde_json::{json, Value};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::authserver::{AuthServer, CLIENT_ID, CLIENT_SECRET};
use support::broker::{free_port, keys_dir, Broker};
use support::mqtt::{self, Connect, Outcome};

const ACCEPTED: Outcome = Outcome::Connack(0);
const NOT_AUTHORISED: Outcome = Outcome::Connack(5);

/// ES256 tokens from the server, verified locally with the fixture public key.
fn start(revocation: Value) -> Broker {
    let key = keys_dir().join("ec256.pub.pem");
    let cfg = json!({"version": 1, "algorithm": "ES256", "mode": "local",
        "options": {"modes": {"local": {"filePath": key}}, "common": {"audience": "mqtt"}, "revocation": revocation}});
    Broker::start(&cfg.to_string())
}

fn introspection(uri: &str, extra: Value) -> Value {
    let mut r = json!({"introspection": {"uri": uri, "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}});
    r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    r
}

fn connect(b: &Broker, id: &str, token: &str) -> (Option<TcpStream>, Outcome) {
    let c =
        Connect { version: 4, client_id: id, password: Some(token.as_bytes()), keepalive: 30, ..Default::default() };
    mqtt::connect(b.port, &c)
}

fn connected(b: &Broker, id: &str, token: &str) -> TcpStream {
    let (s, out) = connect(b, id, token);
    assert_eq!(out, ACCEPTED, "{}", b.log());
    s.unwrap()
}

#[test]
fn active_token_stays_and_a_revoked_one_is_disconnected_within_the_interval() {
    let a = AuthServer::start();
    let b = start(introspection(&a.introspection_uri(), json!({"recheckIntervalMs": 1000})));
    let keep = a.token("keeper");
    let doomed = a.token("doomed");
    let mut k = connected(&b, "keeper", &keep);
    let mut d = connected(&b, "doomed", &doomed);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(mqtt::ping(&mut k) && mqtt::ping(&mut d), "{}", b.log());
    let revoked_at = Instant::now();
    a.revoke(&doomed);
    assert!(mqtt::wait_closed(&mut d, Duration::from_secs(5)).is_some(), "not disconnected:\n{}", b.log());
    let took = revoked_at.elapsed();
    eprintln!("revoked token disconnected {} ms after revocation (interval 1000 ms)", took.as_millis());
    assert!(took < Duration::from_millis(1800), "{took:?}");
    assert!(b.wait_log("disconnecting client doomed: token revoked", Duration::from_secs(2)), "{}", b.log());
    assert!(mqtt::ping(&mut k), "the active client was dropped:\n{}", b.log());
    // The inactive verdict is cached: the revoked token is refused at once, without a request.
    let before = a.stats().introspect;
    assert_eq!(connect(&b, "doomed", &doomed).1, NOT_AUTHORISED);
    assert!(b.wait_log("refused client doomed from 127.0.0.1: token-revoked", Duration::from_secs(2)), "{}", b.log());
    assert_eq!(a.stats().introspect, before);
    assert!(!b.log().contains(&doomed), "a token reached the log");
}

#[test]
fn endpoint_from_discovery_and_a_custom_plain_endpoint() {
    let a = AuthServer::start();
    let cfg = json!({"version": 1, "algorithm": "ES256", "mode": "jwks",
        "options": {"modes": {"jwks": {"discovery": true}}, "common": {"issuer": a.issuer},
            "revocation": {"introspection": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET,
                                             "includeTokenTypehint": true},
                           "recheckIntervalMs": 500}}});
    let b = Broker::start(&cfg.to_string());
    let t = a.token("disc");
    let mut s = connected(&b, "disc", &t);
    a.revoke(&t);
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(4)).is_some(), "discovery:\n{}", b.log());

    let plain = json!({"plain": {"uri": a.issuer, "bodyEncoding": "form",
        "requestParameters": {"method": "POST", "path": "/introspect",
            "headers": {"Authorization": format!("Basic {}", basic(CLIENT_ID, CLIENT_SECRET))},
            "payload": {"token": "#:jwt_value:#"}},
        "response": {"jsonPath": "$.active", "successValue": true}, "successHttpCodes": [200]},
        "recheckIntervalMs": 500});
    let b = start(plain);
    let t = a.token("plain");
    let mut s = connected(&b, "plain", &t);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(mqtt::ping(&mut s), "{}", b.log());
    a.revoke(&t);
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(4)).is_some(), "plain:\n{}", b.log());
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

/// Connects with a fresh token and reports whether the client is still there after `wait`.
fn survives(a: &AuthServer, b: &Broker, id: &str, wait: Duration) -> bool {
    let mut s = connected(b, id, &a.token(id));
    mqtt::wait_closed(&mut s, wait).is_none()
}

#[test]
fn a_failing_first_check_fails_closed_by_default() {
    let a = AuthServer::start();
    let dead = format!("http://127.0.0.1:{}/introspect", free_port());
    let b = start(introspection(&dead, json!({"timeoutMs": 800})));
    assert!(!survives(&a, &b, "down", Duration::from_secs(4)), "endpoint down:\n{}", b.log());
    assert!(b.wait_log("disconnecting client down: token could not be checked", Duration::from_secs(2)));
    let b = start(introspection(&a.introspection_uri(), json!({"timeoutMs": 800})));
    for (mode, ms) in [("500", 0), ("garbage", 0), ("hang", 5000)] {
        a.fault(mode, ms);
        let id = format!("f-{mode}");
        let started = Instant::now();
        assert!(!survives(&a, &b, &id, Duration::from_secs(4)), "{mode}: still connected\n{}", b.log());
        eprintln!("{mode}: disconnected after {} ms", started.elapsed().as_millis());
    }
    a.fault("none", 0);
    let log = b.log();
    assert!(log.contains("revocation check failed: HTTP status 500"), "{log}");
    assert!(log.contains("revocation check failed: the answer is not JSON"), "{log}");
    assert!(log.contains("revocation check failed: no answer within 800 ms"), "{log}");
    assert!(log.contains("(3 failure(s) so far)"), "{log}");
}

#[test]
fn fail_open_keeps_clients_and_a_failed_recheck_keeps_the_verdict() {
    let a = AuthServer::start();
    let b = start(introspection(
        &a.introspection_uri(),
        json!({"onError": "allow", "timeoutMs": 500, "recheckIntervalMs": 500, "retryIntervalMs": 300}),
    ));
    a.fault("500", 0);
    assert!(survives(&a, &b, "open", Duration::from_secs(2)), "fail open:\n{}", b.log());
    a.fault("none", 0);
    // Checked once, then the provider fails: the last verdict (active) holds.
    let mut s = connected(&b, "kept", &a.token("kept"));
    std::thread::sleep(Duration::from_millis(800));
    a.fault("hang", 3000);
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(2)).is_none(), "outage dropped a client:\n{}", b.log());
    a.fault("none", 0);

    // keepVerdictOnRecheckFailure: false with onError deny: an outage ends live sessions.
    let b = start(introspection(
        &a.introspection_uri(),
        json!({"keepVerdictOnRecheckFailure": false, "timeoutMs": 500, "recheckIntervalMs": 500}),
    ));
    let mut s = connected(&b, "strict", &a.token("strict"));
    std::thread::sleep(Duration::from_millis(800));
    a.fault("500", 0);
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(3)).is_some(), "{}", b.log());
    a.fault("none", 0);
}

#[test]
fn connects_do_not_wait_while_the_endpoint_hangs() {
    let a = AuthServer::start();
    let b = start(introspection(&a.introspection_uri(), json!({"timeoutMs": 10000, "onError": "allow"})));
    let tokens: Vec<String> = (0..30).map(|i| a.token(&format!("h{i}"))).collect();
    a.fault("hang", 8000);
    let mut took = Vec::new();
    let mut conns = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let started = Instant::now();
        conns.push(connected(&b, &format!("h{i}"), t));
        took.push(started.elapsed());
    }
    took.sort();
    let (p50, max) = (took[took.len() / 2], took[took.len() - 1]);
    eprintln!("CONNECT latency while the endpoint hangs: p50 {} µs, max {} µs", p50.as_micros(), max.as_micros());
    assert!(max < Duration::from_millis(250), "a CONNECT waited {max:?}");
    // The workers are all stuck in the hang, yet the broker answers at once.
    assert!(conns.iter_mut().all(mqtt::ping));
    a.fault("none", 0);
}

#[test]
fn the_blocking_policy_holds_the_connect_and_refuses_revoked_tokens() {
    let a = AuthServer::start();
    let b = start(introspection(&a.introspection_uri(), json!({"policy": "blocking", "timeoutMs": 600})));
    let t = a.token("blk");
    a.fault("slow", 300);
    let started = Instant::now();
    assert_eq!(connect(&b, "blk", &t).1, ACCEPTED, "{}", b.log());
    assert!(started.elapsed() >= Duration::from_millis(300));
    a.fault("none", 0);
    let r = a.token("blk-r");
    a.revoke(&r);
    assert_eq!(connect(&b, "blk-r", &r).1, NOT_AUTHORISED);
    assert!(b.wait_log("refused client blk-r from 127.0.0.1: token-revoked", Duration::from_secs(2)));
    a.fault("hang", 3000);
    let started = Instant::now();
    assert_eq!(connect(&b, "blk-h", &a.token("blk-h")).1, NOT_AUTHORISED);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(550) && waited < Duration::from_millis(2000), "{waited:?}");
    assert!(b.wait_log("refused client blk-h from 127.0.0.1: revocation-unchecked", Duration::from_secs(2)));
    a.fault("none", 0);
}

#[test]
fn five_thousand_distinct_tokens_make_at_most_one_request_each() {
    const N: usize = 5000;
    let a = AuthServer::start();
    let b = start(introspection(&a.introspection_uri(), json!({"timeoutMs": 60000})));
    let tokens = a.mint(N, "bulk-");
    a.fault("slow", 5);
    let started = Instant::now();
    for (i, t) in tokens.iter().enumerate() {
        assert_eq!(connect(&b, &format!("bulk-{i}"), t).1, ACCEPTED, "{}", b.log());
        // Duplicates while the first check is queued or in flight, and after it is cached.
        if i % 10 == 0 {
            assert_eq!(connect(&b, &format!("dup-{i}"), t).1, ACCEPTED);
        }
    }
    let connects = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut s = a.stats();
    while s.introspect < N as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        s = a.stats();
    }
    std::thread::sleep(Duration::from_millis(500));
    s = a.stats();
    eprintln!(
        "{} CONNECTs ({N} distinct tokens) in {} ms: {} introspection requests, {} distinct, at most {} per token",
        N + N / 10,
        connects.as_millis(),
        s.introspect,
        s.distinct,
        s.max_per_token
    );
    assert_eq!(s.max_per_token, 1, "a token was introspected twice");
    assert_eq!(s.distinct, N as u64);
    a.fault("none", 0);
}
