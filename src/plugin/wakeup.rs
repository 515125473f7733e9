//! When the plugin next has time-driven work, for brokers that sleep until told (mosquitto 2.1
//! reads TICK's `next_ms`; 2.0 wakes every 100 ms by itself and ignores it).
use super::Plugin;

/// While answers from background threads may arrive at any time (a pending reload's keys,
/// revocation checks), the broker thread looks this often.
const POLL: f64 = 0.1;
/// While a CONNECT waits for its revocation or exchange answer (2.1), the broker thread looks for
/// it this often: the answer's own latency, not the tick, should be what the client waits for.
const WAITING_POLL: f64 = 0.005;

impl Plugin {
    /// The soonest time (seconds since the epoch) something may be due: a kick, an expiry notice,
    /// a revocation re-check or answer, a pending reload. None: nothing scheduled.
    pub fn next_wakeup(&self, now: f64) -> Option<f64> {
        // Gone sessions wait for the next tick to be dropped (after their will check).
        let polling =
            self.pending.borrow_mut().is_some() || self.tracks_revocation() || self.sessions.borrow_mut().gone() > 0;
        let scheduled = self.sessions.borrow_mut().next_due();
        let poll = if self.waiting_connects() > 0 { Some(now + WAITING_POLL) } else { polling.then_some(now + POLL) };
        match (poll, scheduled) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::host::AuthResult;
    use crate::plugin::fake::FakeBroker;
    use crate::plugin::*;
    use serde_json::json;

    const SECRET: &str = "wakeup-test-secret-0123456789abcdef";
    const NOW: f64 = 1_800_000_000.0;

    fn plugin(options: serde_json::Value) -> (Plugin, FakeBroker, tempfile::TempDir) {
        let mut cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
            "options": {"modes": {"local": SECRET}}});
        for (k, v) in options.as_object().unwrap() {
            cfg["options"][k] = v.clone();
        }
        fake::load(&cfg)
    }

    fn tok(sub: &str, exp: f64) -> String {
        crate::keys::hs256_token(SECRET, &json!({"sub": sub, "exp": exp}))
    }

    #[test]
    fn nothing_scheduled_means_no_wakeup() {
        let (p, b, _d) = plugin(json!({"common": {"kickExpiredClients": false}}));
        assert_eq!(p.next_wakeup(NOW), None);
        // Without expiry kicks (and no notice, no revocation) a session schedules nothing either.
        let c = b.client(1, "calm");
        assert_eq!(p.basic_auth(&b, c, None, Some(tok("calm", NOW + 60.0).as_bytes()), NOW), AuthResult::Accept);
        assert_eq!(p.next_wakeup(NOW), None);
    }

    #[test]
    fn the_next_kick_and_notice_are_the_wakeups() {
        let (p, b, _d) = plugin(json!({"expiryNotice": {"secondsBefore": 5}}));
        let (c1, c2) = (b.client(1, "a"), b.client(2, "b"));
        assert_eq!(p.basic_auth(&b, c1, None, Some(tok("a", NOW + 30.0).as_bytes()), NOW), AuthResult::Accept);
        assert_eq!(p.basic_auth(&b, c2, None, Some(tok("b", NOW + 20.0).as_bytes()), NOW), AuthResult::Accept);
        // b's notice (exp - 5 s) first, then its kick, then a's.
        assert_eq!(p.next_wakeup(NOW), Some(NOW + 15.0));
        p.tick(&b, NOW + 15.0);
        assert_eq!(p.next_wakeup(NOW + 15.0), Some(NOW + 20.0));
        p.tick(&b, NOW + 20.0);
        assert!(b.kicks.borrow().iter().any(|(id, _)| id == "b"));
        p.disconnect(&b, c2, NOW + 20.0);
        // b is gone until the next tick drops it (after its will check): poll soon.
        assert_eq!(p.next_wakeup(NOW + 20.0), Some(NOW + 20.1));
        p.tick(&b, NOW + 20.1);
        assert_eq!(p.next_wakeup(NOW + 20.1), Some(NOW + 25.0), "a's notice");
    }

    #[test]
    fn a_refused_refresh_kick_is_a_wakeup_at_once() {
        let (p, b, _d) = plugin(json!({}));
        let c = b.client(1, "r");
        assert_eq!(p.basic_auth(&b, c, None, Some(tok("r", NOW + 3600.0).as_bytes()), NOW), AuthResult::Accept);
        p.control(&b, c, tok("someone-else", NOW + 3600.0).as_bytes(), NOW);
        let w = p.next_wakeup(NOW).expect("the kick is scheduled");
        assert!(w <= NOW + 1.0, "kick due at {w}");
    }
}
