//! Connect storm: the broker's CPU time per MQTT CONNECT, measured on real mosquitto processes.
//!
//! Brokers (all started once, measured in interleaved rounds to cancel drift):
//!   anonymous        allow_anonymous true, no plugin: the baseline
//!   password_file    mosquitto's own password file (mosquitto_passwd): a reference
//!   hs256/rs256/es256  this plugin, verified-token cache disabled: the cost of a first connect
//!   rs256_reconnect/es256_reconnect  this plugin with the cache enabled; every token has connected
//!                    once before the measured rounds, so each measured CONNECT is a reconnect
//!
//! Cost = growth of the broker's on-CPU time (sum of the first field of /proc/<pid>/task/*/schedstat)
//! over a storm of N CONNECT → CONNACK(0) → DISCONNECT exchanges, divided by N.
//!
//! Environment: STORM_N (connects per storm, default 3000), STORM_ROUNDS (default 5), STORM_THREADS
//! (client threads, default 4), STORM_WARMUP (default 200), STORM_CHUNK (within a round the brokers take
//! turns every STORM_CHUNK connects, default 500), STORM_CASES (comma list of case names to
//! run; anonymous always runs), STORM_BROKER_LOG ("default": mosquitto's default log types, the
//! default; "all": the test harness's debug logging of every packet; "none"), MQTT_JWT_PLUGIN (path of
//! libmqtt_jwt_auth.so; by default target/<profile>/deps/'s, where `cargo bench` builds it).
#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;
use common::{cpu_ns, env_usize, loadavg, machine_jiffies, median, self_cpu_ns, tail};

use mqtt_jwt_auth::alg::Alg;
use serde_json::json;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::broker::{keys_dir, target_dir, Broker, Options};
use support::mqtt::{connect_packet, read_packet, Connect};
use support::tokens;

/// Every storm ends by this limit, whatever happens.
const STORM_TIME_LIMIT: Duration = Duration::from_secs(120);
const IO_TIMEOUT: Duration = Duration::from_secs(10);
const SETTLE: Duration = Duration::from_millis(20);

/// (username, password) for one CONNECT.
type Cred = (String, String);

struct Case {
    name: &'static str,
    what: &'static str,
    /// Ratio to anonymous the project aims for.
    target: Option<f64>,
    broker: Broker,
    creds: Vec<Cred>,
    /// Cached cases: every token connects once before the rounds (reported apart as `<alg>_first`).
    prime: bool,
    /// A credential the broker must refuse (proves the auth path is live).
    bad: Option<Cred>,
    rounds: Vec<Round>,
    first_round: Option<Round>,
}

#[derive(Clone, Copy, Debug)]
struct Round {
    cpu_ns: u64,
    n: usize,
    wall: Duration,
}

impl Round {
    fn us_per_connect(&self) -> f64 {
        self.cpu_ns as f64 / 1000.0 / self.n as f64
    }
    fn rate(&self) -> f64 {
        self.n as f64 / self.wall.as_secs_f64()
    }
}

/// One CONNECT → CONNACK → DISCONNECT; the CONNACK return code, or what went wrong.
fn one_connect(addr: &SocketAddr, client_id: &str, cred: &Cred) -> Result<u8, String> {
    let mut s = common::dial(addr, IO_TIMEOUT).map_err(|e| format!("tcp connect: {e}"))?;
    let c = Connect {
        version: 4,
        client_id,
        username: Some(cred.0.as_bytes()),
        password: Some(cred.1.as_bytes()),
        keepalive: 30,
    };
    s.write_all(&connect_packet(&c)).map_err(|e| format!("write CONNECT: {e}"))?;
    let code = match read_packet(&mut s) {
        Ok((0x20, body)) if body.len() >= 2 => body[1],
        Ok((first, _)) => return Err(format!("expected CONNACK, got packet type {first:#04x}")),
        Err(e) => return Err(format!("no CONNACK: {e}")),
    };
    if code == 0 {
        s.write_all(&[0xe0, 0x00]).map_err(|e| format!("write DISCONNECT: {e}"))?;
    }
    // Wait for the broker to close: its work for this client is then done and inside the measurement,
    // and the TIME_WAIT lands on the broker's side instead of using up the ephemeral ports.
    let mut buf = [0u8; 64];
    for _ in 0..16 {
        match s.read(&mut buf) {
            Ok(0) => return Ok(code),
            Ok(_) => continue,
            Err(e) => return Err(format!("waiting for the broker to close: {e}")),
        }
    }
    Err("the broker kept sending after DISCONNECT".into())
}

