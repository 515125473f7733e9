//! Operational counters. Plain atomics in one instance owned by the plugin and shared (an `Arc`)
//! with the background threads that count (key refresh, introspection, credentials exchange), so
//! they count without locks; the broker thread reads a [`Snapshot`] to publish it under `$SYS` and
//! to summarise it in the log (src/plugin/metrics.rs). The plugin hands the same instance to every
//! loaded configuration, so counters start at zero when mosquitto starts and survive reloads.
use crate::refusal::{Reason, Refused};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Count, sum and maximum of a duration, in microseconds.
#[derive(Default)]
pub struct Latency {
    count: AtomicU64,
    total_us: AtomicU64,
    max_us: AtomicU64,
}

impl Latency {
    const fn new() -> Self {
        Latency { count: AtomicU64::new(0), total_us: AtomicU64::new(0), max_us: AtomicU64::new(0) }
    }

    pub fn record(&self, d: std::time::Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Relaxed);
        self.total_us.fetch_add(us, Relaxed);
        self.max_us.fetch_max(us, Relaxed);
    }

    /// (average, maximum) in milliseconds since start.
    fn millis(&self) -> (u64, u64) {
        let n = self.count.load(Relaxed);
        let avg = self.total_us.load(Relaxed).checked_div(n).unwrap_or(0);
        (avg / 1000, self.max_us.load(Relaxed) / 1000)
    }
}

pub struct Metrics {
    pub accepted: AtomicU64,
    refused: [AtomicU64; Reason::ALL.len()],
    pub kicks_expired: AtomicU64,
    pub kicks_refresh_refused: AtomicU64,
    /// Revoked by introspection, or not checkable under a fail-closed policy.
    pub kicks_revoked: AtomicU64,
    pub kicks_reload: AtomicU64,
    /// Back-channel logout: sessions ended, logout tokens accepted and refused, remembered logouts
    /// and jtis pushed out by the memory cap before their time.
    pub kicks_logged_out: AtomicU64,
    pub logouts_accepted: AtomicU64,
    pub logouts_refused: AtomicU64,
    pub logouts_forgotten: AtomicU64,
    pub refresh_accepted: AtomicU64,
    pub refresh_refused: AtomicU64,
    pub jwks_fetches: AtomicU64,
    pub jwks_failures: AtomicU64,
    pub introspection_calls: AtomicU64,
    pub introspection_failures: AtomicU64,
    pub introspection_latency: Latency,
    /// Checks of the `blocking` policy, made inside the CONNECT (also counted in the calls).
    pub introspection_blocking_calls: AtomicU64,
    /// Re-checks skipped for a round because the endpoint could not keep up.
    pub introspection_rechecks_shed: AtomicU64,
    pub exchange_calls: AtomicU64,
    pub exchange_failures: AtomicU64,
    pub exchange_cache_hits: AtomicU64,
    pub exchange_latency: Latency,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub const fn new() -> Self {
        Metrics {
            accepted: AtomicU64::new(0),
            refused: [const { AtomicU64::new(0) }; Reason::ALL.len()],
            kicks_expired: AtomicU64::new(0),
            kicks_refresh_refused: AtomicU64::new(0),
            kicks_revoked: AtomicU64::new(0),
            kicks_reload: AtomicU64::new(0),
            kicks_logged_out: AtomicU64::new(0),
            logouts_accepted: AtomicU64::new(0),
            logouts_refused: AtomicU64::new(0),
            logouts_forgotten: AtomicU64::new(0),
            refresh_accepted: AtomicU64::new(0),
            refresh_refused: AtomicU64::new(0),
            jwks_fetches: AtomicU64::new(0),
            jwks_failures: AtomicU64::new(0),
            introspection_calls: AtomicU64::new(0),
            introspection_failures: AtomicU64::new(0),
            introspection_latency: Latency::new(),
            introspection_blocking_calls: AtomicU64::new(0),
            introspection_rechecks_shed: AtomicU64::new(0),
            exchange_calls: AtomicU64::new(0),
            exchange_failures: AtomicU64::new(0),
            exchange_cache_hits: AtomicU64::new(0),
            exchange_latency: Latency::new(),
        }
    }

    /// One authentication decision at CONNECT.
    pub fn authentication<T>(&self, result: &Result<T, Refused>) {
        match result {
            Ok(_) => self.accepted.fetch_add(1, Relaxed),
            Err(r) => self.refused[r.reason.index()].fetch_add(1, Relaxed),
        };
    }

