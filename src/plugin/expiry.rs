//! Time-driven work on the broker thread: expiry kicks, expiry notices, kicks of revoked sessions,
//! and the live-session count in the log. Runs from TICK, and from other callbacks when TICK is
//! not firing (mosquitto 2.0.0–2.0.14 with per_listener_settings never sends it).
use super::Plugin;
use crate::host::{Broker, ClientKey, ClientRef, Level, LOG_PREFIX};
use crate::logsafe::clean;
use crate::session::{End, EventKind, Phase};
use serde_json::json;
use std::time::{Duration, Instant};

/// Time for a refusal answer or invalidity notice to reach the client before its connection closes.
const NOTICE_GRACE: f64 = 0.3;

/// Work per pass is bounded by time, so a mass expiry cannot stall the broker loop while clients
/// have traffic (a kick costs ~20–25 µs of broker time, most of it mosquitto closing the socket).
const PASS_BUDGET: Duration = Duration::from_millis(75);
/// The budget of a pass that follows an idle loop: mosquitto 2.0 waits up to 100 ms in epoll between
/// two ticks when no socket is ready, so with the short budget alone 19,000 kicks due in the same
/// second would take ~2 s, the broker asleep half of it. A long pass delays no client traffic that
/// was waiting, and traffic arriving during it waits at most this long.
const IDLE_PASS_BUDGET: Duration = Duration::from_millis(250);
/// A gap between passes this long means the loop slept: nothing was ready on any socket.
const IDLE_GAP: Duration = Duration::from_millis(50);
/// Events taken from the schedule between two looks at the clock.
const BATCH: usize = 256;
/// Without a TICK for this long, other callbacks do the time-driven work.
const TICK_SILENCE: f64 = 0.5;

#[derive(Default)]
pub(super) struct Clock {
    last_tick: f64,
    /// When the last TICK's work ended (a stopwatch for the pass budget; decisions use `now`).
    last_pass_end: Option<Instant>,
    last_count_log: f64,
    logged_count: Option<usize>,
}

impl Plugin {
    /// MOSQ_EVT_TICK.
    pub fn tick(&self, broker: &dyn Broker, now: f64) {
        let budget = {
            let mut clock = self.expiry.borrow_mut();
            clock.last_tick = now;
            pass_budget(clock.last_pass_end.map(|t| t.elapsed()))
        };
        // Any reload re-check pass has finished by the time the loop ticks again.
        self.recheck_until.set(0.0);
        // Sessions that went away before this tick have had their will checked.
        self.sessions.borrow_mut().drop_gone(None);
        self.drain_background(broker);
        self.revocation_pass(broker, now);
        self.settle_waiting(broker, now);
        self.run_due(broker, now, None, budget);
        self.housekeeping(broker, now);
        self.publish_metrics(broker, now);
        self.expiry.borrow_mut().last_pass_end = Some(Instant::now());
    }

    /// From callbacks other than TICK: does the time-driven work only when TICK has gone quiet.
    pub fn expire_fallback(&self, broker: &dyn Broker, now: f64, busy: ClientRef) {
        let quiet = now - self.expiry.borrow_mut().last_tick > TICK_SILENCE;
        if quiet {
            self.sessions.borrow_mut().drop_gone(Some(busy.key()));
            self.run_due(broker, now, Some(busy.key()), PASS_BUDGET);
        }
    }

    /// MOSQ_EVT_DISCONNECT (and 2.1's CLIENT_OFFLINE): every connection that goes away,
    /// authenticated or not. mosquitto checks the client's will right after this returns, so the
    /// session stays, gone, until the next tick drops it.
    pub fn disconnect(&self, broker: &dyn Broker, client: ClientRef, now: f64) {
        let with_will = self.loaded().config.common.kick_expired_clients_with_will;
        self.sessions.borrow_mut().disconnected(client.key(), with_will, now);
        self.untrack_revocation(client.key());
        self.forget_deferred(client.key());
        self.expire_fallback(broker, now, client);
    }

    /// The plugin ends a live session for `why`: ACL checks deny from now on; the invalidity
    /// notice (when configured, for any reason but expiry) goes out at once and the kick follows on a
    /// later pass, never from inside the client's own callback.
    pub(super) fn end_session(&self, client: ClientKey, why: End, now: f64) {
        let loaded = self.loaded();
        let notify = loaded.config.invalid_notice.is_some() && why != End::Expired;
        let grace = notify || matches!(why, End::RefreshRefused(_));
        let kick_at = if grace { now + NOTICE_GRACE } else { now };
        self.sessions.borrow_mut().end(client, why, now, kick_at, notify);
    }

