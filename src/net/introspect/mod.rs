//! Revocation checks on worker threads. The broker thread submits a job (a short lock to push onto
//! a bounded queue) and later takes the answers (a short lock to swap a vector); it never waits for
//! the network. One request at a time per token: a job for a token already queued or in flight
//! coalesces with it. First checks (a new session's token) have their own queue, which workers
//! always serve first, so re-checks of live sessions never make a new client wait. Workers never
//! call mosquitto: failures go to the notices queue.
pub mod request;
mod worker;

pub use request::Checker;

use crate::cache::Digest;
use crate::host::LOG_PREFIX;
use crate::introspect::{Answer, Done, Job, Priority, Submitted};
use crate::metrics::Metrics;
use crate::notices::Notices;
use parking_lot::{Condvar, Mutex};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Latency assumed for the re-check budget until requests have been measured.
const INITIAL_LATENCY_US: u64 = 50_000;
/// Share of the workers' measured capacity that re-checks may use: the rest absorbs jitter in the
/// endpoint's latency and the first checks.
const RECHECK_SHARE: f64 = 0.8;

/// A job as queued: no answer by `deadline` (the configured timeout from its submission, time
/// spent queued included) counts as a failure; a re-check still queued then is shed instead.
/// Stamped by [`Introspector::submit`], so the broker thread's handlers never read the clock.
struct Queued {
    job: Job,
    deadline: Instant,
}

#[derive(Default)]
struct Queue {
    first: VecDeque<Queued>,
    rechecks: VecDeque<Queued>,
    /// Tokens queued or in flight.
    pending: HashSet<Digest>,
    results: Vec<Done>,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    stop: AtomicBool,
    capacity: usize,
    checker: Checker,
    agent: ureq::Agent,
    timeout: Duration,
    notices: Notices,
    /// The plugin's counters (calls, failures, latency), shared with the broker thread.
    metrics: Arc<Metrics>,
    /// Moving average of one request's duration, for the re-check budget.
    latency_us: AtomicU64,
    fingerprint: Digest,
}

/// Owns the workers: dropping it (reload, shutdown) tells them to leave.
pub struct Introspector {
    shared: Arc<Shared>,
    workers: usize,
    started: AtomicBool,
}

impl Introspector {
    pub fn new(
        checker: Checker,
        timeout: Duration,
        capacity: usize,
        workers: usize,
        notices: Notices,
        metrics: Arc<Metrics>,
    ) -> Self {
        let agent = crate::net::http::agent(timeout);
        let fingerprint = checker.fingerprint();
        let shared = Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            capacity,
            checker,
            agent,
            timeout,
            notices,
            metrics,
            latency_us: AtomicU64::new(INITIAL_LATENCY_US),
            fingerprint,
        };
        Introspector { shared: Arc::new(shared), workers, started: AtomicBool::new(false) }
    }

    pub fn timeout(&self) -> Duration {
        self.shared.timeout
    }

    pub fn start(&self) -> Result<(), String> {
        if self.started.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        for _ in 0..self.workers {
            let shared = self.shared.clone();
            std::thread::Builder::new()
                .name("jwt-introspect".into())
                .spawn(move || worker::work(shared))
                .map_err(|e| format!("cannot start an introspection worker: {e}"))?;
        }
        Ok(())
    }

    /// Identifies the endpoint and credentials: equal fingerprints give equal verdicts.
    pub fn fingerprint(&self) -> Digest {
        self.shared.fingerprint
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Measured duration of one request (moving average).
    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.shared.latency_us.load(Ordering::Relaxed).max(1))
    }

    /// Re-checks per second the workers can answer besides the first checks.
    pub fn recheck_rate(&self) -> f64 {
        RECHECK_SHARE * self.workers as f64 / self.latency().as_secs_f64()
    }

    /// Broker thread: never blocks beyond the queue lock (held by workers only to pop or push).
    pub fn submit(&self, job: Job) -> Submitted {
        let deadline = Instant::now() + self.shared.timeout;
        let mut q = self.shared.queue.lock();
        if q.pending.contains(&job.digest) {
            if job.priority == Priority::First {
                // A new session waits on a token that is queued for a re-check: move it up.
                if let Some(i) = q.rechecks.iter().position(|j| j.job.digest == job.digest) {
                    if let Some(mut j) = q.rechecks.remove(i) {
                        j.job.priority = Priority::First;
                        j.deadline = j.deadline.min(deadline);
                        q.first.push_back(j);
                    }
                }
            }
            return Submitted::Coalesced;
        }
        let queued = match job.priority {
            Priority::First => q.first.len(),
            Priority::Recheck => q.rechecks.len(),
        };
        if queued >= self.shared.capacity {
            return Submitted::Full;
        }
        q.pending.insert(job.digest);
        match job.priority {
            Priority::First => q.first.push_back(Queued { job, deadline }),
            Priority::Recheck => q.rechecks.push_back(Queued { job, deadline }),
        }
        drop(q);
        self.shared.wake.notify_one();
        Submitted::Queued
    }

    /// Whether a first check would find the queue full.
    pub fn is_full(&self) -> bool {
        self.shared.queue.lock().first.len() >= self.shared.capacity
    }

    /// Re-checks waiting for a worker.
    pub fn rechecks_queued(&self) -> usize {
        self.shared.queue.lock().rechecks.len()
    }

    /// The answers that arrived since the last call.
    pub fn take_results(&self) -> Vec<Done> {
        std::mem::take(&mut self.shared.queue.lock().results)
    }

    /// The blocking policy only: one request on the calling thread.
    pub fn check_now(&self, token: &str, issuer: Option<&str>) -> Answer {
        let s = &self.shared;
        let metrics = &s.metrics;
        metrics.introspection_calls.fetch_add(1, Ordering::Relaxed);
        metrics.introspection_blocking_calls.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let answer = s.checker.check(&s.agent, token, issuer, s.timeout);
        worker::measured(s, started.elapsed());
        if let Err(e) = &answer {
            worker::failed(s, e);
        }
        answer
    }
}

impl Drop for Introspector {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.notify_all();
    }
}
