//! Introspection endpoint faults with the broker under load: refusing connections, hanging past the
//! timeout, 500, malformed and huge bodies, a redirect to an endpoint that would vouch for anything.
//! Nothing is wrongly accepted (a revoked token's session ends under every fault: fail closed), no
//! CONNECT of the clients under load stalls, and the plugin recovers once the endpoint is back.
mod support;

use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::authserver::{AuthServer, CLIENT_ID, CLIENT_SECRET};
use support::broker::{free_port, keys_dir, Broker};
use support::mqtt::{self, Connect, Outcome};

fn start(uri: &str) -> Broker {
    let key = keys_dir().join("ec256.pub.pem");
    let cfg = json!({"version": 1, "algorithm": "ES256", "mode": "local",
        "options": {"modes": {"local": {"filePath": key}}, "common": {"audience": "mqtt"},
            "verifiedTokenCache": {"enabled": false},
            "revocation": {"introspection": {"uri": uri, "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET},
                "timeoutMs": 800, "recheckIntervalMs": 500, "cacheTtlMs": 100}}});
    Broker::start(&cfg.to_string())
}

fn connect(port: u16, id: &str, token: &str) -> (Option<std::net::TcpStream>, Outcome) {
    let c =
        Connect { version: 4, client_id: id, password: Some(token.as_bytes()), keepalive: 30, ..Default::default() };
    mqtt::connect(port, &c)
}

/// Clients connecting and leaving in the background.
struct Load {
    stop: Arc<AtomicBool>,
    /// Slowest CONNECT since the last reset, and how many.
    stats: Arc<Mutex<(Duration, usize)>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

fn load(port: u16, tokens: Vec<String>) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Mutex::new((Duration::ZERO, 0usize)));
    let tokens = Arc::new(tokens);
    let threads = (0..3)
        .map(|k| {
            let (stop, stats, tokens) = (stop.clone(), stats.clone(), tokens.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(60);
                let mut i = k;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && i < 100_000 {
                    let t = &tokens[i % tokens.len()];
                    let started = Instant::now();
                    let (s, _) = connect(port, &format!("load-{k}-{i}"), t);
                    let took = started.elapsed();
                    if let Some(s) = s {
                        mqtt::disconnect(s);
                    }
                    let mut st = stats.lock().unwrap();
                    st.0 = st.0.max(took);
                    st.1 += 1;
                    i += 3;
                }
            })
        })
        .collect();
    Load { stop, stats, threads }
}

#[test]
fn faults_under_load_fail_closed_without_stalling_and_recover() {
    let a = AuthServer::start();
    let b = start(&a.introspection_uri());
    let Load { stop, stats, threads } = load(b.port, a.mint(60, "load-"));
    for (mode, ms) in [("hang", 3000), ("500", 0), ("garbage", 0), ("huge", 0), ("redirect", 0)] {
        // A token the provider has revoked: under every fault its session must end (the check fails,
        // onError is "deny"), and a redirect must not be followed to an endpoint that says "active".
        let t = a.token(&format!("victim-{mode}"));
        a.revoke(&t);
        a.fault(mode, ms);
        *stats.lock().unwrap() = (Duration::ZERO, 0);
        let (s, out) = connect(b.port, &format!("victim-{mode}"), &t);
        if let Some(mut s) = s {
            assert_eq!(out, Outcome::Connack(0));
            assert!(
                mqtt::wait_closed(&mut s, Duration::from_secs(5)).is_some(),
                "{mode}: revoked token stayed:\n{}",
                b.log()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
        let (slowest, n) = *stats.lock().unwrap();
        assert!(n > 0, "{mode}: no load");
        assert!(slowest < Duration::from_millis(500), "{mode}: a CONNECT took {slowest:?} while the endpoint failed");
        a.fault("none", 0);
    }
    // Back to normal: a fresh good token stays through several re-checks.
    let good = a.token("after");
    let (s, out) = connect(b.port, "after", &good);
    assert_eq!(out, Outcome::Connack(0), "{}", b.log());
    let mut s = s.unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(mqtt::ping(&mut s), "recovered endpoint, good token dropped:\n{}", b.log());
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    assert!(b.wait_log("revocation check failed", Duration::from_secs(3)), "{}", b.log());
}

#[test]
fn an_endpoint_refusing_connections_fails_closed_without_stalling() {
    let a = AuthServer::start();
    let dead = format!("http://127.0.0.1:{}/introspect", free_port());
    let b = start(&dead);
    let t = a.token("anyone");
    let started = Instant::now();
    let (s, out) = connect(b.port, "anyone", &t);
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(out, Outcome::Connack(0));
    let mut s = s.unwrap();
    assert!(mqtt::wait_closed(&mut s, Duration::from_secs(5)).is_some(), "{}", b.log());
    assert!(b.wait_log("revocation check failed", Duration::from_secs(2)), "{}", b.log());
}