    fn run_due(&self, broker: &dyn Broker, now: f64, busy: Option<ClientKey>, budget: Duration) {
        // A stopwatch for the pass's work budget, not a time input: every decision uses `now`.
        let started = Instant::now();
        loop {
            let due = self.sessions.borrow_mut().due(now, BATCH, busy);
            let more = due.len() == BATCH;
            self.handle_due(broker, now, due);
            if !more || started.elapsed() >= budget {
                return;
            }
        }
    }

    fn handle_due(&self, broker: &dyn Broker, now: f64, due: Vec<crate::session::Due>) {
        if due.is_empty() {
            return;
        }
        let loaded = self.loaded();
        let common = &loaded.config.common;
        for d in due {
            match d.kind {
                EventKind::Expiry | EventKind::Kick => {
                    // Mark first: the kick runs the DISCONNECT callback, which borrows the sessions again.
                    let why = {
                        let mut sessions = self.sessions.borrow_mut();
                        sessions.expire(d.client);
                        match sessions.get(d.client).map(|s| s.phase()) {
                            Some(Phase::Ending(why)) => why,
                            _ => continue,
                        }
                    };
                    let with_will = common.kick_expired_clients_with_will && why.allows_will();
                    let kicked = broker.kick(&d.client_id, with_will);
                    let m = &self.metrics;
                    let cause = match why {
                        End::Expired => &m.kicks_expired,
                        End::RefreshRefused(_) => &m.kicks_refresh_refused,
                        End::Revoked | End::Unchecked => &m.kicks_revoked,
                        End::LoggedOut => &m.kicks_logged_out,
                    };
                    crate::metrics::Metrics::inc(cause);
                    broker.log(
                        Level::Notice,
                        &format!(
                            "{LOG_PREFIX}: disconnecting client {}: {}{}",
                            clean(&d.client_id, 64),
                            why.describe(),
                            if kicked { "" } else { " (already gone)" }
                        ),
                    );
                }
                EventKind::Invalid => {
                    let Some(notice) = &loaded.config.invalid_notice else { continue };
                    let why = match self.sessions.borrow_mut().get(d.client).map(|s| s.phase()) {
                        Some(Phase::Ending(why)) => why,
                        _ => continue,
                    };
                    let body = json!({"reason": why.category()});
                    broker.publish_to(&d.client_id, &notice.topic, body.to_string().as_bytes());
                }
                EventKind::Notice => {
                    let Some(notice) = &loaded.config.expiry_notice else { continue };
                    let exp = self.sessions.borrow_mut().get(d.client).and_then(|s| s.exp());
                    let Some(exp) = exp else { continue };
                    let body = json!({"exp": exp as i64, "expiresIn": (exp - now).max(0.0).round() as i64});
                    broker.publish_to(&d.client_id, &notice.topic, body.to_string().as_bytes());
                }
            }
        }
    }

    fn housekeeping(&self, broker: &dyn Broker, now: f64) {
        let mut clock = self.expiry.borrow_mut();
        let count = self.sessions.borrow_mut().len();
        if clock.logged_count != Some(count) && now - clock.last_count_log >= 1.0 {
            clock.last_count_log = now;
            clock.logged_count = Some(count);
            broker.log(Level::Debug, &format!("{LOG_PREFIX}: {count} live session(s)"));
        }
    }
}

/// The work budget of a TICK pass, from the time since the previous pass ended (None: the first).
fn pass_budget(since_last_pass: Option<Duration>) -> Duration {
    match since_last_pass {
        Some(gap) if gap >= IDLE_GAP => IDLE_PASS_BUDGET,
        _ => PASS_BUDGET,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_after_an_idle_loop_may_work_longer_and_one_amid_traffic_may_not() {
        assert_eq!(pass_budget(None), PASS_BUDGET);
        assert_eq!(pass_budget(Some(Duration::from_millis(2))), PASS_BUDGET);
        assert_eq!(pass_budget(Some(Duration::from_millis(100))), IDLE_PASS_BUDGET);
        assert!(IDLE_PASS_BUDGET <= Duration::from_millis(250), "bounds the stall of traffic arriving mid-pass");
    }
}
