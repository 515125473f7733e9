//! Revocation on the broker thread: the CONNECT gate (cached verdicts; the blocking policy's
//! inline check), following each live session's token, and the pass (from TICK and BASIC_AUTH)
//! that takes the workers' answers, ends revoked sessions through the kick schedule, and submits
//! the re-checks that are due.
use super::{Broker, ClientRef, Level, Plugin, LOG_PREFIX};
use crate::cache::digest;
use crate::config::{OnError, Policy as Blocking, Revocation};
use crate::engine::Engine;
use crate::introspect::tracker::{Action, Policy, Tracked, Tracker};
use crate::introspect::{Done, Job, Submitted, Verdict};
use crate::refusal::{Reason, Refused};
use crate::session::{End, Session};
use crate::verify::Token;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Re-checks submitted per pass: a burst of due sessions spreads over a few ticks.
const DUE_PER_PASS: usize = 2000;

/// The tracker of the engine in force (a reload starts a new one: new endpoint, new rules).
#[derive(Default)]
pub(super) struct State {
    tracker: Option<Tracker>,
    engine: usize,
}

fn tag(engine: &Engine) -> usize {
    engine as *const Engine as usize
}

fn policy(r: &Revocation) -> Policy {
    Policy {
        deny_on_error: r.on_error == OnError::Deny,
        keep_on_recheck_failure: r.keep_verdict_on_recheck_failure,
        recheck: r.recheck_interval_ms as f64 / 1000.0,
        retry: r.retry_interval_ms as f64 / 1000.0,
        cache_ttl: r.cache_ttl_ms as f64 / 1000.0,
        cache_max: r.cache_max_entries,
    }
}

fn issuer(t: &Token) -> Option<String> {
    t.claims.get("iss").and_then(|v| v.as_str()).map(str::to_string)
}

fn job(token: Arc<str>, issuer: Option<String>, timeout: Duration) -> Job {
    Job { digest: digest(&token), token, issuer, deadline: Instant::now() + timeout }
}

impl Plugin {
    /// Runs `f` on the tracker of `engine`, creating it (and forgetting the old one) on a new engine.
    fn with_tracker<R>(&self, engine: &Engine, f: impl FnOnce(&mut Tracker) -> R) -> Option<R> {
        let r = engine.config.revocation.as_ref()?;
        let mut st = self.revocation.lock();
        if st.engine != tag(engine) || st.tracker.is_none() {
            st.engine = tag(engine);
            st.tracker = Some(Tracker::new(policy(r)));
        }
        st.tracker.as_mut().map(f)
    }

    /// At CONNECT, before the session opens: a cached verdict decides at once; the blocking policy
    /// asks the endpoint now; under the background policy a full check queue is a failure.
    pub(super) fn revocation_gate(&self, engine: &Engine, token: &str, t: &Token, now: f64) -> Result<(), Refused> {
        let (Some(r), Some(intro)) = (&engine.config.revocation, &engine.introspector) else { return Ok(()) };
        let d = digest(token);
        match self.with_tracker(engine, |tr| tr.cached(&d, now)).flatten() {
            Some(Verdict::Active) => return Ok(()),
            Some(Verdict::Inactive) => {
                return Err(Refused::new(Reason::Revoked, "the revocation endpoint says the token is not active"))
            }
            None => {}
        }
        let deny = r.on_error == OnError::Deny;
        if r.policy == Blocking::Blocking {
            return match intro.check_now(token, issuer(t).as_deref()) {
                Ok(v) => {
                    self.with_tracker(engine, |tr| tr.remember(d, v, t.exp, now));
                    match v {
                        Verdict::Active => Ok(()),
                        Verdict::Inactive => Err(Refused::new(Reason::Revoked, "the revocation endpoint says no")),
                    }
                }
                Err(e) if deny => Err(Refused::new(Reason::RevocationUnchecked, e)),
                // Fail open: accepted; open_session queues a background check that retries.
                Err(_) => Ok(()),
            };
        }
        // The check itself is queued once the session is open (track_revocation); only the broker
        // thread adds to the queue, so a queue that has room now still has room then.
        if deny && intro.is_full() {
            return Err(Refused::new(Reason::RevocationUnchecked, "the revocation check queue is full"));
        }
        Ok(())
    }

