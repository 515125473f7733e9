//! In-process scale benchmark: the plugin's event handlers (the same `Plugin` the broker entry points
//! call) against a minimal host, with N background sessions (default 100,000 and 1,000,000), and a
//! counting global allocator for the plugin's own retained memory.
//!
//! Per N and configuration it reports:
//! - memory: bytes the allocator holds after N CONNECTs (each its own client id and HS256 token),
//!   minus before, per session (requested sizes: malloc's own per-block overhead is not in it; the
//!   real-broker run of ci/bench-storm.sh includes it);
//! - CPU per event (this thread's CPU time), the median of SCALE_PASSES (5) passes, each: M =
//!   SCALE_M (10,000) cold CONNECTs of fresh clients with fresh tokens, 4 M ACL checks on random
//!   live clients, 2,000 TICKs with nothing due, M DISCONNECTs, M cached reconnects (and their
//!   DISCONNECTs); the same with N = 0 (only the M measured clients) is the "empty" figure;
//! - the memory floor ("floor µs"): one lookup of a 128-byte record per random client in a table of
//!   as many records, the least any per-session state costs to reach once it is out of the caches;
//! - allocations (alloc and realloc calls) per cold CONNECT ("allocs");
//! - kicks (SCALE_KICKS=1): the N background tokens expire spread over SCALE_KICK_SPAN (60) s; the
//!   clock is the wall clock from then on, TICK every 100 ms as mosquitto's loop does at most; kick
//!   delay = (time when the TICK pass that kicked it returned) - (exp + leeway); p50/p99/max, kicks
//!   missed (none after deadline + 10 s), early (a TICK whose own time was before the deadline) and the
//!   live-session count after.
//!
//! Environment: SCALE_N (comma-separated, default "100000,1000000"), SCALE_M, SCALE_KICKS (default
//! 1), SCALE_RECONNECTS (default 1; 0 leaves out the cached reconnects, for ci/profile-connect.sh), SCALE_KICK_SPAN, SCALE_CONFIGS ("plain,acl": no authorization / authorization from `publ` and
//! `subs` claims). Every loop is bounded in count; the kick loop also in time.
#[path = "common/mod.rs"]
mod common;

use common::{env_list, env_usize};
use mqtt_jwt_auth::acl::Access;
use mqtt_jwt_auth::host::{Broker, ClientKey, ClientRef, Level};
use mqtt_jwt_auth::plugin::Plugin;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// Allocation calls (alloc and realloc), for allocations per event.
static CALLS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Relaxed);
        CALLS.fetch_add(1, Relaxed);
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Relaxed);
        // SAFETY: `p` came from System with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Relaxed);
        CALLS.fetch_add(1, Relaxed);
        // SAFETY: `p` came from System with this layout; the caller's new size.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const SECRET: &str = "scale-bench-secret-0123456789-abcdefghijklmnop";
const ISSUER: &str = "https://idp.example.com/realms/devices";
const T0: f64 = 1_900_000_000.0;

