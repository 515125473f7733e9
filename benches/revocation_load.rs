//! Revocation under load, against a real mosquitto with this plugin and the Authlib server's "any"
//! fault mode (every token active after a set delay, unless denied), two scenarios:
//!
//! overload: LIVE sessions whose re-checks ask twice what the endpoint can answer (default 1,600
//!   sessions every 10 s = 160/s against 4 workers x 50 ms = 80/s). Meanwhile a newcomer with a
//!   denied token connects every 200 ms; the time from its CONNACK to its disconnection is its first
//!   check's latency (plus at most one tick). Reported: p50 / p90 / p99 / max, newcomers never
//!   disconnected, and over the same window the introspection requests made and the re-checks shed
//!   (the plugin's metrics summary line).
//! memory: two rounds of MEM_N (default 20,000) clients with distinct short-lived tokens (MEM_TTL,
//!   default 60 s) that connect and leave; the broker's RSS after each round once its tokens have
//!   expired, with and without options.revocation. Checked: the second round grows RSS no more with
//!   revocation than without, plus 1 MiB.
//!
//! REVOCATION_BENCH=overload|memory|all (default all); OVERLOAD_LIVE, OVERLOAD_INTERVAL_MS,
//! OVERLOAD_LATENCY_MS, OVERLOAD_WORKERS, OVERLOAD_SECONDS; MEM_N, MEM_TTL, MEM_THREADS;
//! MQTT_JWT_PLUGIN (e.g. another build to compare). Every wait is bounded.
#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use common::{env_usize, percentile, rss_kib};
use mqtt_jwt_auth::alg::Alg;
use mqtt_jwt_auth::keys::Signer;
use serde_json::json;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::authserver::{AuthServer, CLIENT_ID, CLIENT_SECRET};
use support::broker::Broker;
use support::mqtt::{self, Connect, Outcome};
use support::tokens::{self, HS_SECRET};

fn die(msg: &str) -> ! {
    eprintln!("FAIL revocation_load: {msg}");
    std::process::exit(1);
}

fn config(revocation: Option<serde_json::Value>) -> String {
    let mut options = json!({"modes": {"local": HS_SECRET},
        "metrics": {"intervalSeconds": 3600, "logIntervalSeconds": 2}});
    if let Some(r) = revocation {
        options["revocation"] = r;
    }
    json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": options}).to_string()
}

fn introspection(a: &AuthServer, extra: serde_json::Value) -> serde_json::Value {
    let mut r =
        json!({"introspection": {"uri": a.introspection_uri(), "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}});
    r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    r
}

fn token(key: &Signer, id: &str, ttl: i64) -> String {
    let claims = json!({"sub": id, "iat": tokens::now(), "exp": tokens::now() + ttl, "jti": id});
    tokens::sign_with(key, None, &claims)
}

fn connect(b: &Broker, id: &str, token: &str) -> (Option<TcpStream>, Outcome) {
    let c = Connect {
        version: 4,
        client_id: id,
        username: Some(id.as_bytes()),
        password: Some(token.as_bytes()),
        keepalive: 900,
    };
    mqtt::connect(b.port, &c)
}

fn wait_requests(a: &AuthServer, n: u64, within: Duration) {
    let deadline = Instant::now() + within;
    while a.stats().introspect < n {
        if Instant::now() > deadline {
            die(&format!("only {} of {n} introspection requests answered", a.stats().introspect));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The latest value of `field` ("re-checks shed", "introspection calls") in the metrics summary.
fn summary(log: &str, field: &str) -> u64 {
    let line = log.lines().rev().find(|l| l.contains("jwt-auth: metrics:")).unwrap_or("");
    line.split(field)
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).find(|s| !s.is_empty()))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Waits for a metrics summary line newer than the log's current length.
fn fresh_summary(b: &Broker) -> String {
    let from = b.log().len();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let log = b.log();
        if log[from..].contains("jwt-auth: metrics:") {
            return log;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    die("no metrics summary line");
}

fn overload() {
    let live = env_usize("OVERLOAD_LIVE", 1600);
    let interval_ms = env_usize("OVERLOAD_INTERVAL_MS", 10_000);
    let latency_ms = env_usize("OVERLOAD_LATENCY_MS", 50);
    let workers = env_usize("OVERLOAD_WORKERS", 4);
    let seconds = env_usize("OVERLOAD_SECONDS", 30);
    let capacity = workers as f64 * 1000.0 / latency_ms as f64;
    let demand = live as f64 * 1000.0 / interval_ms as f64;
    println!(
        "overload: {live} live sessions re-checked every {interval_ms} ms = {demand:.0}/s; endpoint {latency_ms} ms x \
         {workers} workers = {capacity:.0}/s ({:.1}x over)",
        demand / capacity
    );
    let a = AuthServer::start();
    a.fault("any", 0);
    let settings = json!({"workers": workers, "recheckIntervalMs": interval_ms, "timeoutMs": 5000});
    let b = Broker::start(&config(Some(introspection(&a, settings))));
    let key = Signer::new(Alg::HS256, HS_SECRET.as_bytes()).unwrap();
    let mut conns = Vec::with_capacity(live);
    for i in 0..live {
        let id = format!("live-{i}");
        match connect(&b, &id, &token(&key, &id, 3600)) {
            (Some(s), Outcome::Connack(0)) => conns.push(s),
            other => die(&format!("{id}: {:?}", other.1)),
        }
        if i % 200 == 199 {
            wait_requests(&a, i as u64 + 1, Duration::from_secs(60));
        }
    }
    wait_requests(&a, live as u64, Duration::from_secs(60));
    a.fault("any", latency_ms as u64);
    // One interval for the re-checks to reach their steady state.
    std::thread::sleep(Duration::from_millis(interval_ms as u64));
    let start_log = fresh_summary(&b);
    let (shed0, calls0) = (summary(&start_log, "re-checks shed "), a.stats().introspect);
    let window = Instant::now();
    let latencies = Mutex::new(Vec::new());
    let missed = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for k in 0..seconds * 5 {
            let next = window + Duration::from_millis(200 * k as u64);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            let id = format!("new-{k}");
            let t = token(&key, &id, 3600);
            a.deny(&t);
            let (b, latencies, missed) = (&b, &latencies, &missed);
            scope.spawn(move || match connect(b, &id, &t) {
                (Some(mut s), Outcome::Connack(0)) => match mqtt::wait_closed(&mut s, Duration::from_secs(10)) {
                    Some(d) => latencies.lock().unwrap().push(d),
                    None => {
                        missed.fetch_add(1, Ordering::Relaxed);
                    }
                },
                other => die(&format!("{id}: {:?}", other.1)),
            });
        }
    });
    let took = window.elapsed().as_secs_f64();
    let end_log = fresh_summary(&b);
    let (shed1, calls1) = (summary(&end_log, "re-checks shed "), a.stats().introspect);
    let mut l: Vec<f64> = latencies.into_inner().unwrap().iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    l.sort_by(f64::total_cmp);
    let revoked = end_log.matches(": token revoked").count();
    let unchecked = end_log.matches(": token could not be checked").count();
    println!(
        "overload: {} newcomers, first check (CONNACK to disconnection): p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, \
         max {:.0} ms; never disconnected {}; kicks: revoked {revoked}, unchecked {unchecked}",
        l.len() + missed.load(Ordering::Relaxed),
        percentile(&l, 0.5),
        percentile(&l, 0.9),
        percentile(&l, 0.99),
        percentile(&l, 1.0),
        missed.load(Ordering::Relaxed)
    );
    println!(
        "overload: over {took:.0} s: {} introspection requests ({:.0}/s), re-checks shed {} ({:.0}/s)",
        calls1 - calls0,
        (calls1 - calls0) as f64 / took,
        shed1.saturating_sub(shed0),
        shed1.saturating_sub(shed0) as f64 / took
    );
    let alive = conns.iter_mut().take(200).map(mqtt::ping).filter(|ok| *ok).count();
    println!("overload: live sessions still answering: {alive} of the first 200");
    if let Some(w) = end_log.lines().find(|l| l.contains("cannot keep up")) {
        println!("overload: warning seen: {}", w.split("jwt-auth: ").nth(1).unwrap_or(w));
    }
    a.fault("none", 0);
}

/// Connects and disconnects every client once, with `threads` threads.
fn round(b: &Broker, tokens: &[(String, String)], threads: usize) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..tokens.len() {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((id, t)) = tokens.get(i) else { break };
                    match connect(b, id, t) {
                        (Some(s), Outcome::Connack(0)) => mqtt::disconnect(s),
                        other => die(&format!("{id}: {:?}", other.1)),
                    }
                }
            });
        }
    });
}

