//! Real-broker scale benchmark: per-event broker CPU and memory per held connection, with K live
//! sessions held open (SCALE_HELD, default "0,1000,10000,19000"), each K against mosquitto with the
//! plugin and against anonymous mosquitto (no plugin) in the same run. SCALE_CONFIGS ("plain,acl"):
//! the plugin without `options.authorization` and small tokens, or with it and tokens carrying a
//! `publ` claim (then every PUBLISH is an ACL check of the plugin).
//!
//! For each broker: K clients connect (each its own client id and HS256 token carrying a `publ`
//! claim, CONNACK awaited, over SCALE_THREADS threads) and stay; then, with them held:
//! - memory: VmRSS after the K connects minus before, per held connection;
//! - idle CPU: broker CPU (all its threads, /proc/<pid>/task/*/schedstat) per second over 2 s with
//!   nothing to do: mosquitto's loop and the plugin's TICK;
//! - CONNECT (median of 5 batches): SCALE_CONNECTS (2,000) fresh clients with fresh tokens connect, get their CONNACK and
//!   disconnect one after the other; broker CPU per CONNECT (the DISCONNECT included);
//! - ACL (median of 5 batches): one client publishes SCALE_PUBLISHES (20,000) QoS 0 messages to a topic its `publ` claim
//!   allows (with the plugin every one is an ACL check) and then pings; broker CPU per PUBLISH.
//!
//! The broker logs errors, warnings and notices only. Needs an open-file limit of K + 100 (this
//! process and the broker each hold one socket per client): ci/bench-scale.sh raises it. Every loop
//! is bounded in count and every wait in time.
#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use common::{cpu_ns, env_usize, median, rss_kib};
use mqtt_jwt_auth::alg::Alg;
use mqtt_jwt_auth::keys::Signer;
use serde_json::json;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::broker::{Broker, Options};
use support::mqtt::{connect_packet, publish_packet, read_packet, Connect};
use support::tokens::{self, HS_SECRET};

const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// Per-event figures are the median of this many batches.
const PASSES: usize = 5;

fn die(msg: &str) -> ! {
    eprintln!("FAIL scale_broker: {msg}");
    std::process::exit(1);
}

fn token(key: &Signer, id: &str, acl: bool) -> String {
    let mut claims = json!({"sub": id, "iat": tokens::now(), "exp": tokens::now() + 3600, "jti": id});
    if acl {
        claims["publ"] = json!([format!("d/{id}/#")]);
    }
    tokens::sign_with(key, None, &claims)
}

/// A connected MQTT 3.1.1 session (CONNACK 0 read), blocking with timeouts.
fn session(port: u16, id: &str, token: &str) -> Result<TcpStream, String> {
    let mut s = common::dial(&([127, 0, 0, 1], port).into(), IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    let c = Connect { version: 4, client_id: id, username: None, password: Some(token.as_bytes()), keepalive: 900 };
    s.write_all(&connect_packet(&c)).map_err(|e| format!("send CONNECT: {e}"))?;
    match read_packet(&mut s) {
        Ok((0x20, body)) if body.len() >= 2 && body[1] == 0 => Ok(s),
        Ok((t, body)) => Err(format!("packet {t:#x} {body:?} instead of CONNACK 0")),
        Err(e) => Err(format!("no CONNACK: {e}")),
    }
}

fn ping(s: &mut TcpStream) -> bool {
    s.write_all(&[0xC0, 0]).is_ok() && matches!(read_packet(s), Ok((0xD0, _)))
}

struct Row {
    rss_per_held_kib: f64,
    idle_ms_per_s: f64,
    connect_us: f64,
    publish_us: f64,
}

fn hold(port: u16, ids: &[String], tokens: &[String], threads: usize) -> Vec<TcpStream> {
    let next = AtomicUsize::new(0);
    let mut all = Vec::with_capacity(ids.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= ids.len() {
                            return mine;
                        }
                        // A full listen backlog drops a SYN now and then: a bounded retry.
                        let mut tries = 0;
                        loop {
                            match session(port, &ids[i], &tokens[i]) {
                                Ok(s) => break mine.push(s),
                                Err(e) if tries >= 3 => die(&format!("held client {i}: {e}")),
                                Err(_) => tries += 1,
                            }
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            all.extend(h.join().expect("connect thread"));
        }
    });
    all
}