fn cpu_seconds() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An HS256 token for device `i`, as an IdP would issue it.
fn mint(i: usize, exp: i64, acl: bool) -> String {
    let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let extra = if acl {
        format!(r#","publ":["devices/dev-{i}/up/#"],"subs":["devices/dev-{i}/down/#"]"#)
    } else {
        String::new()
    };
    let payload = format!(
        r#"{{"iss":"{ISSUER}","sub":"dev-{i}","aud":"mqtt","iat":{},"exp":{exp},"jti":"{i:016x}"{extra}}}"#,
        T0 as i64 - 10
    );
    let signed = format!("{header}.{}", b64(payload.as_bytes()));
    let signer = mqtt_jwt_auth::keys::Signer::new(mqtt_jwt_auth::alg::Alg::HS256, SECRET.as_bytes()).unwrap();
    format!("{signed}.{}", b64(&signer.sign(signed.as_bytes()).unwrap()))
}

/// The host: client ids by ClientRef index (allocated before any measurement), kicks recorded.
struct Host {
    ids: Vec<String>,
    kicked: RefCell<Vec<usize>>,
}

impl Broker for Host {
    fn log(&self, _level: Level, _msg: &str) {}
    fn client_id(&self, c: ClientRef) -> Option<String> {
        self.ids.get(c.host_addr()).cloned()
    }
    fn client_address(&self, _c: ClientRef) -> Option<String> {
        Some("127.0.0.1".into())
    }
    fn client_username(&self, _c: ClientRef) -> Option<String> {
        None
    }
    fn set_username(&self, _c: ClientRef, _name: &str) -> bool {
        true
    }
    fn kick(&self, client_id: &str, _with_will: bool) -> bool {
        if let Some(i) = client_id.strip_prefix("dev-").and_then(|n| n.parse().ok()) {
            self.kicked.borrow_mut().push(i);
        }
        true
    }
    fn publish_to(&self, _client_id: &str, _topic: &str, _payload: &[u8]) -> bool {
        true
    }
    fn publish(&self, _topic: &str, _payload: &[u8], _retain: bool) -> bool {
        true
    }
    // Authentication is answered at once here (mosquitto 2.0's way).
    fn can_defer_auth(&self) -> bool {
        false
    }
    fn complete_auth(&self, _c: ClientKey, _client_id: &str, _ok: bool) -> Option<ClientRef<'_>> {
        None
    }
    fn client_clean_start(&self, _c: ClientRef) -> bool {
        true
    }
}

fn config(acl: bool) -> String {
    let authorization = if acl { r#","authorization":{}"# } else { "" };
    format!(
        r#"{{"version":1,"algorithm":"HS256","mode":"local","options":{{"modes":{{"local":"{SECRET}"}},
        "common":{{"issuer":"{ISSUER}","audience":"mqtt","matchClientIdToSubject":true,"matchUsernameToSubject":true}}{authorization}}}}}"#
    )
}

struct Figures {
    bytes_per_session: f64,
    connect_us: f64,
    cached_us: f64,
    acl_us: f64,
    disconnect_us: f64,
    tick_us: f64,
    hmac_us: f64,
    digest_us: f64,
    floor_us: f64,
    connect_allocs: f64,
    kicks: Option<Kicks>,
}

struct Kicks {
    p50: f64,
    p99: f64,
    max: f64,
    missed: usize,
    early: usize,
    left: usize,
}

/// The random clients of the ACL and floor loops (xorshift64: cheap beside what it measures).
fn xorshift(rng: &mut u64) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    *rng
}

fn per_us(started: f64, n: usize) -> f64 {
    (cpu_seconds() - started) * 1e6 / n.max(1) as f64
}

