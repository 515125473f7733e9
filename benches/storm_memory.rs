//! Connect storm with memory measurement: N clients (default 10,000), each with its own client id and
//! its own HS256 token, connect to one mosquitto with this plugin, stay, then leave; then a second
//! round in which all N open their sockets first and send their CONNECTs at once, stay, and leave.
//!
//! Reported and checked: every client gets its answer (CONNACK) in both rounds; the broker stays
//! responsive (a probe client's PINGREQ round trip every 50 ms during the storms: max and p99); the
//! plugin's live-session count reaches N and returns to zero (its debug line
//! `jwt-auth: N live session(s)`); the broker's RSS (VmRSS, and VmHWM for the peak) before, at the
//! peak and after each round. "Returns near its starting level" is checked as: after the second
//! round, RSS is no higher than after the first round plus 10% of the first round's growth (+ 4 MB):
//! a leak per connection would add ~the same growth again; allocator caches do not.
//!
//! The storm runs three times: against mosquitto without the plugin (anonymous; STORM_MEM_BASELINE=0
//! skips it), with the plugin, and with the plugin's verified-token cache disabled (STORM_MEM_NOCACHE=0
//! skips it), so that what mosquitto keeps, what the cache keeps (by design, until each token's exp)
//! and what the rest of the plugin keeps can be told apart.
//!
//! Environment: STORM_MEM_N (clients, default 10000), STORM_MEM_THREADS (default 8), MQTT_JWT_PLUGIN.
//! Needs an open-file limit of N + 100 (this process and the broker each hold one socket per client):
//! ci/bench-storm.sh raises `ulimit -n` to the hard limit. Every wait is bounded (TIME_LIMIT overall).
#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use common::{dial, env_usize, status_kib};
use mqtt_jwt_auth::alg::Alg;
use mqtt_jwt_auth::keys::Signer;
use serde_json::json;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};
use support::broker::{Broker, Options};
use support::mqtt::{connect_packet, read_packet, Connect};
use support::tokens::{self, HS_SECRET};

const TIME_LIMIT: Duration = Duration::from_secs(240);
const IO_TIMEOUT: Duration = Duration::from_secs(20);
const KEEPALIVE: u16 = 900;
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// A probe round trip longer than this during a storm counts as the broker being unresponsive.
const MAX_PROBE: Duration = Duration::from_secs(2);
const ZERO_LINE: &str = "jwt-auth: 0 live session(s)";

fn die(msg: &str) -> ! {
    eprintln!("FAIL storm_memory: {msg}");
    std::process::exit(1);
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn open_file_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap_or("");
    match line.trim_start_matches("Max open files").split_whitespace().next() {
        Some("unlimited") => u64::MAX,
        Some(v) => v.parse().unwrap_or(0),
        None => 0,
    }
}

fn token(key: &Signer, id: &str) -> String {
    let claims = json!({"sub": id, "iat": tokens::now(), "exp": tokens::now() + 3600, "jti": id});
    tokens::sign_with(key, None, &claims)
}

/// Sends CONNECT and reads the CONNACK: its return code, or why there was none.
fn connect_on(s: &mut TcpStream, id: &str, token: &str) -> Result<u8, String> {
    let c = Connect {
        version: 4,
        client_id: id,
        username: Some(id.as_bytes()),
        password: Some(token.as_bytes()),
        keepalive: KEEPALIVE,
    };
    s.write_all(&connect_packet(&c)).map_err(|e| format!("send CONNECT: {e}"))?;
    match read_packet(s) {
        Ok((0x20, body)) if body.len() >= 2 => Ok(body[1]),
        Ok((t, _)) => Err(format!("packet {t:#x} instead of CONNACK")),
        Err(e) => Err(format!("no CONNACK: {e}")),
    }
}

#[derive(Default)]
struct Round {
    accepted: usize,
    refused: usize,
    failures: Vec<String>,
    streams: Vec<TcpStream>,
    wall: f64,
    /// From the first CONNECT sent to the last CONNACK read (round 2: after all sockets were open).
    answer_wall: f64,
}

