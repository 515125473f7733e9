//! Identity-provider faults with the broker under load: the JWKS endpoint refusing connections,
//! resetting them, hanging past the timeout, answering 500, garbage, an empty set, a huge body, a
//! redirect to other keys, and keys rotating mid-storm. During each fault, connect threads keep
//! hammering the broker with good tokens (which must keep being accepted: the last good key set is
//! kept) and forged ones (never accepted); every CONNECT must be answered promptly (no fetch ever
//! runs on the broker thread); after each fault the provider rotates its keys and the plugin must pick
//! them up on its own. Introspection faults are not covered yet (introspection is being built).
mod support;

use mqtt_jwt_auth::alg::Alg;
use mqtt_jwt_auth::keys::Signer;
use serde_json::json;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::broker::Broker;
use support::idp::Idp;
use support::mqtt::{self, Connect, Outcome};
use support::tokens;

const ACCEPTED: Outcome = Outcome::Connack(0);
const RESOURCE: &str = "urn:mqtt:rs256";
/// The plugin's HTTP timeout in these tests.
const TIMEOUT_MS: u64 = 1000;
/// A CONNECT answered later than this means something stalled the broker thread.
const MAX_LATENCY: Duration = Duration::from_millis(1500);
const LOAD_THREADS: usize = 3;
/// Idle connected clients held during the whole test (the broker is not empty while it fetches).
const IDLE_CLIENTS: usize = 200;

fn broker(idp: &Idp) -> Broker {
    let cfg = json!({
        "version": 1, "algorithm": ["RS256", "ES256"], "mode": "jwks",
        "options": {
            "modes": {"jwks": {"uri": idp.jwks_uri(), "timeoutMs": TIMEOUT_MS,
                               "cache": {"ttlMs": 300}, "minRefreshIntervalMs": 200}},
            "common": {"issuer": idp.issuer, "audience": "urn:mqtt:*"}
        }
    });
    Broker::start(&cfg.to_string())
}

/// A token that looks like the provider's (same iss, aud, kid) but is signed with the test suite's
/// own RSA key, which the redirect fault serves as /fixture-jwks: accepting it means foreign keys
/// were trusted.
fn forged(issuer: &str, kid: &str) -> String {
    let claims = tokens::claims("intruder", json!({"iss": issuer, "aud": RESOURCE}));
    let key = Signer::new(Alg::RS256, &tokens::key_file("rsa.key")).unwrap();
    tokens::sign_with(&key, Some(kid), &claims)
}

fn kid_of(token: &str) -> String {
    use base64::Engine;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap();
    serde_json::from_slice::<serde_json::Value>(&header).unwrap()["kid"].as_str().unwrap().to_string()
}

#[derive(Default, Debug)]
struct Tally {
    good_accepted: u64,
    good_refused: u64,
    forged_accepted: u64,
    forged_refused: u64,
    unanswered: u64,
    slowest: Duration,
}

/// Connect threads: each loop sends a good then a forged CONNECT; `good` may be swapped mid-run.
struct Load {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16, good: Arc<Mutex<String>>, forged: Vec<String>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let threads = (0..LOAD_THREADS)
            .map(|i| {
                let (stop, tally, good, forged) = (stop.clone(), tally.clone(), good.clone(), forged.clone());
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let g = good.lock().unwrap().clone();
                        let tokens =
                            std::iter::once((true, g.as_str())).chain(forged.iter().map(|f| (false, f.as_str())));
                        for (is_good, token) in tokens {
                            let id = format!("load-{i}-{n}-{}", if is_good { "g" } else { "f" });
                            let c = Connect {
                                version: 4,
                                client_id: &id,
                                password: Some(token.as_bytes()),
                                ..Default::default()
                            };
                            let t0 = Instant::now();
                            let (s, out) = mqtt::connect(port, &c);
                            let took = t0.elapsed();
                            if let Some(s) = s {
                                mqtt::disconnect(s);
                            }
                            let mut t = tally.lock().unwrap();
                            t.slowest = t.slowest.max(took);
                            match (is_good, out) {
                                (_, Outcome::Closed) => t.unanswered += 1,
                                (true, ACCEPTED) => t.good_accepted += 1,
                                (true, _) => t.good_refused += 1,
                                (false, ACCEPTED) => t.forged_accepted += 1,
                                (false, _) => t.forged_refused += 1,
                            }
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                })
            })
            .collect();
        Load { stop, tally, threads }
    }

    fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        std::mem::take(&mut *self.tally.lock().unwrap())
    }
}

