//! QoS 1 publish throughput through a real mosquitto whose plugin answers every ACL check, for a
//! session holding 100 rules against one holding a single allow-all rule, in the same broker and run.
//! Each round: the publisher keeps a window of QoS 1 PUBLISHes in flight and waits for every PUBACK;
//! a subscriber of the same kind receives every message (so READ checks run too). Rounds alternate
//! between the two sessions; the median rate of each is reported, and their ratio.
//!
//! Run: ci/bench-acl.sh (ACL_MSGS messages per round, default 20000; ACL_ROUNDS, default 5).
#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use common::{env_usize, loadavg, median};
use mqtt_jwt_auth::alg::Alg;
use serde_json::json;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::broker::{Broker, Options};
use support::mqtt::{self, ConnectV5};
use support::tokens::{token, HS_SECRET};

const WINDOW: usize = 100;
const TOPIC: &str = "bench/data/1";

/// 99 rules that never match the topic (only for "heavy" tokens), then the allow that does.
fn jwt_json() -> String {
    let mut rules: Vec<_> = (0..99)
        .map(|i| {
            json!({"permission": "allow", "action": "all", "topic": format!("other/{i}/+/#"),
                   "if": {"claim": "profile", "contains": "heavy"}})
        })
        .collect();
    rules.push(json!({"permission": "allow", "action": "all", "topic": "bench/#"}));
    json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": HS_SECRET}, "authorization": {"rules": rules}}})
    .to_string()
}

fn client(b: &Broker, id: &str, profile: &str) -> TcpStream {
    let t = token(Alg::HS256, id, json!({"profile": profile}));
    let c = ConnectV5 { client_id: id, password: Some(t.as_bytes()), ..Default::default() };
    mqtt::connect_v5(b.port, &c).0.unwrap_or_else(|| panic!("{id} refused:\n{}", b.log()))
}

/// Messages per second for `n` QoS 1 publishes with a window in flight; the subscriber drains in a thread.
fn round(b: &Broker, profile: &str, n: usize, k: usize) -> f64 {
    let mut sub = client(b, &format!("sub-{profile}-{k}"), profile);
    assert_eq!(mqtt::subscribe(&mut sub, true, "bench/#"), 0);
    let reader = std::thread::spawn(move || {
        let mut got = 0usize;
        sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        while got < n {
            match mqtt::read_packet(&mut sub) {
                Ok((t, _)) if t & 0xf0 == 0x30 => got += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        got
    });
    let mut publ = client(b, &format!("pub-{profile}-{k}"), profile);
    publ.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    let (mut sent, mut acked) = (0usize, 0usize);
    let deadline = start + Duration::from_secs(120);
    while acked < n && Instant::now() < deadline {
        let mut batch = Vec::new();
        while sent < n && sent - acked < WINDOW {
            batch.extend(mqtt::publish_packet(true, TOPIC, Some((sent % 65000 + 1) as u16), &[0x55; 64]));
            sent += 1;
        }
        publ.write_all(&batch).unwrap();
        match mqtt::read_packet(&mut publ) {
            Ok((0x40, body)) => {
                assert!(body.len() <= 2 || body[2] < 0x80, "PUBACK failure 0x{:02x}", body[2]);
                acked += 1;
            }
            Ok(_) => {}
            Err(e) => panic!("publisher: {e}\n{}", b.log()),
        }
    }
    let rate = acked as f64 / start.elapsed().as_secs_f64();
    let received = reader.join().unwrap();
    assert_eq!((acked, received), (n, n), "lost messages ({profile})");
    mqtt::disconnect(publ);
    rate
}

fn main() {
    let n = env_usize("ACL_MSGS", 20_000).max(100);
    let rounds = env_usize("ACL_ROUNDS", 5).max(1);
    let quiet = "log_type none\nlog_type error\nlog_type warning\n".to_string();
    let b = Broker::start_with(&jwt_json(), Options { pre_conf: quiet, ..Options::default() })
        .unwrap_or_else(|log| panic!("mosquitto did not start:\n{log}"));
    println!(
        "acl_throughput: {n} QoS 1 messages of 64 bytes per round, window {WINDOW}, {rounds} rounds per session kind"
    );
    println!("machine: load average {}", loadavg());
    round(&b, "light", n / 10, 0); // warm-up
    let (mut heavy, mut light) = (Vec::new(), Vec::new());
    for k in 0..rounds {
        // Alternate which goes first, so drift hits both alike.
        if k % 2 == 0 {
            heavy.push(round(&b, "heavy", n, k));
            light.push(round(&b, "light", n, k));
        } else {
            light.push(round(&b, "light", n, k));
            heavy.push(round(&b, "heavy", n, k));
        }
    }
    let (h, l) = (median(heavy.clone()), median(light.clone()));
    println!("session with 100 rules : {h:>9.0} msg/s (rounds: {heavy:.0?})");
    println!("session with 1 rule    : {l:>9.0} msg/s (rounds: {light:.0?})");
    println!("ratio 100 rules / 1 rule: {:.3} (target >= 0.95)", h / l);
    println!(
        "RESULT acl_throughput heavy_msgs_per_s={h:.0} light_msgs_per_s={l:.0} ratio={:.3} target=0.95 verdict={}",
        h / l,
        if h / l >= 0.95 { "met" } else { "missed" }
    );
    println!("machine: load average now {}", loadavg());
}
