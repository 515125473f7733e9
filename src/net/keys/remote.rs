//! A key set fetched over HTTP(S) by its own background thread. The broker thread only ever loads
//! the current set (an atomic pointer read, arc-swap) or sets a flag asking for an early refresh;
//! it never waits on the thread, and the thread never calls mosquitto (it queues log lines).
use super::fetch::{Fetched, Fetcher, RemoteSpec};
use super::schedule::Schedule;
use crate::host::{Level, LOG_PREFIX};
use crate::keys::KeySet;
use crate::metrics::Metrics;
use crate::net::discovery::Discovered;
use crate::notices::Notices;
use arc_swap::{ArcSwap, ArcSwapOption};
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// What the background thread has seen so far, for start-up decisions and `mqtt-jwt check`.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub attempts: u64,
    pub last_error: Option<String>,
    pub jwks_uri: Option<String>,
    pub introspection_endpoint: Option<String>,
    /// Keys skipped in the current set.
    pub warnings: Vec<String>,
}

struct Inner {
    spec: RemoteSpec,
    label: String,
    current: ArcSwap<KeySet>,
    generation: AtomicU64,
    refresh_wanted: AtomicBool,
    stop: AtomicBool,
    worker: OnceLock<Thread>,
    status: Mutex<Status>,
    status_changed: Condvar,
    notices: Notices,
    metrics: Arc<Metrics>,
    /// The last discovery document, read lock-free by the introspection workers (its
    /// introspection_endpoint) and the credentials exchange (its token_endpoint).
    discovered: Arc<ArcSwapOption<Discovered>>,
}

/// Owns the background thread: dropping it (reload, shutdown) tells the thread to leave.
pub struct RemoteKeys {
    inner: Arc<Inner>,
}

impl RemoteKeys {
    pub fn new(spec: RemoteSpec, notices: Notices, metrics: Arc<Metrics>) -> Self {
        let label = spec.label();
        RemoteKeys {
            inner: Arc::new(Inner {
                spec,
                label,
                current: ArcSwap::from_pointee(KeySet::default()),
                generation: AtomicU64::new(0),
                refresh_wanted: AtomicBool::new(false),
                stop: AtomicBool::new(false),
                worker: OnceLock::new(),
                status: Mutex::new(Status::default()),
                status_changed: Condvar::new(),
                notices,
                metrics,
                discovered: Arc::new(ArcSwapOption::empty()),
            }),
        }
    }

    pub fn spec(&self) -> &RemoteSpec {
        &self.inner.spec
    }

    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// The current set (empty until the first successful fetch). Lock-free.
    pub fn keys(&self) -> Arc<KeySet> {
        self.inner.current.load_full()
    }

    /// Changes whenever a different set is swapped in.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Asks for an early refresh (unknown kid, no keys yet). Never blocks: a flag and an unpark.
    pub fn request_refresh(&self) {
        self.inner.refresh_wanted.store(true, Ordering::Release);
        if let Some(t) = self.inner.worker.get() {
            t.unpark();
        }
    }

    /// Starts with `set` (the running configuration's keys for the same source, on reload).
    pub fn seed(&self, set: Arc<KeySet>) {
        if !set.keys.is_empty() {
            self.inner.current.store(set);
            self.inner.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    pub fn start(&self) -> Result<(), String> {
        if self.inner.worker.get().is_some() {
            return Ok(());
        }
        let inner = self.inner.clone();
        let handle = std::thread::Builder::new()
            .name("jwt-keys".into())
            .spawn(move || run(inner))
            .map_err(|e| format!("cannot start the key refresh thread: {e}"))?;
        let _ = self.inner.worker.set(handle.thread().clone());
        // Unpark in case a refresh was requested before the handle was stored.
        handle.thread().unpark();
        Ok(())
    }

    /// Where the discovery document lands (None until discovered, or without discovery).
    pub fn discovered(&self) -> Arc<ArcSwapOption<Discovered>> {
        self.inner.discovered.clone()
    }

    pub fn status(&self) -> Status {
        self.inner.status.lock().clone()
    }

    /// None while the first fetch is under way; Ok once keys are loaded; Err with the first failure.
    pub fn outcome(&self) -> Option<Result<(), String>> {
        if !self.keys().keys.is_empty() {
            return Some(Ok(()));
        }
        let s = self.inner.status.lock();
        (s.attempts > 0).then(|| Err(s.last_error.clone().unwrap_or_else(|| "no keys".into())))
    }

    /// Waits (start-up, CLI: never on a serving broker thread) until `outcome` is known.
    pub fn wait_outcome(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.outcome() {
                return r;
            }
            let mut s = self.inner.status.lock();
            if s.attempts > 0 {
                continue;
            }
            if self.inner.status_changed.wait_until(&mut s, deadline).timed_out() {
                return Err(format!("no answer within {} ms", timeout.as_millis()));
            }
        }
    }
}

impl Drop for RemoteKeys {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Release);
        if let Some(t) = self.inner.worker.get() {
            t.unpark();
        }
    }
}

