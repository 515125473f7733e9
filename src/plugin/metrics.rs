//! Publishing the counters of src/metrics.rs: retained messages under `options.metrics.topicPrefix`
//! every `intervalSeconds`, and a summary line in the log every `logIntervalSeconds`. Runs from TICK
//! on the broker thread (mosquitto's publish may not be called from other threads).
use super::Plugin;
use crate::host::{Broker, Level, LOG_PREFIX};
use crate::metrics::Metrics;
use std::collections::HashMap;

#[derive(Default)]
pub(super) struct Publisher {
    next_publish: f64,
    next_log: f64,
    /// What was last published per topic: only changes are sent again (the messages are retained).
    last: HashMap<String, u64>,
    /// The prefix `last` belongs to (a reload may change it).
    prefix: String,
}

impl Plugin {
    pub(super) fn publish_metrics(&self, broker: &dyn Broker, now: f64) {
        let loaded = self.loaded();
        let Some(cfg) = &loaded.config.metrics else { return };
        let mut p = self.publisher.borrow_mut();
        let publish_due = now >= p.next_publish;
        let log_due = cfg.log_interval_seconds > 0 && now >= p.next_log;
        if !publish_due && !log_due {
            return;
        }
        let snapshot = self.metrics.snapshot(self.live_sessions());
        if publish_due {
            p.next_publish = now + cfg.interval_seconds as f64;
            if p.prefix != cfg.topic_prefix {
                p.last.clear();
                p.prefix = cfg.topic_prefix.clone();
            }
            for (name, value) in &snapshot.values {
                if p.last.get(name) == Some(value) {
                    continue;
                }
                let topic = format!("{}/{name}", cfg.topic_prefix);
                if broker.publish(&topic, value.to_string().as_bytes(), true) {
                    p.last.insert(name.clone(), *value);
                }
            }
        }
        if log_due {
            // The first pass only schedules: a summary of a broker that just started says nothing.
            if p.next_log > 0.0 {
                broker.log(Level::Info, &format!("{LOG_PREFIX}: metrics: {}", snapshot.summary()));
            }
            p.next_log = now + cfg.log_interval_seconds as f64;
        }
    }
}

impl Plugin {
    /// Counts an answer of auth.rs by what it was: a CONNECT, or the re-check after a reload (a
    /// refusal there disconnects the client). Re-authentications are counted by refresh_session.
    pub(super) fn count_answer(&self, kind: super::auth::Answer, result: &Result<(), crate::refusal::Refused>) {
        use super::auth::Answer;
        let m = &self.metrics;
        match kind {
            Answer::Connect => m.authentication(result),
            Answer::ReloadRecheck if result.is_err() => Metrics::inc(&m.kicks_reload),
            Answer::ReloadRecheck | Answer::Reauth => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::host::AuthResult;
    use crate::plugin::fake::FakeBroker;
    use crate::plugin::*;
    use serde_json::json;

    #[test]
    fn publishes_retained_changes_on_schedule_and_logs_a_summary() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jwt.json");
        let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {
            "modes": {"local": "metrics-test-secret-0123456789-abcdef"},
            "metrics": {"intervalSeconds": 10, "logIntervalSeconds": 30, "topicPrefix": "$SYS/test/jwt"}}});
        std::fs::write(&file, cfg.to_string()).unwrap();
        let b = FakeBroker::default();
        let p = Plugin::load(&b, &file).unwrap();
        let now = 1_800_000_000.0;
        p.tick(&b, now);
        let first = b.broadcast.borrow().clone();
        let live = first.iter().find(|(t, _, _)| t == "$SYS/test/jwt/sessions/live").expect("live sessions");
        assert_eq!((live.1.as_slice(), live.2), (&b"0"[..], true));
        assert!(first.iter().any(|(t, _, _)| t == "$SYS/test/jwt/auth/accepted"));
        assert!(first.iter().all(|(t, _, _)| t.starts_with("$SYS/test/jwt/")));
        // Not again before the interval; then only what changed (here: nothing necessarily, but the
        // live-session gauge stays 0 and must not be re-sent).
        p.tick(&b, now + 5.0);
        assert_eq!(b.broadcast.borrow().len(), first.len());
        let c = b.client(1, "m1");
        assert_eq!(p.basic_auth(&b, c, None, None, now + 6.0), AuthResult::Refuse);
        p.tick(&b, now + 10.0);
        let later: Vec<_> = b.broadcast.borrow()[first.len()..].to_vec();
        assert!(later.iter().any(|(t, _, _)| t == "$SYS/test/jwt/auth/refused/no-token"), "{later:?}");
        assert!(!later.iter().any(|(t, _, _)| t == "$SYS/test/jwt/sessions/live"), "unchanged values are not re-sent");
        assert!(!b.logged("jwt-auth: metrics:"));
        p.tick(&b, now + 30.0);
        assert!(b.logged("jwt-auth: metrics: accepted"), "{:?}", b.logs.borrow());
    }

    #[test]
    fn nothing_is_published_without_options_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jwt.json");
        std::fs::write(&file, r#"{"version":1,"algorithm":"HS256","mode":"local","options":{"modes":{"local":"metrics-test-secret-0123456789-abcdef"}}}"#)
            .unwrap();
        let b = FakeBroker::default();
        let p = Plugin::load(&b, &file).unwrap();
        p.tick(&b, 1_800_000_000.0);
        assert!(b.broadcast.borrow().is_empty());
    }
}
