//! Back-channel logout at scale on a real mosquitto: LOGOUT_N clients (default 10000) connected,
//! each with its own subject, then LOGOUT_COUNT logout tokens (default 1000), one per target client
//! (every N/COUNT-th), published back to back with QoS 1 by one client on the logout topic, as the
//! relay would. Reports the delay from each logout's send to its target's socket closing (p50, p90,
//! p99, max; target: every kick <= 1 s, the invalidity notice's 0.3 s grace included), targets not
//! kicked, other clients kicked (must be none), and the plugin's answers ("ended": 1 each).
//!
//! Environment: LOGOUT_N, LOGOUT_COUNT, LOGOUT_THREADS (connect threads, default 8), MQTT_JWT_PLUGIN.
//! Needs an open-file limit above N + 100: ci/bench-logout.sh raises it.
#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;
use common::{env_usize, loadavg, percentile};

use mqtt_jwt_auth::alg::Alg;
use mqtt_jwt_auth::keys::Signer;
use serde_json::json;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::broker::{Broker, Options};
use support::mqtt::{connect_packet, publish_packet, read_packet, Connect};
use support::tokens::{self, HS_SECRET};

const ISS: &str = "https://idp.bench";
const TOPIC: &str = "$CONTROL/jwt-auth/v1/logout";
const IO_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_LIMIT: Duration = Duration::from_secs(150);
/// How long after the last logout the targets may take to go, and the others are watched.
const OBSERVE: Duration = Duration::from_secs(5);
const TARGET: f64 = 1.0;

fn die(msg: &str) -> ! {
    eprintln!("bench logout_kicks: {msg}");
    std::process::exit(1)
}

fn sign(typ: &str, claims: &serde_json::Value) -> String {
    let signer = Signer::new(Alg::HS256, HS_SECRET.as_bytes()).unwrap();
    tokens::sign_header(&signer, &serde_json::json!({"typ": typ, "alg": "HS256"}), claims)
}

fn connect_one(addr: &SocketAddr, id: &str, token: &str) -> Result<TcpStream, String> {
    for attempt in 0..6u32 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(20 << attempt));
        }
        let Ok(mut s) = common::dial(addr, IO_TIMEOUT) else { continue };
        let c = Connect {
            version: 4,
            client_id: id,
            username: Some(id.as_bytes()),
            password: Some(token.as_bytes()),
            keepalive: 900,
        };
        if s.write_all(&connect_packet(&c)).is_err() {
            continue;
        }
        match read_packet(&mut s) {
            Ok((0x20, b)) if b.get(1) == Some(&0) => return Ok(s),
            Ok((0x20, b)) => return Err(format!("{id}: CONNACK code {:?}", b.get(1))),
            _ => continue,
        }
    }
    Err(format!("{id}: no CONNACK after 6 attempts"))
}