/// Round 1 (`burst` false): each thread connects its clients one after the other. Round 2 (`burst`
/// true): each thread opens all its sockets, all threads wait for each other, then every CONNECT is
/// sent at once and the CONNACKs are read afterwards.
fn storm(addr: &SocketAddr, tokens: &[(String, String)], threads: usize, burst: bool) -> Round {
    let next = AtomicUsize::new(0);
    let barrier = Barrier::new(threads);
    let start = Instant::now();
    let results: Vec<Round> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (next, barrier) = (&next, &barrier);
                scope.spawn(move || {
                    let mut r = Round::default();
                    let mine: Vec<usize> =
                        if burst { (t..tokens.len()).step_by(threads).collect() } else { Vec::new() };
                    if burst {
                        let mut open = Vec::new();
                        for &i in &mine {
                            match dial(addr, IO_TIMEOUT) {
                                Ok(s) => open.push((i, s)),
                                Err(e) => r.failures.push(format!("{}: tcp connect: {e}", tokens[i].0)),
                            }
                        }
                        barrier.wait();
                        let sent = Instant::now();
                        for (i, s) in open.iter_mut() {
                            let (id, tok) = &tokens[*i];
                            let c = Connect {
                                version: 4,
                                client_id: id,
                                username: Some(id.as_bytes()),
                                password: Some(tok.as_bytes()),
                                keepalive: KEEPALIVE,
                            };
                            if let Err(e) = s.write_all(&connect_packet(&c)) {
                                r.failures.push(format!("{id}: send CONNECT: {e}"));
                            }
                        }
                        for (i, mut s) in open {
                            match read_packet(&mut s) {
                                Ok((0x20, body)) if body.len() >= 2 && body[1] == 0 => {
                                    r.accepted += 1;
                                    r.streams.push(s);
                                }
                                Ok((0x20, _)) => r.refused += 1,
                                Ok((t, _)) => r.failures.push(format!("{}: packet {t:#x}", tokens[i].0)),
                                Err(e) => r.failures.push(format!("{}: no CONNACK: {e}", tokens[i].0)),
                            }
                        }
                        r.answer_wall = sent.elapsed().as_secs_f64();
                        return r;
                    }
                    // Bounded: at most one pass over the clients.
                    for _ in 0..tokens.len() {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= tokens.len() {
                            break;
                        }
                        let (id, tok) = &tokens[i];
                        let res = dial(addr, IO_TIMEOUT)
                            .map_err(|e| format!("tcp connect: {e}"))
                            .and_then(|mut s| connect_on(&mut s, id, tok).map(|code| (code, s)));
                        match res {
                            Ok((0, s)) => {
                                r.accepted += 1;
                                r.streams.push(s);
                            }
                            Ok((_, _)) => r.refused += 1,
                            Err(e) => r.failures.push(format!("{id}: {e}")),
                        }
                    }
                    r
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("storm thread")).collect()
    });
    let wall = start.elapsed().as_secs_f64();
    let mut all = Round { wall, answer_wall: if burst { 0.0 } else { wall }, ..Round::default() };
    for r in results {
        if burst {
            all.answer_wall = all.answer_wall.max(r.answer_wall);
        }
        all.accepted += r.accepted;
        all.refused += r.refused;
        all.failures.extend(r.failures);
        all.streams.extend(r.streams);
    }
    all
}

/// Every client sends DISCONNECT and closes.
fn leave(streams: Vec<TcpStream>) {
    for mut s in streams {
        let _ = s.write_all(&[0xe0, 0x00]);
    }
}

/// A connected probe client pinging every PROBE_EVERY until stopped: its round trips.
struct Probe {
    stop: Arc<AtomicBool>,
    rtts: Arc<Mutex<Vec<Duration>>>,
    handle: std::thread::JoinHandle<Option<String>>,
}

impl Probe {
    fn start(addr: SocketAddr, key: &Signer) -> Probe {
        let mut s = dial(&addr, IO_TIMEOUT).unwrap_or_else(|e| die(&format!("probe: {e}")));
        let code = connect_on(&mut s, "probe", &token(key, "probe")).unwrap_or_else(|e| die(&format!("probe: {e}")));
        if code != 0 {
            die(&format!("probe refused: {code}"));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let rtts = Arc::new(Mutex::new(Vec::new()));
        let (stop2, rtts2) = (stop.clone(), rtts.clone());
        let handle = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                if let Err(e) = s.write_all(&[0xc0, 0x00]) {
                    return Some(format!("probe PINGREQ: {e}"));
                }
                match read_packet(&mut s) {
                    Ok((0xd0, _)) => rtts2.lock().unwrap().push(t0.elapsed()),
                    Ok((t, _)) => return Some(format!("probe: packet {t:#x}")),
                    Err(e) => return Some(format!("probe: no PINGRESP within {IO_TIMEOUT:?}: {e}")),
                }
                std::thread::sleep(PROBE_EVERY);
            }
            None
        });
        Probe { stop, rtts, handle }
    }

    /// (pings, p99, max) since the last call.
    fn take(&self) -> (usize, Duration, Duration) {
        let mut v = std::mem::take(&mut *self.rtts.lock().unwrap());
        v.sort();
        let p99 = v.get((v.len() * 99 / 100).min(v.len().saturating_sub(1))).copied().unwrap_or_default();
        (v.len(), p99, v.last().copied().unwrap_or_default())
    }

    fn finish(self) -> Option<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(Some("probe thread panicked".into()))
    }
}