fn run(acl: bool, n: usize, m: usize, kicks: bool, span: f64) -> Figures {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("jwt.json");
    std::fs::write(&file, config(acl)).expect("write jwt.json");
    // Background clients 0..n, measured clients n..n+m. The background tokens expire spread over
    // `span` seconds from K0 on (the kick phase); the measured ones long after.
    let k0 = T0 + 1000.0;
    let passes = env_usize("SCALE_PASSES", 5);
    // SCALE_RECONNECTS=0: no cached reconnects, so that every CONNECT of a profile is a cold one.
    let reconnects = env_usize("SCALE_RECONNECTS", 1) == 1;
    let total = n + m * passes;
    let host = Host { ids: (0..total).map(|i| format!("dev-{i}")).collect(), kicked: RefCell::new(Vec::new()) };
    let exp_of = |i: usize| if i < n { k0 as i64 + 1 + (i as f64 * span / n as f64) as i64 } else { k0 as i64 + 7200 };
    let tokens: Vec<String> = (0..total).map(|i| mint(i, exp_of(i), acl)).collect();
    let plugin = Plugin::load(&host, &file).expect("load");
    let mut now = T0;
    plugin.tick(&host, now);

    let before = LIVE.load(Relaxed);
    for (i, t) in tokens.iter().enumerate().take(n) {
        if i % 1000 == 0 {
            now += 0.001;
            plugin.tick(&host, now);
        }
        let r = plugin.basic_auth(&host, ClientRef::from_host(i), None, Some(t.as_bytes()), now);
        assert_eq!(r, mqtt_jwt_auth::host::AuthResult::Accept, "client {i}");
    }
    plugin.tick(&host, now);
    let bytes_per_session = if n > 0 { (LIVE.load(Relaxed) - before) as f64 / n as f64 } else { 0.0 };
    assert_eq!(plugin.live_sessions(), n);

    // Per-event costs with n background sessions: each pass with its own fresh clients.
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let topics: Vec<String> = (0..1024).map(|i| format!("devices/dev-{i}/up/temperature")).collect();
    let mut samples: [Vec<f64>; 5] = Default::default();
    let mut connect_allocs = 0.0;
    for pass in 0..passes {
        let measured = n + pass * m..n + (pass + 1) * m;
        let calls = CALLS.load(Relaxed);
        let c = cpu_seconds();
        for i in measured.clone() {
            plugin.basic_auth(&host, ClientRef::from_host(i), None, Some(tokens[i].as_bytes()), now);
        }
        samples[0].push(per_us(c, m));
        connect_allocs = (CALLS.load(Relaxed) - calls) as f64 / m as f64;
        plugin.tick(&host, now);
        let live = n + m;
        let checks = 4 * m;
        let c = cpu_seconds();
        for k in 0..checks {
            let r = (xorshift(&mut rng) % live as u64) as usize;
            let client = if r < n { r } else { measured.start + r - n };
            // MOSQ_ACL_WRITE = 2
            plugin.acl_check(
                &host,
                ClientRef::from_host(client),
                Access::Write,
                &topics[k % topics.len()],
                1,
                false,
                now,
            );
        }
        samples[1].push(per_us(c, checks));
        let ticks = 2000;
        let c = cpu_seconds();
        for _ in 0..ticks {
            now += 0.0001;
            plugin.tick(&host, now);
        }
        samples[2].push(per_us(c, ticks));
        let c = cpu_seconds();
        for i in measured.clone() {
            plugin.disconnect(&host, ClientRef::from_host(i), now);
        }
        samples[3].push(per_us(c, m));
        plugin.tick(&host, now);
        if !reconnects {
            samples[4].push(f64::NAN);
            continue;
        }
        let c = cpu_seconds();
        for i in measured.clone() {
            plugin.basic_auth(&host, ClientRef::from_host(i), None, Some(tokens[i].as_bytes()), now);
        }
        samples[4].push(per_us(c, m));
        for i in measured {
            plugin.disconnect(&host, ClientRef::from_host(i), now);
        }
        plugin.tick(&host, now);
        assert_eq!(plugin.live_sessions(), n);
    }
    let [connect_us, acl_us, tick_us, disconnect_us, cached_us] = samples.map(|mut v| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    });

    // The HMAC the plugin computes for a cold HS256 CONNECT (over the same signing inputs), and the
    // SHA-256 of the whole token that keys the verified-token cache.
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
    let c = cpu_seconds();
    for t in &tokens[n..n + m] {
        let signed = &t[..t.rfind('.').unwrap_or(0)];
        std::hint::black_box(aws_lc_rs::hmac::sign(&key, signed.as_bytes()));
    }
    let hmac_us = per_us(c, m);
    let c = cpu_seconds();
    for t in &tokens[n..n + m] {
        std::hint::black_box(mqtt_jwt_auth::cache::digest(t));
    }
    let digest_us = per_us(c, m);
    let floor_us = memory_floor(n + m, 4 * m, passes);
    let kicks = (kicks && n > 0).then(|| kick_phase(&plugin, &host, n, k0, span, &exp_of));
    Figures {
        bytes_per_session,
        connect_us,
        cached_us,
        acl_us,
        disconnect_us,
        tick_us,
        hmac_us,
        digest_us,
        floor_us,
        connect_allocs,
        kicks,
    }
}