struct Storm {
    ok: usize,
    failures: usize,
    first_failures: Vec<String>,
    wall: Duration,
}

/// All `creds` connect once over `threads` client threads; every CONNACK must be 0.
fn storm(port: u16, creds: &[Cred], id_prefix: &str, threads: usize) -> Storm {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let next = AtomicUsize::new(0);
    let ok = AtomicUsize::new(0);
    let failures = AtomicUsize::new(0);
    let first_failures = Mutex::new(Vec::new());
    let start = Instant::now();
    let deadline = start + STORM_TIME_LIMIT;
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                // Bounded: each thread takes at most creds.len() items, and stops at the deadline.
                for _ in 0..creds.len() {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= creds.len() || Instant::now() > deadline {
                        break;
                    }
                    let id = format!("{id_prefix}-{i}");
                    match one_connect(&addr, &id, &creds[i]) {
                        Ok(0) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        other => {
                            failures.fetch_add(1, Ordering::Relaxed);
                            let mut f = first_failures.lock().unwrap();
                            if f.len() < 5 {
                                f.push(match other {
                                    Ok(code) => format!("client {id}: CONNACK return code {code}"),
                                    Err(e) => format!("client {id}: {e}"),
                                });
                            }
                        }
                    }
                }
            });
        }
    });
    let wall = start.elapsed();
    let ok = ok.into_inner();
    let mut failures = failures.into_inner();
    let mut first_failures = first_failures.into_inner().unwrap();
    let not_run = creds.len().saturating_sub(ok + failures);
    if not_run > 0 {
        failures += not_run;
        first_failures.push(format!("{not_run} connects not attempted: storm time limit {STORM_TIME_LIMIT:?} reached"));
    }
    Storm { ok, failures, first_failures, wall }
}

/// A storm of `creds` under measurement: the broker's CPU time before and after.
fn measured_storm(case: &Case, creds: &[Cred], label: &str, threads: usize) -> Result<Round, String> {
    let pid = case.broker.pid();
    // Let the broker finish earlier work (freeing closed clients) before each snapshot.
    std::thread::sleep(SETTLE);
    let before = cpu_ns(pid);
    let s = storm(case.broker.port, creds, label, threads);
    std::thread::sleep(SETTLE);
    let after = cpu_ns(pid);
    if s.failures > 0 {
        return Err(format!(
            "case {} ({label}): {} of {} connects failed ({} ok):\n    {}",
            case.name,
            s.failures,
            creds.len(),
            s.ok,
            s.first_failures.join("\n    ")
        ));
    }
    Ok(Round { cpu_ns: after - before, n: s.ok, wall: s.wall })
}