/// Waits (bounded) for the plugin's zero-session line after `offset` in the log: seconds it took.
fn wait_zero(b: &Broker, offset: usize, within: Duration) -> Option<f64> {
    let start = Instant::now();
    while start.elapsed() < within {
        if b.log().get(offset..).is_some_and(|l| l.contains(ZERO_LINE)) {
            return Some(start.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// The largest "jwt-auth: K live session(s)" logged after `offset`.
fn max_sessions(b: &Broker, offset: usize) -> u64 {
    let log = b.log();
    log.get(offset..)
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.split("jwt-auth: ").nth(1)?.strip_suffix(" live session(s)")?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// One broker through both rounds: RESULT lines, and failures pushed onto `failed`.
/// `cache`: the plugin's verified-token cache (on by default; off shows what the cache itself keeps).
fn run(label: &str, with_plugin: bool, cache: bool, n: usize, threads: usize, failed: &mut Vec<String>) -> Vec<String> {
    let deadline = Instant::now() + TIME_LIMIT;
    let fail = |failed: &mut Vec<String>, m: String| failed.push(format!("{label}: {m}"));
    let jwt = json!({"version": 1, "algorithm": "HS256", "mode": "local",
                     "options": {"modes": {"local": HS_SECRET}, "common": {"matchClientIdToSubject": true},
                                 "verifiedTokenCache": {"enabled": cache}}});
    let opts = Options { with_plugin, ..Options::default() };
    let mut broker = Broker::start_with(&jwt.to_string(), opts).unwrap_or_else(|l| die(&format!("broker: {l}")));
    let pid = broker.pid();
    let addr: SocketAddr = ([127, 0, 0, 1], broker.port).into();
    let key = tokens::signer(Alg::HS256);
    let ids: Vec<(String, String)> = (0..n)
        .map(|i| {
            let id = format!("storm-{i}");
            let t = token(&key, &id);
            (id, t)
        })
        .collect();
    if with_plugin {
        // Sanity: the plugin refuses a token for another client id.
        let mut s = dial(&addr, IO_TIMEOUT).unwrap_or_else(|e| die(&e.to_string()));
        if connect_on(&mut s, "storm-0", &ids[1].1) == Ok(0) {
            die("a token for another client id was accepted: is the plugin loaded?");
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let (rss0, _) = (status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM"));
    println!("[{label}] broker pid {pid}; N={n}, {threads} threads; RSS before: {:.1} MiB", mib(rss0));
    let probe = Probe::start(addr, &key);
    let mut results = Vec::new();
    let mut after = Vec::new();
    let mut peaks = Vec::new();
    for (round, burst) in [(1, false), (2, true)] {
        let offset = broker.log().len();
        let r = storm(&addr, &ids, threads, burst);
        let (pings, p99, max) = probe.take();
        let (rss_peak, hwm) = (status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM"));
        // The count line is logged at most once a second.
        std::thread::sleep(Duration::from_millis(1500));
        let sessions = max_sessions(&broker, offset);
        let how = if burst { "all CONNECTs at once" } else { "one after the other" };
        println!(
            "[{label}] round {round} ({how}): {} accepted, {} refused, {} without answer in {:.1}s (CONNECT to last \
             CONNACK {:.1}s); probe: {pings} pings, p99 {:.1} ms, max {:.1} ms; plugin sessions: {sessions}; RSS {:.1} MiB \
             (VmHWM {:.1} MiB)",
            r.accepted,
            r.refused,
            r.failures.len(),
            r.wall,
            r.answer_wall,
            p99.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3,
            mib(rss_peak),
            mib(hwm)
        );
        for f in r.failures.iter().take(5) {
            eprintln!("  {f}");
        }
        if r.accepted != n || !r.failures.is_empty() {
            let m = format!("round {round}: {} of {n} accepted, {} without answer", r.accepted, r.failures.len());
            fail(failed, m);
        }
        if max > MAX_PROBE {
            fail(failed, format!("round {round}: probe round trip {max:?} > {MAX_PROBE:?}"));
        }
        if with_plugin && sessions < n as u64 {
            fail(failed, format!("round {round}: the plugin counted at most {sessions} live sessions, expected {n}+"));
        }
        let leave_offset = broker.log().len();
        leave(r.streams);
        // Only the probe remains: the count goes to 1, not 0, while it is connected.
        let one = if with_plugin { wait_one(&broker, leave_offset, Duration::from_secs(30)) } else { None };
        std::thread::sleep(Duration::from_secs(2));
        let (lpings, lp99, lmax) = probe.take();
        let (rss_after, _) = (status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM"));
        println!(
            "[{label}] round {round} leave: sessions back to 1 (the probe) {}; probe p99 {:.1} ms max {:.1} ms \
             ({lpings} pings); RSS after: {:.1} MiB",
            match (with_plugin, one) {
                (false, _) => "(no plugin)".to_string(),
                (true, Some(t)) => format!("{t:.1}s after the DISCONNECTs"),
                (true, None) => "NOT within 30 s".into(),
            },
            lp99.as_secs_f64() * 1e3,
            lmax.as_secs_f64() * 1e3,
            mib(rss_after)
        );
        if with_plugin && one.is_none() {
            fail(failed, format!("round {round}: the plugin's session count did not return to 1"));
        }
        if lmax > MAX_PROBE {
            fail(failed, format!("round {round} leave: probe round trip {lmax:?} > {MAX_PROBE:?}"));
        }
        results.push(format!(
            "RESULT broker={label} round={round} accepted={} refused={} unanswered={} connect_to_last_connack_s={:.1} \
             probe_p99_ms={:.1} probe_max_ms={:.1} sessions_max={sessions} rss_before_mib={:.1} rss_peak_mib={:.1} \
             rss_after_mib={:.1}",
            r.accepted,
            r.refused,
            r.failures.len(),
            r.answer_wall,
            p99.max(lp99).as_secs_f64() * 1e3,
            max.max(lmax).as_secs_f64() * 1e3,
            mib(if round == 1 { rss0 } else { after[0] }),
            mib(rss_peak),
            mib(rss_after)
        ));
        after.push(rss_after);
        peaks.push(rss_peak);
        if Instant::now() > deadline {
            die("time limit reached");
        }
    }
    let offset = broker.log().len();
    if let Some(e) = probe.finish() {
        fail(failed, e);
    }
    if with_plugin {
        let zero = wait_zero(&broker, offset, Duration::from_secs(10));
        println!(
            "[{label}] probe left: {}",
            if zero.is_some() { "\"jwt-auth: 0 live session(s)\" logged" } else { "zero-session line NOT seen" }
        );
        if zero.is_none() {
            fail(failed, "the plugin's session count did not return to zero".into());
        }
    }
    let growth = peaks[0].saturating_sub(rss0);
    let allowed = after[0] + growth / 10 + 4096;
    println!(
        "[{label}] memory: before {:.1} MiB, peak {:.1} / {:.1} MiB, after round 1 {:.1} MiB, after round 2 {:.1} MiB \
         (allowed after round 2 <= {:.1} MiB)",
        mib(rss0),
        mib(peaks[0]),
        mib(peaks[1]),
        mib(after[0]),
        mib(after[1]),
        mib(allowed)
    );
    if after[1] > allowed {
        fail(failed, format!("RSS kept growing: {:.1} MiB after round 2 > {:.1} MiB", mib(after[1]), mib(allowed)));
    }
    let internal = broker.log().matches("internal error").count();
    let alive = broker.is_alive();
    if internal > 0 || !alive {
        fail(failed, format!("broker: {internal} internal error(s), alive: {alive}"));
    }
    results
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs bench binaries without it: skip
    // there (this takes a minute or two and needs a raised open-file limit).
    if !std::env::args().any(|a| a == "--bench") && std::env::var_os("STORM_MEM_N").is_none() {
        println!("storm_memory: skipped (run `cargo bench --bench storm_memory` or ci/bench-storm.sh)");
        return;
    }
    let n = env_usize("STORM_MEM_N", 10_000);
    let threads = env_usize("STORM_MEM_THREADS", 8).max(1);
    let need = n as u64 + 100;
    if open_file_limit() < need {
        die(&format!("ulimit -n is {}, STORM_MEM_N={n} needs {need}: run ci/bench-storm.sh", open_file_limit()));
    }
    let mut failed = Vec::new();
    let mut results = Vec::new();
    // The same storm against mosquitto without the plugin (anonymous): what mosquitto itself keeps.
    if std::env::var("STORM_MEM_BASELINE").as_deref() != Ok("0") {
        results.extend(run("anonymous", false, true, n, threads, &mut failed));
    }
    results.extend(run("plugin", true, true, n, threads, &mut failed));
    // The same without the verified-token cache, which keeps every token until its exp by design.
    if std::env::var("STORM_MEM_NOCACHE").as_deref() != Ok("0") {
        results.extend(run("plugin-nocache", true, false, n, threads, &mut failed));
    }
    for r in &results {
        println!("{r}");
    }
    if !failed.is_empty() {
        for f in &failed {
            eprintln!("FAIL {f}");
        }
        std::process::exit(1);
    }
    println!("storm_memory: ok");
}

/// Waits (bounded) for "jwt-auth: 1 live session(s)" after `offset`.
fn wait_one(b: &Broker, offset: usize, within: Duration) -> Option<f64> {
    let start = Instant::now();
    while start.elapsed() < within {
        if b.log().get(offset..).is_some_and(|l| l.contains("jwt-auth: 1 live session(s)")) {
            return Some(start.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}