    pub fn refused(&self, reason: Reason) -> u64 {
        self.refused[reason.index()].load(Relaxed)
    }

    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// Every counter as (topic suffix, value); `live` is the broker thread's session count.
    pub fn snapshot(&self, live: usize) -> Snapshot {
        let v = |c: &AtomicU64| c.load(Relaxed);
        let refused: Vec<(&'static str, u64)> =
            Reason::ALL.iter().map(|r| (r.category(), self.refused(*r))).filter(|(_, n)| *n > 0).collect();
        let (intro_avg, intro_max) = self.introspection_latency.millis();
        let (exch_avg, exch_max) = self.exchange_latency.millis();
        let mut values = vec![
            ("auth/accepted".to_string(), v(&self.accepted)),
            ("auth/refused".to_string(), refused.iter().map(|(_, n)| n).sum()),
        ];
        values.extend(refused.iter().map(|(c, n)| (format!("auth/refused/{c}"), *n)));
        for (name, n) in [
            ("kicks/expired", v(&self.kicks_expired)),
            ("kicks/refresh-refused", v(&self.kicks_refresh_refused)),
            ("kicks/revoked", v(&self.kicks_revoked)),
            ("kicks/reload", v(&self.kicks_reload)),
            ("kicks/logged-out", v(&self.kicks_logged_out)),
            ("logout/accepted", v(&self.logouts_accepted)),
            ("logout/refused", v(&self.logouts_refused)),
            ("logout/forgotten-at-cap", v(&self.logouts_forgotten)),
            ("refresh/accepted", v(&self.refresh_accepted)),
            ("refresh/refused", v(&self.refresh_refused)),
            ("jwks/fetches", v(&self.jwks_fetches)),
            ("jwks/failures", v(&self.jwks_failures)),
            ("introspection/calls", v(&self.introspection_calls)),
            ("introspection/failures", v(&self.introspection_failures)),
            ("introspection/latency-ms/average", intro_avg),
            ("introspection/latency-ms/max", intro_max),
            ("introspection/blocking-calls", v(&self.introspection_blocking_calls)),
            ("introspection/rechecks-shed", v(&self.introspection_rechecks_shed)),
            ("exchange/calls", v(&self.exchange_calls)),
            ("exchange/failures", v(&self.exchange_failures)),
            ("exchange/cache-hits", v(&self.exchange_cache_hits)),
            ("exchange/latency-ms/average", exch_avg),
            ("exchange/latency-ms/max", exch_max),
            ("sessions/live", live as u64),
        ] {
            values.push((name.to_string(), n));
        }
        Snapshot { values }
    }
}

pub struct Snapshot {
    pub values: Vec<(String, u64)>,
}

impl Snapshot {
    pub fn get(&self, name: &str) -> u64 {
        self.values.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v)
    }

    /// One log line: totals, and refusals by reason where there were any.
    pub fn summary(&self) -> String {
        let g = |n: &str| self.get(n);
        let reasons: Vec<String> = self
            .values
            .iter()
            .filter_map(|(n, v)| n.strip_prefix("auth/refused/").map(|c| format!("{c} {v}")))
            .collect();
        let refused = if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) };
        format!(
            "accepted {}, refused {}{refused}; kicks: expired {}, refresh-refused {}, revoked {}, reload {}, logged-out {}; logouts {} (refused {}); refreshes {} \
             (refused {}); jwks fetches {} (failed {}); introspection calls {} (failed {}, blocking {}, re-checks shed {}, avg {} ms, max {} ms); \
             exchanges {} (failed {}, cached {}, avg {} ms, max {} ms); live sessions {}",
            g("auth/accepted"),
            g("auth/refused"),
            g("kicks/expired"),
            g("kicks/refresh-refused"),
            g("kicks/revoked"),
            g("kicks/reload"),
            g("kicks/logged-out"),
            g("logout/accepted"),
            g("logout/refused"),
            g("refresh/accepted"),
            g("refresh/refused"),
            g("jwks/fetches"),
            g("jwks/failures"),
            g("introspection/calls"),
            g("introspection/failures"),
            g("introspection/blocking-calls"),
            g("introspection/rechecks-shed"),
            g("introspection/latency-ms/average"),
            g("introspection/latency-ms/max"),
            g("exchange/calls"),
            g("exchange/failures"),
            g("exchange/cache-hits"),
            g("exchange/latency-ms/average"),
            g("exchange/latency-ms/max"),
            g("sessions/live"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn counts_by_reason_and_summarises() {
        let m = Metrics::new();
        m.authentication(&Ok::<(), Refused>(()));
        m.authentication::<()>(&Err(Refused::new(Reason::Expired, "")));
        m.authentication::<()>(&Err(Refused::new(Reason::Expired, "")));
        m.authentication::<()>(&Err(Refused::new(Reason::CredentialsRefused, "")));
        Metrics::inc(&m.kicks_expired);
        m.exchange_latency.record(Duration::from_millis(30));
        m.exchange_latency.record(Duration::from_millis(10));
        let s = m.snapshot(7);
        assert_eq!(s.get("auth/accepted"), 1);
        assert_eq!(s.get("auth/refused"), 3);
        assert_eq!(s.get("auth/refused/expired"), 2);
        assert_eq!(s.get("auth/refused/credentials-refused"), 1);
        assert!(!s.values.iter().any(|(n, _)| n == "auth/refused/bad-signature"), "zero reasons are left out");
        assert_eq!(s.get("kicks/expired"), 1);
        assert_eq!((s.get("exchange/latency-ms/average"), s.get("exchange/latency-ms/max")), (20, 30));
        assert_eq!(s.get("sessions/live"), 7);
        let line = s.summary();
        assert!(line.starts_with("accepted 1, refused 3 (expired 2, credentials-refused 1);"), "{line}");
        assert!(line.ends_with("live sessions 7"), "{line}");
    }

    #[test]
    fn every_reason_has_its_own_counter() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?} listed twice in Reason::ALL");
        }
    }
}
