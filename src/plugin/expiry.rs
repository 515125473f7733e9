//! Time-driven work on the broker thread: expiry kicks, expiry notices, kicks of revoked sessions,
//! and the live-session count in the log. Runs from TICK, and from other callbacks when TICK is
//! not firing (mosquitto 2.0.0–2.0.14 with per_listener_settings never sends it).
use super::{Broker, ClientRef, Level, Plugin, LOG_PREFIX};
use crate::logsafe::clean;
use crate::session::EventKind;
use serde_json::json;

/// Work per pass is bounded by time, so a mass expiry cannot stall the broker loop, yet 10,000
/// tokens expiring in the same second are all kicked within a few passes (a kick costs ~25 µs, and
/// mosquitto's loop can wait up to 100 ms between ticks).
const PASS_BUDGET: std::time::Duration = std::time::Duration::from_millis(75);
/// Events taken from the schedule between two looks at the clock.
const BATCH: usize = 256;
/// Without a TICK for this long, other callbacks do the time-driven work.
const TICK_SILENCE: f64 = 0.5;

#[derive(Default)]
pub(super) struct Clock {
    last_tick: f64,
    last_count_log: f64,
    logged_count: Option<usize>,
    last_compact: f64,
}

impl Plugin {
    /// MOSQ_EVT_TICK.
    pub fn tick(&self, broker: &dyn Broker, now: f64) {
        {
            let mut clock = self.expiry.lock();
            clock.last_tick = now;
        }
        // Any reload re-check pass has finished by the time the loop ticks again.
        *self.recheck_until.lock() = 0.0;
        self.drain_background(broker);
        self.revocation_pass(broker, now);
        self.run_due(broker, now, None);
        self.housekeeping(broker, now);
        self.publish_metrics(broker, now);
    }

    /// From callbacks other than TICK: does the time-driven work only when TICK has gone quiet.
    pub fn expire_fallback(&self, broker: &dyn Broker, now: f64, busy: ClientRef) {
        let quiet = now - self.expiry.lock().last_tick > TICK_SILENCE;
        if quiet {
            self.run_due(broker, now, Some(busy));
        }
    }

    /// MOSQ_EVT_DISCONNECT: every connection that goes away, authenticated or not.
    pub fn disconnect(&self, broker: &dyn Broker, client: ClientRef, now: f64) {
        self.sessions.lock().close(client);
        self.untrack_revocation(client);
        self.expire_fallback(broker, now, client);
    }

    fn run_due(&self, broker: &dyn Broker, now: f64, busy: Option<ClientRef>) {
        let started = std::time::Instant::now();
        loop {
            let due = self.sessions.lock().due(now, BATCH, busy);
            let more = due.len() == BATCH;
            self.handle_due(broker, now, due);
            if !more || started.elapsed() >= PASS_BUDGET {
                return;
            }
        }
    }

    fn handle_due(&self, broker: &dyn Broker, now: f64, due: Vec<crate::session::Due>) {
        if due.is_empty() {
            return;
        }
        let engine = self.engine();
        let common = &engine.config.common;
        for d in due {
            match d.kind {
                EventKind::Expiry | EventKind::Revoked => {
                    let with_will = common.kick_expired_clients_with_will;
                    let mut why = if d.kind == EventKind::Expiry { "token expired" } else { "token refresh refused" };
                    // Mark first: the kick runs the DISCONNECT callback, which takes the session lock.
                    if let Some(s) = self.sessions.lock().get_mut(d.client) {
                        s.ending = true;
                        if d.kind == EventKind::Revoked {
                            why = s.end_reason.unwrap_or(why);
                        }
                    }
                    let kicked = broker.kick(&d.client_id, with_will);
                    let m = crate::metrics::get();
                    let cause = if d.kind == EventKind::Expiry { &m.kicks_expired } else { &m.kicks_refresh_refused };
                    crate::metrics::Metrics::inc(cause);
                    broker.log(
                        Level::Notice,
                        &format!(
                            "{LOG_PREFIX}: disconnecting client {}: {why}{}",
                            clean(&d.client_id, 64),
                            if kicked { "" } else { " (already gone)" }
                        ),
                    );
                }
                EventKind::Notice => {
                    let Some(notice) = &engine.config.expiry_notice else { continue };
                    let exp = self.sessions.lock().get(d.client).and_then(|s| s.exp);
                    let Some(exp) = exp else { continue };
                    let body = json!({"exp": exp.floor() as i64, "expiresIn": (exp - now).max(0.0).round() as i64});
                    broker.publish_to(&d.client_id, &notice.topic, body.to_string().as_bytes());
                }
            }
        }
    }

    fn housekeeping(&self, broker: &dyn Broker, now: f64) {
        let mut clock = self.expiry.lock();
        if now - clock.last_compact > 60.0 {
            clock.last_compact = now;
            self.sessions.lock().compact();
        }
        let count = self.sessions.lock().len();
        if clock.logged_count != Some(count) && now - clock.last_count_log >= 1.0 {
            clock.last_count_log = now;
            clock.logged_count = Some(count);
            broker.log(Level::Debug, &format!("{LOG_PREFIX}: {count} live session(s)"));
        }
    }
}