    /// After a session opened (CONNECT, refresh, reload re-check): follow its token.
    pub(super) fn track_revocation(&self, engine: &Engine, client: ClientRef, s: &Session) {
        let Some(intro) = &engine.introspector else { return };
        let now = super::now_seconds();
        // Sessions keep their raw token whenever introspection is configured (auth.rs).
        let Some(token) = s.token.clone() else { return };
        let d = digest(&token);
        let cached = self.with_tracker(engine, |tr| {
            let cached = tr.cached(&d, now);
            let checked = cached == Some(Verdict::Active);
            let tracked = Tracked::new(
                s.client_id.to_string(),
                token.clone(),
                s.issuer().map(|i| i.to_string()),
                s.exp(),
                checked,
            );
            // Unchecked: the first answer reschedules it; the interval is a watchdog for a lost answer.
            tr.track(client, tracked, now + tr.policy.recheck);
            cached
        });
        match cached {
            None => {}
            Some(Some(Verdict::Inactive)) => self.end_revoked(client, &s.client_id, now, End::Revoked),
            Some(Some(Verdict::Active)) => {}
            // A check already queued or in flight for this token (another session) serves this one too.
            Some(None)
                if intro.submit(job(token, s.issuer().map(|i| i.to_string()), intro.timeout())) == Submitted::Full =>
            {
                let done = Done { digest: d, answer: Err("the check queue is full".into()) };
                self.apply_answers(engine, vec![done], now);
            }
            Some(None) => {}
        }
    }

    pub(super) fn untrack_revocation(&self, client: ClientRef) {
        if let Some(tr) = self.revocation.lock().tracker.as_mut() {
            tr.untrack(client);
        }
    }

    /// From TICK and BASIC_AUTH: answers in, ended sessions scheduled for a kick, due re-checks out.
    pub(super) fn revocation_pass(&self, broker: &dyn Broker, now: f64) {
        let engine = self.engine();
        let Some(intro) = &engine.introspector else {
            self.revocation.lock().tracker = None;
            return;
        };
        let answers = intro.take_results();
        self.apply_answers(&engine, answers, now);
        let due = self.with_tracker(&engine, |tr| tr.due(now, DUE_PER_PASS)).unwrap_or_default();
        let mut full = Vec::new();
        for (d, token, iss) in due {
            if intro.submit(job(token, iss, intro.timeout())) == Submitted::Full {
                full.push(Done { digest: d, answer: Err("the check queue is full".into()) });
            }
        }
        if !full.is_empty() {
            broker.log(
                Level::Warning,
                &format!("{LOG_PREFIX}: revocation check queue full: {} re-check(s) deferred", full.len()),
            );
            self.apply_answers(&engine, full, now);
        }
    }

    fn apply_answers(&self, engine: &Engine, answers: Vec<Done>, now: f64) {
        if answers.is_empty() {
            return;
        }
        let actions: Vec<Action> = self
            .with_tracker(engine, |tr| answers.iter().flat_map(|a| tr.apply(a.digest, &a.answer, now)).collect())
            .unwrap_or_default();
        for a in actions {
            match a {
                Action::Revoked(c, id) => self.end_revoked(c, &id, now, End::Revoked),
                Action::Unchecked(c, id) => self.end_revoked(c, &id, now, End::Unchecked),
            }
        }
    }

    /// Never kicks here (this may run inside the client's own callback): TICK does it. `client_id`
    /// guards against a client pointer that now belongs to another connection.
    fn end_revoked(&self, client: ClientRef, client_id: &str, now: f64, why: End) {
        let ours = self.sessions.lock().get(client).is_some_and(|s| &*s.client_id == client_id);
        if ours {
            self.end_session(client, why, now);
        }
    }
}