fn run(inner: Arc<Inner>) {
    let mut schedule = Schedule::new(inner.spec.min_interval, Instant::now());
    let mut fetcher = Fetcher::new(inner.spec.clone());
    let mut last_digest = None;
    loop {
        if inner.stop.load(Ordering::Acquire) {
            return;
        }
        if inner.refresh_wanted.swap(false, Ordering::AcqRel) {
            schedule.request();
        }
        if let Some(wait) = schedule.wait(Instant::now()) {
            // Woken early by request_refresh or drop; spurious wake-ups just loop.
            std::thread::park_timeout(wait);
            continue;
        }
        let result = fetcher.fetch();
        if inner.stop.load(Ordering::Acquire) {
            return;
        }
        match result {
            Ok(f) => {
                let next = schedule.done(Instant::now(), Ok(f.ttl));
                install(&inner, f, &mut last_digest, &fetcher, next);
            }
            Err(e) => {
                let next = schedule.done(Instant::now(), Err(()));
                failed(&inner, e, next);
            }
        }
        inner.status_changed.notify_all();
    }
}

fn install(inner: &Inner, f: Fetched, last_digest: &mut Option<[u8; 32]>, fetcher: &Fetcher, next: Duration) {
    Metrics::inc(&inner.metrics.jwks_fetches);
    let changed = *last_digest != Some(f.digest);
    let label = &inner.label;
    if changed {
        let kids: Vec<_> = f.set.keys.iter().map(|k| k.kid.as_deref().unwrap_or("-")).collect();
        let line = format!(
            "{LOG_PREFIX}: loaded {} key(s) from {label} (kids: {}); next refresh in {}",
            f.set.keys.len(),
            crate::logsafe::clean(&kids.join(", "), 300),
            human(next)
        );
        inner.notices.push(Level::Notice, line);
        for w in &f.warnings {
            inner.notices.push(Level::Warning, format!("{LOG_PREFIX}: {label}: {w}"));
        }
        inner.current.store(Arc::new(f.set));
        inner.generation.fetch_add(1, Ordering::AcqRel);
        *last_digest = Some(f.digest);
    } else {
        inner.notices.push(Level::Debug, format!("{LOG_PREFIX}: keys from {label} unchanged"));
    }
    let mut s = inner.status.lock();
    s.attempts += 1;
    s.last_error = None;
    s.jwks_uri = Some(f.jwks_uri);
    s.introspection_endpoint = fetcher.discovered().and_then(|d| d.introspection_endpoint.clone());
    inner.discovered.store(fetcher.discovered().cloned().map(Arc::new));
    if changed {
        s.warnings = f.warnings;
    }
}

fn failed(inner: &Inner, error: String, next: Duration) {
    Metrics::inc(&inner.metrics.jwks_fetches);
    Metrics::inc(&inner.metrics.jwks_failures);
    let label = &inner.label;
    let held = inner.current.load().keys.len();
    let retry = format!("next attempt in {}", human(next));
    let line = if held == 0 {
        format!("{LOG_PREFIX}: cannot load keys from {label}: {error}; no keys are loaded yet, CONNECTs are refused; {retry}")
    } else {
        format!("{LOG_PREFIX}: cannot refresh keys from {label}: {error}; keeping the last good key set ({held} key(s)); {retry}")
    };
    inner.notices.push(Level::Warning, line);
    let mut s = inner.status.lock();
    s.attempts += 1;
    s.last_error = Some(error);
}

/// "300 ms", "2 s": log lines for operators.
fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs())
    }
}