fn run(acl: bool, with_plugin: bool, k: usize, key: &Signer, connects: usize, publishes: usize, threads: usize) -> Row {
    let mut jwt = json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": HS_SECRET}, "common": {"matchClientIdToSubject": true}}});
    if acl {
        jwt["options"]["authorization"] = json!({});
    }
    // Errors, warnings and notices only: the harness's `log_type all` would log every packet.
    let pre_conf = "log_type none\nlog_type error\nlog_type warning\nlog_type notice\nmax_keepalive 900\n".to_string();
    let opts = Options { with_plugin, pre_conf, ..Options::default() };
    let broker = Broker::start_with(&jwt.to_string(), opts).unwrap_or_else(|l| die(&format!("broker: {l}")));
    let pid = broker.pid();
    let tag = if with_plugin { "p" } else { "a" };
    let ids: Vec<String> = (0..k).map(|i| format!("h{tag}{k}-{i}")).collect();
    let toks: Vec<String> = ids.iter().map(|id| token(key, id, acl)).collect();
    let fresh: Vec<String> = (0..connects).map(|i| format!("f{tag}{k}-{i}")).collect();
    let fresh_toks: Vec<String> = fresh.iter().map(|id| token(key, id, acl)).collect();
    std::thread::sleep(Duration::from_millis(500));
    let rss0 = rss_kib(pid);
    let held = hold(broker.port, &ids, &toks, threads);
    std::thread::sleep(Duration::from_millis(1000));
    let rss1 = rss_kib(pid);
    let rss_per_held_kib = if k > 0 { (rss1 as f64 - rss0 as f64) / k as f64 } else { 0.0 };

    let c0 = cpu_ns(pid);
    let t0 = Instant::now();
    let idle = Duration::from_secs(env_usize("SCALE_IDLE_S", 2) as u64);
    match std::env::var("SCALE_PERF") {
        // A profile of the idle broker (perf record), for finding work per loop pass.
        Ok(out) if with_plugin => {
            let _ = std::process::Command::new("perf")
                .args(["record", "-F", "20000", "-g", "-o", &out, "-p", &pid.to_string(), "--", "sleep"])
                .arg(idle.as_secs().to_string())
                .output();
        }
        _ => std::thread::sleep(idle),
    }
    let idle_ms_per_s = (cpu_ns(pid) - c0) as f64 / 1e6 / t0.elapsed().as_secs_f64();

    // Batches of CONNECTs, the median batch: the 2 cores are shared, a batch may be unlucky.
    let batch = (connects / PASSES).max(1);
    let mut per = Vec::new();
    for chunk in fresh.chunks(batch).zip(fresh_toks.chunks(batch)) {
        let c0 = cpu_ns(pid);
        for (id, t) in chunk.0.iter().zip(chunk.1) {
            let mut s = session(broker.port, id, t).unwrap_or_else(|e| die(&format!("fresh client {id}: {e}")));
            let _ = s.write_all(&[0xE0, 0]);
            // mosquitto closes after DISCONNECT: wait for it (bounded by the read timeout).
            let _ = read_packet(&mut s);
        }
        per.push((cpu_ns(pid) - c0) as f64 / 1e3 / chunk.0.len() as f64);
    }
    let connect_us = median(per);

    let id = format!("pub{tag}{k}");
    let mut p = session(broker.port, &id, &token(key, &id, acl)).unwrap_or_else(|e| die(&format!("publisher: {e}")));
    let packet = publish_packet(false, &format!("d/{id}/t"), None, b"21.5");
    let burst: Vec<u8> = packet.iter().copied().cycle().take(packet.len() * 500).collect();
    let mut per = Vec::new();
    for _ in 0..PASSES {
        let c0 = cpu_ns(pid);
        let bursts = (publishes / 500 / PASSES).max(1);
        for _ in 0..bursts {
            p.write_all(&burst).unwrap_or_else(|e| die(&format!("publish: {e}")));
            if !ping(&mut p) {
                die("no PINGRESP after a burst of publishes (denied publishes close a 3.1.1 connection?)");
            }
        }
        per.push((cpu_ns(pid) - c0) as f64 / 1e3 / (bursts * 500) as f64);
    }
    let publish_us = median(per);
    drop(p);
    drop(held);
    Row { rss_per_held_kib, idle_ms_per_s, connect_us, publish_us }
}

fn main() {
    let helds: Vec<usize> = std::env::var("SCALE_HELD")
        .unwrap_or_else(|_| "0,1000,10000,19000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("SCALE_HELD"))
        .collect();
    let connects = env_usize("SCALE_CONNECTS", 2000);
    let publishes = env_usize("SCALE_PUBLISHES", 20_000);
    let threads = env_usize("SCALE_THREADS", 4);
    let key = Signer::new(Alg::HS256, HS_SECRET.as_bytes()).unwrap();
    println!("scale (real broker: mosquitto with the plugin vs anonymous mosquitto; broker CPU per event):");
    println!(
        "{:<6} {:>6} {:<9} {:>12} {:>10} {:>11} {:>11}",
        "config", "held", "broker", "KiB/held", "idle ms/s", "CONNECT µs", "PUBLISH µs"
    );
    let configs = std::env::var("SCALE_CONFIGS").unwrap_or_else(|_| "plain,acl".into());
    for cfg in configs.split(',') {
        let acl = cfg.trim() == "acl";
        for &k in &helds {
            for with_plugin in [false, true] {
                let r = run(acl, with_plugin, k, &key, connects, publishes, threads);
                println!(
                    "{:<6} {k:>6} {:<9} {:>12.3} {:>10.2} {:>11.1} {:>11.2}",
                    cfg.trim(),
                    if with_plugin { "plugin" } else { "anonymous" },
                    r.rss_per_held_kib,
                    r.idle_ms_per_s,
                    r.connect_us,
                    r.publish_us
                );
            }
        }
    }
}