fn memory() {
    let n = env_usize("MEM_N", 20_000);
    let ttl = env_usize("MEM_TTL", 60) as i64;
    let threads = env_usize("MEM_THREADS", 8);
    let a = AuthServer::start();
    a.fault("any", 0);
    let key = Signer::new(Alg::HS256, HS_SECRET.as_bytes()).unwrap();
    let mut growth = Vec::new();
    for with in [false, true] {
        let settings = json!({"workers": 8, "queueSize": 100000, "timeoutMs": 120000, "recheckIntervalMs": 600000});
        let b = Broker::start(&config(with.then(|| introspection(&a, settings))));
        let asked0 = a.stats().introspect;
        let mut after = Vec::new();
        for r in 1..=2 {
            let started = Instant::now();
            let toks: Vec<(String, String)> = (0..n)
                .map(|i| {
                    let id = format!("r{r}-{i}");
                    let t = token(&key, &id, ttl);
                    (id, t)
                })
                .collect();
            let last_exp = tokens::now() + ttl;
            round(&b, &toks, threads);
            if with {
                wait_requests(&a, asked0 + (r * n) as u64, Duration::from_secs(ttl as u64 + 300));
            }
            let answered = started.elapsed().as_secs_f64();
            // Past every exp, and a few ticks for the expiry to run.
            while tokens::now() <= last_exp + 2 {
                std::thread::sleep(Duration::from_millis(200));
            }
            let rss = rss_kib(b.pid());
            println!(
                "memory: revocation {}: round {r}: {n} clients in {answered:.1} s (answers included); RSS once \
                 expired {:.1} MiB",
                if with { "on" } else { "off" },
                rss as f64 / 1024.0
            );
            after.push(rss);
        }
        growth.push(after[1] as i64 - after[0] as i64);
    }
    let (off, on) = (growth[0], growth[1]);
    println!(
        "memory: second round grew RSS by {:.2} MiB with revocation, {:.2} MiB without",
        on as f64 / 1024.0,
        off as f64 / 1024.0
    );
    if on > off + 1024 {
        die("the second round grew RSS by more than without revocation + 1 MiB");
    }
}

fn main() {
    let which = std::env::var("REVOCATION_BENCH").unwrap_or_else(|_| "all".into());
    if which == "overload" || which == "all" {
        overload();
    }
    if which == "memory" || which == "all" {
        memory();
    }
}
