//! Refresh flood: one connected client publishes REFRESH_FLOOD_N (default 200,000) in-band refreshes
//! of one valid token to the control topic as fast as the broker takes them, while a second thread
//! reads every answer (so mosquitto never queues them). The broker's RSS (VmRSS) is read after a
//! warm-up of 2,000 refreshes and again after the flood; the flood must leave it within
//! REFRESH_FLOOD_MAX_KIB (default 1024) of the warm-up figure.
//!
//! It runs twice: with the default `options.refresh.minIntervalMs` (1000: all but one refresh per
//! second are refused before any crypto, and the session goes on) and with 0 (every refresh is
//! verified and replaces the session: the schedule's compaction has to keep memory flat).
//! Every wait is bounded (TIME_LIMIT per run). Run by ci/bench-refresh-flood.sh (release build).
#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use common::{env_usize, rss_kib};
use mqtt_jwt_auth::alg::Alg;
use serde_json::json;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::broker::Broker;
use support::mqtt::{self, ConnectV5, Outcome};
use support::tokens::{self, HS_SECRET};

const TIME_LIMIT: Duration = Duration::from_secs(180);
const CONTROL: &str = "$CONTROL/jwt-auth/v1";
const WARM_UP: usize = 2_000;

/// Sends `n` refreshes and waits (bounded) until all are answered: (answered, refused too soon).
fn flood(s: &mut TcpStream, answers: &AtomicUsize, too_soon: &AtomicUsize, pkt: &[u8], n: usize) -> (usize, usize) {
    let target = answers.load(Ordering::Relaxed) + n;
    let start = Instant::now();
    let mut batch = Vec::with_capacity(pkt.len() * 100);
    let mut sent = 0;
    while sent < n && start.elapsed() < TIME_LIMIT {
        batch.clear();
        let k = (n - sent).min(100);
        for _ in 0..k {
            batch.extend_from_slice(pkt);
        }
        s.write_all(&batch).expect("publish");
        sent += k;
        // Keep at most a few thousand answers in flight: the reader drains them.
        while answers.load(Ordering::Relaxed) + 5_000 < target - (n - sent) && start.elapsed() < TIME_LIMIT {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    while answers.load(Ordering::Relaxed) < target && start.elapsed() < TIME_LIMIT {
        std::thread::sleep(Duration::from_millis(5));
    }
    (answers.load(Ordering::Relaxed), too_soon.load(Ordering::Relaxed))
}

fn run(min_interval_ms: u64, n: usize, max_kib: u64) -> Result<String, String> {
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {
        "modes": {"local": HS_SECRET}, "common": {"matchUsernameToSubject": true},
        "refresh": {"minIntervalMs": min_interval_ms}}});
    let b = Broker::start(&cfg.to_string());
    let token = tokens::token(Alg::HS256, "flood", json!({"exp": tokens::now() + 3600}));
    let c = ConnectV5 { version: 4, client_id: "flood", password: Some(token.as_bytes()), ..Default::default() };
    let (s, out) = mqtt::connect_v5(b.port, &c);
    if out != Outcome::Connack(0) {
        return Err(format!("not accepted: {out:?}\n{}", b.log()));
    }
    let mut s = s.unwrap();
    let mut reader = s.try_clone().unwrap();
    reader.set_read_timeout(Some(TIME_LIMIT)).unwrap();
    let answers = Arc::new(AtomicUsize::new(0));
    let too_soon = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicBool::new(false));
    let (a2, t2, c2) = (answers.clone(), too_soon.clone(), closed.clone());
    std::thread::spawn(move || {
        while let Ok((kind, body)) = mqtt::read_packet(&mut reader) {
            if kind & 0xf0 == 0x30 {
                a2.fetch_add(1, Ordering::Relaxed);
                if body.windows(16).any(|w| w == b"refresh-too-soon") {
                    t2.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        c2.store(true, Ordering::Relaxed);
    });
    let pkt = mqtt::publish_packet(false, CONTROL, None, token.as_bytes());
    let pid = b.pid();
    flood(&mut s, &answers, &too_soon, &pkt, WARM_UP);
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_kib(pid);
    let soon_before = too_soon.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let (answered, soon) = flood(&mut s, &answers, &too_soon, &pkt, n);
    let soon = soon - soon_before;
    let secs = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    let after = rss_kib(pid);
    let alive = !closed.load(Ordering::Relaxed);
    let grew = after.saturating_sub(before);
    let line = format!(
        "minIntervalMs {min_interval_ms:>4}: {n} refreshes in {secs:.1} s ({:.0}/s), answered {}, refused too soon {}, \
         broker RSS {before} KiB -> {after} KiB (+{grew} KiB), client still connected: {alive}",
        n as f64 / secs,
        answered - WARM_UP,
        soon
    );
    if answered < WARM_UP + n || !alive || grew > max_kib {
        return Err(format!("{line}\nFAILED (limit +{max_kib} KiB)"));
    }
    Ok(line)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = env_usize("REFRESH_FLOOD_N", 200_000);
    let max_kib = env_usize("REFRESH_FLOOD_MAX_KIB", 1024) as u64;
    let mut failed = false;
    for min_interval in [1000, 0] {
        match run(min_interval, n, max_kib) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                println!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