fn main() {
    let n = env_usize("LOGOUT_N", 10_000);
    let count = env_usize("LOGOUT_COUNT", 1000).min(n);
    let threads = env_usize("LOGOUT_THREADS", 8).max(1);
    let jwt = json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {
        "modes": {"local": HS_SECRET},
        "common": {"issuer": ISS, "matchUsernameToSubject": true},
        "invalidNotice": {},
        "logout": {"audience": "bench-relay"}}})
    .to_string();
    let quiet = "log_type none\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n";
    let broker = Broker::start_with(&jwt, Options { pre_conf: quiet.into(), ..Options::default() })
        .unwrap_or_else(|log| die(&format!("mosquitto did not start:\n{log}")));
    let addr: SocketAddr = format!("127.0.0.1:{}", broker.port).parse().unwrap();
    let iat = tokens::now() - 10;
    let token_for = |sub: &str| sign("JWT", &json!({"iss": ISS, "sub": sub, "iat": iat, "exp": tokens::now() + 3600}));

    // Connect phase.
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let mut streams: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
    let results: Vec<Result<Vec<(usize, TcpStream)>, String>> = std::thread::scope(|scope| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    for _ in 0..n {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        if started.elapsed() > CONNECT_LIMIT {
                            return Err(format!("connect phase over {CONNECT_LIMIT:?}"));
                        }
                        let id = format!("dev-{i}");
                        mine.push((i, connect_one(&addr, &id, &token_for(&id))?));
                    }
                    Ok(mine)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in results {
        for (i, s) in r.unwrap_or_else(|e| die(&e)) {
            s.set_nonblocking(true).unwrap();
            streams[i] = Some(s);
        }
    }
    let connect_s = started.elapsed().as_secs_f64();
    eprintln!("bench logout_kicks: {n} clients connected in {connect_s:.1} s");

    // The publisher, and a reader draining its PUBACKs and the plugin's answers.
    let mut publisher = connect_one(&addr, "bench-relay", &token_for("bench-relay")).unwrap_or_else(|e| die(&e));
    let mut reader = publisher.try_clone().unwrap();
    let stride = n / count;
    let targets: Vec<usize> = (0..count).map(|k| k * stride).collect();
    let packets: Vec<Vec<u8>> = targets
        .iter()
        .enumerate()
        .map(|(k, i)| {
            let claims = json!({"iss": ISS, "aud": "bench-relay", "iat": tokens::now(), "jti": format!("bench-{k}"),
                "sub": format!("dev-{i}"), "events": {"http://schemas.openid.net/event/backchannel-logout": {}}});
            let token = sign("logout+jwt", &claims);
            publish_packet(false, TOPIC, Some((k % 65535) as u16 + 1), token.as_bytes())
        })
        .collect();
    let answers = std::thread::spawn(move || {
        let (mut acks, mut ended_one, mut other) = (0usize, 0usize, Vec::new());
        reader.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        while acks < count || ended_one + other.len() < count {
            match read_packet(&mut reader) {
                Ok((0x40, _)) => acks += 1,
                Ok((t, b)) if t & 0xf0 == 0x30 => {
                    let tlen = u16::from_be_bytes([b[0], b[1]]) as usize;
                    let payload = String::from_utf8_lossy(&b[2 + tlen..]).into_owned();
                    if payload == r#"{"ended":1,"result":"ok"}"# || payload == r#"{"result":"ok","ended":1}"# {
                        ended_one += 1;
                    } else {
                        other.push(payload);
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        (acks, ended_one, other)
    });

    let t0 = Instant::now();
    let mut sent_at = vec![0f64; count];
    for (k, p) in packets.iter().enumerate() {
        sent_at[k] = t0.elapsed().as_secs_f64();
        publisher.write_all(p).unwrap_or_else(|e| die(&format!("publish: {e}")));
    }
    let publish_s = t0.elapsed().as_secs_f64();

    // Observe: the targets' closes, and any other client's.
    let mut closed_at: Vec<Option<f64>> = vec![None; n];
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs_f64(publish_s) + OBSERVE;
    let mut passes = 0u64;
    while Instant::now() < deadline {
        passes += 1;
        // Targets every pass; the others every 50th (they must simply stay open).
        for (i, slot) in streams.iter_mut().enumerate() {
            if closed_at[i].is_some() || (i % stride != 0 && passes % 50 != 0) {
                continue;
            }
            let Some(s) = slot.as_mut() else { continue };
            let gone = match s.read(&mut buf) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) if e.kind() == ErrorKind::WouldBlock => false,
                Err(_) => true,
            };
            if gone {
                closed_at[i] = Some(t0.elapsed().as_secs_f64());
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let mut delays: Vec<f64> = Vec::new();
    let mut missing = 0;
    for (k, i) in targets.iter().enumerate() {
        match closed_at[*i] {
            Some(t) => delays.push(t - sent_at[k]),
            None => missing += 1,
        }
    }
    let others_kicked = (0..n).filter(|i| i % stride != 0 && closed_at[*i].is_some()).count();
    delays.sort_by(f64::total_cmp);
    let (acks, ended_one, other) = answers.join().unwrap();
    let ms = |x: f64| format!("{:.0} ms", x * 1000.0);
    println!("logout_kicks: {n} live sessions, {count} logouts sent back to back in {}", ms(publish_s));
    println!(
        "  kick delay after each logout: p50 {}, p90 {}, p99 {}, max {} (target: each <= {})",
        ms(percentile(&delays, 0.5)),
        ms(percentile(&delays, 0.9)),
        ms(percentile(&delays, 0.99)),
        ms(delays.last().copied().unwrap_or(f64::NAN)),
        ms(TARGET)
    );
    println!("  targets not kicked: {missing}; other clients kicked: {others_kicked}; PUBACKs {acks}/{count}; answers \"ended\": 1: {ended_one}/{count}");
    if let Some(o) = other.first() {
        println!("  unexpected answer: {o}");
    }
    println!("  connect phase {connect_s:.1} s; load average {}", loadavg());
    let ok = missing == 0 && others_kicked == 0 && ended_one == count && delays.last().is_some_and(|m| *m <= TARGET);
    if !ok {
        die("target missed");
    }
}