/// Mints `n` tokens with distinct sub and jti, in parallel (RSA signing is slow).
fn mint(alg: Alg, case: &str, n: usize) -> Vec<Cred> {
    let key = tokens::signer(alg);
    let workers = std::thread::available_parallelism().map(|p| p.get()).unwrap_or(2).clamp(1, 8);
    let chunk = n.div_ceil(workers).max(1);
    let mut out = Vec::with_capacity(n);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                let key = &key;
                scope.spawn(move || {
                    (start..(start + chunk).min(n))
                        .map(|i| {
                            let sub = format!("storm-{case}-{i}");
                            let claims = tokens::claims(&sub, json!({"jti": format!("{case}-{i}-{}", tokens::now())}));
                            let token = tokens::sign_with(key, None, &claims);
                            (sub, token)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            out.extend(h.join().expect("minting thread"));
        }
    });
    out
}

/// A token whose signature does not verify: the first signature character changed (it carries 6 bits
/// of the signature; the last one may carry padding bits only).
fn tampered(cred: &Cred) -> Cred {
    let at = cred.1.rfind('.').expect("compact JWS") + 1;
    let mut t = cred.1.clone().into_bytes();
    t[at] = if t[at] == b'A' { b'B' } else { b'A' };
    (cred.0.clone(), String::from_utf8(t).unwrap())
}

fn jwt_json(alg: &str, key_file: &str, cache: bool, n: usize) -> String {
    let key = keys_dir().join(key_file);
    let cache =
        if cache { json!({"enabled": true, "maxEntries": (2 * n).max(100_000)}) } else { json!({"enabled": false}) };
    json!({
        "version": 1,
        "algorithm": alg,
        "mode": "local",
        "options": {
            "modes": {"local": {"filePath": key.to_str().expect("UTF-8 path")}},
            "verifiedTokenCache": cache
        }
    })
    .to_string()
}

/// Log types: mosquitto's defaults (error, warning, notice, information), or the harness's "all".
fn log_conf() -> String {
    match std::env::var("STORM_BROKER_LOG").as_deref() {
        Ok("all") => String::new(),
        Ok("none") => "log_type none\n".into(),
        Ok("default") | Err(_) => {
            // "none" resets the harness's "log_type all"; then mosquitto's default set.
            "log_type none\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n".into()
        }
        Ok(other) => panic!("STORM_BROKER_LOG={other:?}: expected \"default\", \"all\" or \"none\""),
    }
}

const PLUGIN_FILE: &str = "libmqtt_jwt_auth.so";

/// Which plugin to load, whether it is the file the harness itself would load, and why.
///
/// The harness loads target/<profile>/libmqtt_jwt_auth.so. `cargo bench` builds the cdylib only in
/// target/<profile>/deps/ and does not copy it up (only `cargo build --lib` does), so the harness's
/// file may be missing or older than the code being measured. Order: MQTT_JWT_PLUGIN; the harness's
/// file when it is the same file as deps/'s; deps/'s; the harness's.
fn plugin_choice() -> (PathBuf, bool, String) {
    use std::os::unix::fs::MetadataExt;
    if let Some(p) = std::env::var_os("MQTT_JWT_PLUGIN") {
        let p = PathBuf::from(p);
        assert!(p.exists(), "MQTT_JWT_PLUGIN={} does not exist", p.display());
        return (p, false, "from MQTT_JWT_PLUGIN".into());
    }
    let harness = target_dir().join(PLUGIN_FILE);
    let built = target_dir().join("deps").join(PLUGIN_FILE);
    let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    match (id(&harness), id(&built)) {
        (Some(h), Some(b)) if h == b => (harness, true, "the harness's path, same file as deps/".into()),
        (_, Some(_)) => (
            built,
            false,
            format!(
                "deps/: the harness's {} is {} (cargo bench does not copy the cdylib up; cargo build --release --lib does)",
                harness.display(),
                if harness.exists() { "a different build" } else { "missing" }
            ),
        ),
        (Some(_), None) => (harness, true, "the harness's path".into()),
        (None, None) => panic!(
            "{PLUGIN_FILE} is neither in {} nor in its deps/: build it (cargo build --release --lib) or set MQTT_JWT_PLUGIN",
            target_dir().display()
        ),
    }
}

fn start_plugin_broker(jwt: &str, scratch: &Path, name: &str) -> Broker {
    let log = log_conf();
    let opts = match plugin_choice() {
        (_, true, _) => Options { pre_conf: log, ..Options::default() },
        (plugin, false, _) => {
            // The harness's configuration, with the plugin path given explicitly.
            let file = scratch.join(format!("{name}.jwt.json"));
            std::fs::write(&file, jwt).unwrap();
            Options {
                pre_conf: log,
                with_plugin: false,
                extra_conf: format!(
                    "allow_anonymous false\nplugin {}\nplugin_opt_config_file {}\n",
                    plugin.display(),
                    file.display()
                ),
                ..Options::default()
            }
        }
    };
    Broker::start_with(jwt, opts).unwrap_or_else(|log| panic!("mosquitto ({name}) did not start:\n{log}"))
}

fn main() {
    // `cargo bench` passes --bench; this binary has no options of its own.
    let n = env_usize("STORM_N", 3000).max(1);
    let rounds = env_usize("STORM_ROUNDS", 5).max(1);
    let threads = env_usize("STORM_THREADS", 4).max(1);
    let warmup = env_usize("STORM_WARMUP", 200);
    let chunk = env_usize("STORM_CHUNK", 500).clamp(1, n);
    let only: Option<Vec<String>> =
        std::env::var("STORM_CASES").ok().map(|s| s.split(',').map(|c| c.trim().to_string()).collect());
    let wanted = |name: &str| name == "anonymous" || only.as_ref().is_none_or(|o| o.iter().any(|c| c == name));

    let (plugin, _, why) = plugin_choice();
    println!(
        "connect_storm: N={n} per storm, {rounds} rounds (brokers take turns every {chunk} connects), {threads} client \
         threads, warm-up {warmup}, broker log {}",
        match std::env::var("STORM_BROKER_LOG").as_deref() {
            Ok("all") => "all types (debug: every packet)",
            Ok("none") => "none",
            _ => "mosquitto's default types (error, warning, notice, information)",
        }
    );
    println!("plugin: {} ({why})", plugin.display());
    let version = Command::new("mosquitto").arg("-h").output().map(|o| o.stdout).unwrap_or_default();
    println!("broker: {}", String::from_utf8_lossy(&version).lines().next().unwrap_or("mosquitto ?"));
    println!(
        "machine: {} CPUs, load average {} (before minting)",
        std::thread::available_parallelism().map(|p| p.get()).unwrap_or(0),
        loadavg()
    );

    let scratch = tempfile::tempdir().expect("tempdir");
    let t_mint = Instant::now();
    let mut cases: Vec<Case> = Vec::new();

    // (a) anonymous: the same kind of CONNECT (username + a JWT as password), nothing checks it.
    {
        let anon_creds = mint(Alg::HS256, "anonymous", n);
        let broker =
            Broker::start_with("{}", Options { pre_conf: log_conf(), with_plugin: false, ..Options::default() })
                .unwrap_or_else(|log| panic!("mosquitto (anonymous) did not start:\n{log}"));
        cases.push(Case {
            name: "anonymous",
            what: "anonymous, no auth",
            target: None,
            broker,
            creds: anon_creds,
            prime: false,
            bad: None,
            rounds: vec![],
            first_round: None,
        });
    }

    // (b) mosquitto's password file.
    if wanted("password_file") {
        let pw = scratch.path().join("passwd");
        let st = Command::new("mosquitto_passwd")
            .arg("-b")
            .arg("-c")
            .arg(&pw)
            .arg("user")
            .arg("pass")
            .status()
            .expect("mosquitto_passwd not found (Debian package mosquitto)");
        assert!(st.success(), "mosquitto_passwd failed: {st}");
        let opts = Options {
            pre_conf: log_conf(),
            with_plugin: false,
            extra_conf: format!("allow_anonymous false\npassword_file {}\n", pw.display()),
            ..Options::default()
        };
        let broker = Broker::start_with("{}", opts)
            .unwrap_or_else(|log| panic!("mosquitto (password_file) did not start:\n{log}"));
        cases.push(Case {
            name: "password_file",
            what: "mosquitto password_file",
            target: None,
            broker,
            creds: vec![("user".to_string(), "pass".to_string()); n],
            prime: false,
            bad: Some(("user".to_string(), "wrong".to_string())),
            rounds: vec![],
            first_round: None,
        });
    }

    // (c)-(f) the plugin.
    let plugin_cases: [(&'static str, &'static str, Alg, &str, bool, f64); 5] = [
        ("hs256", "plugin HS256, no cache", Alg::HS256, "hs.secret", false, 1.10),
        ("rs256", "plugin RS256, no cache", Alg::RS256, "rsa.pub.pem", false, 1.8),
        ("es256", "plugin ES256, no cache", Alg::ES256, "ec256.pub.pem", false, 3.0),
        ("rs256_reconnect", "plugin RS256, cache, reconnect", Alg::RS256, "rsa.pub.pem", true, 1.10),
        ("es256_reconnect", "plugin ES256, cache, reconnect", Alg::ES256, "ec256.pub.pem", true, 1.10),
    ];
    for (name, what, alg, key, cache, target) in plugin_cases {
        if !wanted(name) {
            continue;
        }
        let alg_name = format!("{alg:?}");
        let creds = mint(alg, name, n);
        let bad = Some(tampered(&creds[0]));
        let broker = start_plugin_broker(&jwt_json(&alg_name, key, cache, n), scratch.path(), name);
        cases.push(Case {
            name,
            what,
            target: Some(target),
            broker,
            creds,
            prime: cache,
            bad,
            rounds: vec![],
            first_round: None,
        });
    }
    println!("minted {} tokens in {:.1}s", cases.len() * n, t_mint.elapsed().as_secs_f64());

    let mut errors: Vec<String> = Vec::new();

    // Sanity, warm-up and (cached cases) the first connect of every token.
    for case in &mut cases {
        if let Some(bad) = &case.bad {
            match one_connect(&([127, 0, 0, 1], case.broker.port).into(), "storm-bad", bad) {
                Ok(code) if code != 0 => {}
                other => errors.push(format!("case {}: a bad credential was not refused: {other:?}", case.name)),
            }
        }
        let w = warmup.min(case.creds.len());
        let s = storm(case.broker.port, &case.creds[..w], &format!("warm-{}", case.name), threads);
        if s.failures > 0 {
            errors.push(format!("case {} warm-up: {} failed: {}", case.name, s.failures, s.first_failures.join("; ")));
        }
        if case.prime {
            match measured_storm(case, &case.creds, &format!("first-{}", case.name), threads) {
                Ok(r) => case.first_round = Some(r),
                Err(e) => errors.push(e),
            }
        }
    }
    if !errors.is_empty() {
        fail(&errors, &cases);
    }

    // Measured rounds. Within a round every broker gets its N connects in chunks, the brokers taking
    // turns chunk by chunk (the first one rotating), so slow drift and other load hit all cases alike.
    let t_measure = Instant::now();
    let (busy0, total0) = machine_jiffies();
    let self0 = self_cpu_ns();
    let brokers0: u64 = cases.iter().map(|c| cpu_ns(c.broker.pid())).sum();
    let chunks = n.div_ceil(chunk);
    'rounds: for round in 0..rounds {
        let mut acc = vec![Round { cpu_ns: 0, n: 0, wall: Duration::ZERO }; cases.len()];
        for c in 0..chunks {
            let range = c * chunk..((c + 1) * chunk).min(n);
            for k in 0..cases.len() {
                let i = (k + round + c) % cases.len();
                let label = format!("r{round}c{c}-{}", cases[i].name);
                match measured_storm(&cases[i], &cases[i].creds[range.clone()], &label, threads) {
                    Ok(r) => {
                        acc[i].cpu_ns += r.cpu_ns;
                        acc[i].n += r.n;
                        acc[i].wall += r.wall;
                    }
                    Err(e) => {
                        errors.push(e);
                        break 'rounds;
                    }
                }
            }
        }
        for (case, r) in cases.iter_mut().zip(acc) {
            case.rounds.push(r);
        }
    }
    let measure_wall = t_measure.elapsed().as_secs_f64();
    let (busy1, total1) = machine_jiffies();
    let self_ns = self_cpu_ns() - self0;
    let brokers_ns: u64 = cases.iter().map(|c| cpu_ns(c.broker.pid())).sum::<u64>() - brokers0;
    let ncpu = std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1) as f64;
    let busy_cores = if total1 > total0 { (busy1 - busy0) as f64 / (total1 - total0) as f64 * ncpu } else { 0.0 };
    let ours = (self_ns + brokers_ns) as f64 / 1e9 / measure_wall;

    // Results.
    let base = cases[0].rounds.iter().map(Round::us_per_connect).collect::<Vec<_>>();
    let base = if base.is_empty() { f64::NAN } else { median(base) };
    println!();
    println!(
        "{:<16} {:<30} {:>14} {:>8} {:>8} {:>9} {:>11}  {:<9} rounds (µs)",
        "case", "broker", "µs CPU/CONNECT", "+µs", "ratio", "target", "connects/s", "vs target"
    );
    let mut lines = Vec::new();
    let row = |name: &str, what: &str, rs: &[Round], target: Option<f64>, lines: &mut Vec<String>| {
        if rs.is_empty() {
            return;
        }
        let us = median(rs.iter().map(Round::us_per_connect).collect());
        let rate = median(rs.iter().map(Round::rate).collect());
        let ratio = us / base;
        let verdict = match target {
            Some(_) if !ratio.is_finite() => "n/a".to_string(),
            Some(t) if ratio <= t => "met".to_string(),
            Some(_) => "MISSED".to_string(),
            None => "-".to_string(),
        };
        let each: Vec<String> = rs.iter().map(|r| format!("{:.1}", r.us_per_connect())).collect();
        println!(
            "{:<16} {:<30} {:>14.1} {:>+8.1} {:>7.2}x {:>9} {:>11.0}  {:<9} {}",
            name,
            what,
            us,
            us - base,
            ratio,
            target.map(|t| format!("<= {t:.2}x")).unwrap_or_else(|| "-".into()),
            rate,
            verdict,
            each.join(" ")
        );
        lines.push(format!(
            "RESULT case={name} us_per_connect={us:.2} ratio={ratio:.3} plus_us={:.2} connects_per_s={rate:.0} min_us={:.2} \
             n={} rounds={} target={} verdict={}",
            us - base,
            rs.iter().map(Round::us_per_connect).fold(f64::INFINITY, f64::min),
            rs[0].n,
            rs.len(),
            target.map(|t| format!("{t:.2}")).unwrap_or_else(|| "none".into()),
            verdict.to_lowercase()
        ));
    };
    for case in &cases {
        row(case.name, case.what, &case.rounds, case.target, &mut lines);
    }
    for case in &cases {
        if let Some(first) = case.first_round {
            let name = format!("{}_first", case.name.trim_end_matches("_reconnect"));
            let what = format!("{}, 1st connect", case.what.trim_end_matches(", reconnect"));
            row(&name, &what, &[first], None, &mut lines);
        }
    }
    println!();
    for l in &lines {
        println!("{l}");
    }
    println!();
    println!(
        "load: measured phase {measure_wall:.1}s; machine busy {busy_cores:.2} of {ncpu:.0} cores, of which brokers + this \
         benchmark {ours:.2}, other processes and kernel threads ~{:.2}; load average now {}",
        (busy_cores - ours).max(0.0),
        loadavg()
    );
    println!("RESULT load busy_cores={busy_cores:.2} ours={ours:.2} other={:.2}", (busy_cores - ours).max(0.0));

    // Fail loudly: every accepted case must have answered CONNACK 0 to every CONNECT.
    for case in &mut cases {
        if !case.broker.is_alive() {
            errors.push(format!("case {}: the broker exited", case.name));
        }
    }
    if !errors.is_empty() {
        fail(&errors, &cases);
    }
}

/// Prints every error and each broker's last log lines, then exits with status 1.
fn fail(errors: &[String], cases: &[Case]) -> ! {
    for case in cases {
        eprintln!("--- {} broker log (last lines) ---\n{}", case.name, tail(&case.broker.log(), 20));
    }
    for e in errors {
        eprintln!("FAIL {e}");
    }
    eprintln!("FAIL connect_storm: {} error(s); the numbers above are not valid", errors.len());
    std::process::exit(1);
}
