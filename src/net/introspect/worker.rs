//! The worker loop: first checks before re-checks, a re-check that waited past its deadline is shed
//! (not asked, not a failure), the latency average that sets the re-check budget.
use super::{Shared, LOG_PREFIX};
use crate::host::Level;
use crate::introspect::{Done, Outcome, Priority};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) fn failed(s: &Shared, error: &str) {
    let n = s.metrics.introspection_failures.fetch_add(1, Ordering::Relaxed) + 1;
    s.notices.push(Level::Warning, format!("{LOG_PREFIX}: revocation check failed: {error} ({n} failure(s) so far)"));
}

pub(super) fn measured(s: &Shared, took: Duration) {
    s.metrics.introspection_latency.record(took);
    let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
    // Racy between workers, which only blurs an average.
    let old = s.latency_us.load(Ordering::Relaxed);
    s.latency_us.store(old - old / 8 + us / 8, Ordering::Relaxed);
}

pub(super) fn work(s: Arc<Shared>) {
    loop {
        let super::Queued { job, deadline } = {
            let mut q = s.queue.lock();
            loop {
                if s.stop.load(Ordering::Acquire) {
                    return;
                }
                if let Some(j) = q.first.pop_front().or_else(|| q.rechecks.pop_front()) {
                    break j;
                }
                s.wake.wait(&mut q);
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let outcome = if left < Duration::from_millis(1) {
            if job.priority == Priority::Recheck {
                Outcome::Shed
            } else {
                Outcome::Answer(Err(format!(
                    "no answer within {} ms (queued behind other checks)",
                    s.timeout.as_millis()
                )))
            }
        } else {
            s.metrics.introspection_calls.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let answer = s.checker.check(&s.agent, &job.token, job.issuer.as_deref(), left.min(s.timeout));
            measured(&s, started.elapsed());
            Outcome::Answer(answer)
        };
        if let Outcome::Answer(Err(e)) = &outcome {
            failed(&s, e);
        }
        let mut q = s.queue.lock();
        // Under one lock: a broker thread that takes the results and then submits the same token
        // either sees this answer or sees the token still pending, never neither.
        q.pending.remove(&job.digest);
        q.results.push(Done { digest: job.digest, exp: job.exp, outcome });
    }
}
