//! Revocation checks on worker threads. The broker thread submits a job (a short lock to push onto
//! a bounded queue) and later takes the answers (a short lock to swap a vector); it never waits for
//! the network. One request at a time per token: a job for a token already queued or in flight
//! coalesces with it. Workers never call mosquitto: failures go to the notices queue.
pub mod request;
pub mod tracker;

pub use request::{Answer, Checker, Verdict};

use crate::cache::Digest;
use crate::notices::Notices;
use crate::plugin::{Level, LOG_PREFIX};
use parking_lot::{Condvar, Mutex};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Job {
    pub digest: Digest,
    pub token: Arc<str>,
    /// The token's `iss`, which picks the discovered endpoint when there are several issuers.
    pub issuer: Option<String>,
    /// No answer by then counts as a failure (time spent queued included).
    pub deadline: Instant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub digest: Digest,
    pub answer: Answer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    Queued,
    /// The same token is already queued or in flight: its answer will serve this one too.
    Coalesced,
    Full,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Tokens queued or in flight.
    pending: HashSet<Digest>,
    results: Vec<Done>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub requests: u64,
    pub failures: u64,
    pub coalesced: u64,
    pub rejected: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    failures: AtomicU64,
    coalesced: AtomicU64,
    rejected: AtomicU64,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    stop: AtomicBool,
    capacity: usize,
    checker: Checker,
    agent: ureq::Agent,
    timeout: Duration,
    counters: Counters,
    notices: Notices,
}

/// Owns the workers: dropping it (reload, shutdown) tells them to leave.
pub struct Introspector {
    shared: Arc<Shared>,
    workers: usize,
    started: AtomicBool,
}

impl Introspector {
    pub fn new(checker: Checker, timeout: Duration, capacity: usize, workers: usize, notices: Notices) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            // Never follow a redirect: it would carry the token and the client credentials to
            // wherever it points, and let that place vouch for revoked tokens.
            .max_redirects(0)
            .user_agent(concat!("mqtt-jwt-auth/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let shared = Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            capacity,
            checker,
            agent,
            timeout,
            counters: Counters::default(),
            notices,
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
                .spawn(move || work(shared))
                .map_err(|e| format!("cannot start an introspection worker: {e}"))?;
        }
        Ok(())
    }

    /// Broker thread: never blocks beyond the queue lock (held by workers only to pop or push).
    pub fn submit(&self, job: Job) -> Submitted {
        let mut q = self.shared.queue.lock();
        if q.pending.contains(&job.digest) {
            self.shared.counters.coalesced.fetch_add(1, Ordering::Relaxed);
            return Submitted::Coalesced;
        }
        if q.jobs.len() >= self.shared.capacity {
            self.shared.counters.rejected.fetch_add(1, Ordering::Relaxed);
            return Submitted::Full;
        }
        q.pending.insert(job.digest);
        q.jobs.push_back(job);
        drop(q);
        self.shared.wake.notify_one();
        Submitted::Queued
    }

    pub fn is_full(&self) -> bool {
        self.shared.queue.lock().jobs.len() >= self.shared.capacity
    }

    /// The answers that arrived since the last call.
    pub fn take_results(&self) -> Vec<Done> {
        std::mem::take(&mut self.shared.queue.lock().results)
    }

    /// The blocking policy only: one request on the calling thread.
    pub fn check_now(&self, token: &str, issuer: Option<&str>) -> Answer {
        let s = &self.shared;
        s.counters.requests.fetch_add(1, Ordering::Relaxed);
        let answer = s.checker.check(&s.agent, token, issuer, s.timeout);
        if let Err(e) = &answer {
            failed(s, e);
        }
        answer
    }

    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        Stats {
            requests: c.requests.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            coalesced: c.coalesced.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Introspector {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.notify_all();
    }
}

fn failed(s: &Shared, error: &str) {
    crate::metrics::get().introspection_failures.fetch_add(1, Ordering::Relaxed);
    let n = s.counters.failures.fetch_add(1, Ordering::Relaxed) + 1;
    s.notices.push(Level::Warning, format!("{LOG_PREFIX}: revocation check failed: {error} ({n} failure(s) so far)"));
}

fn work(s: Arc<Shared>) {
    loop {
        let job = {
            let mut q = s.queue.lock();
            loop {
                if s.stop.load(Ordering::Acquire) {
                    return;
                }
                if let Some(j) = q.jobs.pop_front() {
                    break j;
                }
                s.wake.wait(&mut q);
            }
        };
        let left = job.deadline.saturating_duration_since(Instant::now());
        let answer = if left < Duration::from_millis(1) {
            Err(format!("no answer within {} ms (queued behind other checks)", s.timeout.as_millis()))
        } else {
            s.counters.requests.fetch_add(1, Ordering::Relaxed);
            let metrics = crate::metrics::get();
            metrics.introspection_calls.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let answer = s.checker.check(&s.agent, &job.token, job.issuer.as_deref(), left.min(s.timeout));
            metrics.introspection_latency.record(started.elapsed());
            answer
        };
        if let Err(e) = &answer {
            failed(&s, e);
        }
        let mut q = s.queue.lock();
        // Under one lock: a broker thread that takes the results and then submits the same token
        // either sees this answer or sees the token still pending, never neither.
        q.pending.remove(&job.digest);
        q.results.push(Done { digest: job.digest, answer });
    }
}
