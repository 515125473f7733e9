//! When a remote key source fetches next: after the TTL on success, with backoff on failure, and
//! early when a token names an unknown kid (or arrives while no keys are loaded) — but never more
//! often than the minimum refresh interval, however many such tokens arrive. Pure: the caller
//! passes the clock.
use std::time::{Duration, Instant};

pub const BACKOFF_FIRST: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Schedule {
    min_interval: Duration,
    last_attempt: Option<Instant>,
    next_due: Instant,
    failures: u32,
    requested: bool,
    /// The TTL of the last good fetch: failures are retried at least that often.
    ttl: Option<Duration>,
}

impl Schedule {
    /// The first fetch is due at once.
    pub fn new(min_interval: Duration, now: Instant) -> Self {
        Schedule { min_interval, last_attempt: None, next_due: now, failures: 0, requested: false, ttl: None }
    }

    /// An early refresh is wanted (unknown kid, no keys yet); requests coalesce into one fetch.
    pub fn request(&mut self) {
        self.requested = true;
    }

    /// None: fetch now; Some(d): nothing to do for `d`.
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        let mut due = self.next_due;
        if self.requested {
            let earliest = self.last_attempt.map_or(now, |t| t + self.min_interval);
            due = due.min(earliest);
        }
        (due > now).then(|| due - now)
    }

    /// A fetch finished at `now`: Ok(ttl) after a success, Err(()) after a failure. Returns the
    /// delay before the next scheduled fetch (for the log line).
    pub fn done(&mut self, now: Instant, result: Result<Duration, ()>) -> Duration {
        self.last_attempt = Some(now);
        self.requested = false;
        let delay = match result {
            Ok(ttl) => {
                self.failures = 0;
                self.ttl = Some(ttl);
                ttl
            }
            Err(()) => {
                self.failures = self.failures.saturating_add(1);
                let shift = (self.failures - 1).min(16);
                let cap = self.ttl.map_or(BACKOFF_MAX, |t| t.clamp(BACKOFF_FIRST, BACKOFF_MAX));
                (BACKOFF_FIRST * (1u32 << shift)).min(cap)
            }
        };
        self.next_due = now + delay;
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn first_fetch_is_immediate_then_ttl() {
        let t0 = Instant::now();
        let mut s = Schedule::new(30 * S, t0);
        assert_eq!(s.wait(t0), None);
        assert_eq!(s.done(t0, Ok(60 * S)), 60 * S);
        assert_eq!(s.wait(t0 + 10 * S), Some(50 * S));
        assert_eq!(s.wait(t0 + 60 * S), None);
    }

    #[test]
    fn kid_misses_coalesce_and_respect_the_minimum_interval() {
        let t0 = Instant::now();
        let mut s = Schedule::new(30 * S, t0);
        s.done(t0, Ok(600 * S));
        for _ in 0..1000 {
            s.request();
        }
        assert_eq!(s.wait(t0 + 5 * S), Some(25 * S), "too soon after the last fetch");
        assert_eq!(s.wait(t0 + 30 * S), None);
        s.done(t0 + 30 * S, Ok(600 * S));
        // Served: no further early fetch until someone asks again.
        assert_eq!(s.wait(t0 + 61 * S), Some(569 * S));
        s.request();
        assert_eq!(s.wait(t0 + 61 * S), None);
    }

    #[test]
    fn failures_back_off_up_to_a_cap() {
        let t0 = Instant::now();
        let mut s = Schedule::new(30 * S, t0);
        let delays: Vec<_> = (0..8).map(|_| s.done(t0, Err(()))).collect();
        assert_eq!(delays, vec![S, 2 * S, 4 * S, 8 * S, 16 * S, 30 * S, 30 * S, 30 * S]);
        assert_eq!(s.done(t0, Ok(60 * S)), 60 * S, "a success resets the backoff");
        assert_eq!(s.done(t0, Err(())), S);
    }

    #[test]
    fn failures_are_retried_at_least_as_often_as_the_ttl() {
        let t0 = Instant::now();
        let mut s = Schedule::new(30 * S, t0);
        s.done(t0, Ok(S / 5));
        let delays: Vec<_> = (0..4).map(|_| s.done(t0, Err(()))).collect();
        assert_eq!(delays, vec![S, S, S, S]);
        s.done(t0, Ok(5 * S));
        let delays: Vec<_> = (0..5).map(|_| s.done(t0, Err(()))).collect();
        assert_eq!(delays, vec![S, 2 * S, 4 * S, 5 * S, 5 * S]);
    }

    #[test]
    fn a_request_can_cut_a_backoff_short() {
        let t0 = Instant::now();
        let mut s = Schedule::new(S / 2, t0);
        for _ in 0..6 {
            s.done(t0, Err(()));
        }
        s.request();
        assert_eq!(s.wait(t0 + S), None);
    }
}