/// The memory floor of a per-client event: one lookup of a boxed 128-byte record by client handle
/// in a table of `live` records, random clients, as the ACL loop picks them (median of `passes`).
/// With the records out of the CPU caches this is what any per-session state costs to reach.
fn memory_floor(live: usize, lookups: usize, passes: usize) -> f64 {
    use std::collections::HashMap;
    let table: HashMap<usize, Box<[u64; 16]>, mqtt_jwt_auth::hashers::HandleKeyed> =
        (0..live).map(|i| (0x7f00_0000_0000 + i * 1024, Box::new([i as u64; 16]))).collect();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut samples = Vec::new();
    for _ in 0..passes {
        let c = cpu_seconds();
        let mut sum = 0u64;
        for _ in 0..lookups {
            let key = 0x7f00_0000_0000 + (xorshift(&mut rng) % live as u64) as usize * 1024;
            sum = sum.wrapping_add(table.get(&key).map_or(0, |r| r[3]));
        }
        std::hint::black_box(sum);
        samples.push(per_us(c, lookups));
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn kick_phase(plugin: &Plugin, host: &Host, n: usize, k0: f64, span: f64, exp_of: &dyn Fn(usize) -> i64) -> Kicks {
    let started = Instant::now();
    let limit = Duration::from_secs_f64(span + 12.0);
    let mut delays = Vec::with_capacity(n);
    let mut early = 0;
    let mut seen = vec![false; n];
    while delays.len() < n && started.elapsed() < limit {
        let pass = Instant::now();
        let now = k0 + started.elapsed().as_secs_f64();
        plugin.tick(host, now);
        let done = k0 + started.elapsed().as_secs_f64();
        let kicked: Vec<usize> = host.kicked.borrow_mut().drain(..).collect();
        for i in kicked {
            if i >= n || std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let deadline = exp_of(i) as f64;
            if now < deadline - 0.001 {
                early += 1;
            }
            delays.push(done - deadline);
            // mosquitto runs DISCONNECT for a kicked client.
            plugin.disconnect(host, ClientRef::from_host(i), done);
        }
        if let Some(rest) = Duration::from_millis(100).checked_sub(pass.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    plugin.tick(host, k0 + started.elapsed().as_secs_f64());
    let missed = n - delays.len();
    delays.sort_by(f64::total_cmp);
    let q = |p: f64| {
        delays
            .get(((delays.len() as f64 * p) as usize).min(delays.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    Kicks {
        p50: q(0.5),
        p99: q(0.99),
        max: delays.last().copied().unwrap_or(f64::NAN),
        missed,
        early,
        left: plugin.live_sessions(),
    }
}

fn main() {
    let ns: Vec<usize> = env_list("SCALE_N", "100000,1000000").iter().map(|s| s.parse().expect("SCALE_N")).collect();
    let m = env_usize("SCALE_M", 10_000);
    let kicks = env_usize("SCALE_KICKS", 1) == 1;
    let span = env_usize("SCALE_KICK_SPAN", 60) as f64;
    println!(
        "scale (in-process, M = {m} measured clients, CPU = this thread's CPU time per event, median of the passes):"
    );
    println!(
        "{:<6} {:>9} {:>9} {:>10} {:>10} {:>8} {:>8} {:>8} {:>7} {:>7} {:>8} {:>7}  kicks over {span} s: p50 / p99 / max (s), missed, early, left",
        "config", "sessions", "B/session", "CONNECT µs", "cached µs", "ACL µs", "DISC µs", "TICK µs", "HMAC µs", "SHA µs", "floor µs", "allocs"
    );
    for cfg in env_list("SCALE_CONFIGS", "plain,acl") {
        let acl = cfg == "acl";
        for &n in std::iter::once(&0).chain(ns.iter()) {
            let f = run(acl, n, m, kicks, span);
            let k = f.kicks.map_or("-".to_string(), |k| {
                format!("{:.3} / {:.3} / {:.3}, {}, {}, {}", k.p50, k.p99, k.max, k.missed, k.early, k.left)
            });
            println!(
                "{cfg:<6} {n:>9} {:>9.0} {:>10.2} {:>10.2} {:>8.3} {:>8.3} {:>8.3} {:>7.2} {:>7.2} {:>8.3} {:>7.1}  {k}",
                f.bytes_per_session,
                f.connect_us,
                f.cached_us,
                f.acl_us,
                f.disconnect_us,
                f.tick_us,
                f.hmac_us,
                f.digest_us,
                f.floor_us,
                f.connect_allocs
            );
        }
    }
}