/// Connects every 100 ms until accepted: how long it took, or None after `within`.
fn accepted_within(b: &Broker, token: &str, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < within {
        n += 1;
        if mqtt::connect_with_password(b.port, &format!("recover-{n}"), None, token) == ACCEPTED {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn idle_clients(b: &Broker, token: &str) -> Vec<TcpStream> {
    (0..IDLE_CLIENTS)
        .map(|i| {
            let id = format!("idle-{i}");
            let c = Connect {
                version: 4,
                client_id: &id,
                password: Some(token.as_bytes()),
                keepalive: 600,
                ..Default::default()
            };
            let (s, out) = mqtt::connect(b.port, &c);
            assert_eq!(out, ACCEPTED, "{}", b.log());
            s.unwrap()
        })
        .collect()
}

#[test]
fn jwks_faults_under_load_never_accept_forgeries_never_stall_and_recover() {
    let mut idp = Some(Idp::start());
    let (port, issuer) = {
        let i = idp.as_ref().unwrap();
        (i.port, i.issuer.clone())
    };
    let mut b = broker(idp.as_ref().unwrap());
    let mut good = idp.as_ref().unwrap().token(RESOURCE);
    let idle = idle_clients(&b, &good);
    let mut report = Vec::new();
    // (fault mode, a log fragment the failed refreshes must produce)
    let faults = [
        ("refuse", "Connection refused".to_string()),
        ("reset", "cannot refresh keys from".to_string()),
        ("hang", format!("timed out after {TIMEOUT_MS} ms")),
        ("500", "HTTP status 500".to_string()),
        ("garbage", "cannot refresh keys from".to_string()),
        ("empty", "cannot refresh keys from".to_string()),
        ("huge", "response larger than".to_string()),
        ("redirect", "HTTP status 302".to_string()),
    ];
    for (mode, line) in &faults {
        let log_from = b.log().len();
        // Forgeries: the provider's current kid, and a kid of the keys the redirect points to.
        let forgeries = vec![forged(&issuer, &kid_of(&good)), forged(&issuer, "rsa-1")];
        if *mode == "refuse" {
            // Nothing listens on the provider's port any more: connections are refused.
            drop(idp.take());
        } else {
            idp.as_ref().unwrap().fault(mode, 0);
        }
        let load = Load::start(b.port, Arc::new(Mutex::new(good.clone())), forgeries);
        // Long enough for several refresh attempts (TTL 300 ms) and a hang past the timeout.
        std::thread::sleep(Duration::from_millis(2500));
        let t = load.finish();
        let seen = b.log()[log_from..].contains(line.as_str());
        match idp.as_ref() {
            Some(i) => i.fault("none", 0),
            None => idp = Some(Idp::start_on(port)),
        }
        let i = idp.as_ref().unwrap();
        report.push(format!("{mode}: {t:?}, log line seen: {seen}"));
        assert_eq!(t.forged_accepted, 0, "{mode}: forged token accepted\n{}", b.log());
        assert_eq!(t.unanswered, 0, "{mode}: CONNECTs left unanswered {t:?}");
        assert_eq!(t.good_refused, 0, "{mode}: the last good key set was not kept {t:?}\n{}", b.log());
        assert!(t.good_accepted > 10, "{mode}: too little load {t:?}");
        assert!(t.slowest < MAX_LATENCY, "{mode}: the broker stalled: {t:?}");
        assert!(seen, "{mode}: no '{line}' in the log\n{}", &b.log()[log_from..]);
        assert!(b.is_alive());
        // Recovery: new keys at the provider; a token signed with them is accepted on its own.
        let kids = i.rotate();
        good = i.token(RESOURCE);
        assert!(kids.contains(&kid_of(&good)));
        let took = accepted_within(&b, &good, Duration::from_secs(5));
        report.push(format!("{mode}: new keys accepted after {took:?}"));
        assert!(took.is_some(), "{mode}: no recovery\n{}", &b.log()[log_from..]);
    }
    assert!(b.is_alive());
    drop(idle);
    println!("{}", report.join("\n"));
}

#[test]
fn keys_rotating_mid_storm() {
    let idp = Idp::start();
    let mut b = broker(&idp);
    let old = idp.token(RESOURCE);
    let shared = Arc::new(Mutex::new(old.clone()));
    let load = Load::start(b.port, shared.clone(), vec![forged(&idp.issuer, &kid_of(&old))]);
    std::thread::sleep(Duration::from_millis(1000));
    let kids = idp.rotate();
    let new = idp.token(RESOURCE);
    assert!(kids.contains(&kid_of(&new)));
    // The storm switches to the new token at once: refused (unknown kid) until the background
    // refresh it triggers has run, then accepted.
    *shared.lock().unwrap() = new.clone();
    let rotated = Instant::now();
    let took = accepted_within(&b, &new, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1000));
    let t = load.finish();
    println!("rotation mid-storm: new token accepted after {took:?}, {t:?}");
    assert!(took.is_some(), "new keys never picked up\n{}", b.log());
    assert!(rotated.elapsed() < Duration::from_secs(10));
    assert_eq!(t.forged_accepted, 0);
    assert_eq!(t.unanswered, 0, "{t:?}");
    assert!(t.slowest < MAX_LATENCY, "the broker stalled: {t:?}");
    assert!(b.wait_log("unknown-kid", Duration::from_secs(3)), "{}", b.log());
    // After the refresh the old token is refused: its key is no longer published.
    assert_ne!(mqtt::connect_with_password(b.port, "old", None, &old), ACCEPTED);
    assert!(b.is_alive());
}
