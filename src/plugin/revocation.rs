//! Revocation on the broker thread: the CONNECT gate (cached verdicts; the blocking policy's
//! inline check), following each live session's token, and the pass (from TICK and BASIC_AUTH)
//! that takes the workers' answers, ends revoked sessions through the kick schedule, and submits
//! the checks that are due: first checks always, re-checks within a budget the workers can answer.
use super::Plugin;
use crate::cache::{digest, Digest};
use crate::config::{OnError, Policy as Blocking, Revocation};
use crate::host::{Broker, ClientKey, Level, LOG_PREFIX};
use crate::introspect::tracker::{Action, Policy, Tracked, Tracker};
use crate::introspect::{Done, Job, Outcome, Priority, Submitted, Verdict};
use crate::loaded::Loaded;
use crate::net::introspect::Introspector;
use crate::refusal::{Reason, Refused};
use crate::session::{End, Session};
use crate::token::Token;
use std::sync::Arc;

/// Checks submitted per pass: a burst of due sessions spreads over a few ticks.
const DUE_PER_PASS: usize = 2000;
/// At most one "cannot keep up" warning this often.
const SHED_WARNING_EVERY: f64 = 60.0;

/// What the CONNECT's gate learned: the blocking policy's inline answer is the session's first
/// check, so no second request follows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum GateAnswer {
    #[default]
    Pending,
    Active,
    /// 2.1, blocking policy: the first check of this token is with the workers; the CONNECT
    /// waits for it (waiting_auth.rs).
    Wait(Digest),
}

/// What the verdicts depend on: a reload that keeps these keeps the verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Settings {
    endpoint: Digest,
    policy: Blocking,
    on_error: OnError,
}

/// The tracker, which outlives reloads; the configuration (loaded) it last served.
#[derive(Default)]
pub(super) struct State {
    tracker: Option<Tracker>,
    generation: u64,
    settings: Option<Settings>,
    /// Re-check credit: refilled at the rate the workers can answer, at most a second's worth.
    credit: f64,
    credit_at: f64,
    shed_unreported: u64,
    next_shed_warning: f64,
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
    t.iss.as_deref().map(str::to_string)
}

fn job(digest: Digest, token: Arc<str>, issuer: Option<String>, exp: Option<f64>, priority: Priority) -> Job {
    Job { digest, token, issuer, exp, priority }
}

impl State {
    /// Follows a new configuration: same endpoint, credentials and policy keep the verdicts;
    /// otherwise they go, and live sessions are re-checked (still counted as checked).
    fn adopt(&mut self, loaded: &Loaded, r: &Revocation, intro: &Introspector, now: f64) {
        if self.tracker.is_some() && self.generation == loaded.generation {
            return;
        }
        let settings = Settings { endpoint: intro.fingerprint(), policy: r.policy, on_error: r.on_error };
        let p = policy(r);
        match self.tracker.as_mut() {
            Some(tr) if self.settings == Some(settings) => tr.retune(p, now),
            Some(tr) => tr.new_endpoint(p, now),
            None => self.tracker = Some(Tracker::new(p)),
        }
        self.generation = loaded.generation;
        self.settings = Some(settings);
    }

    /// Re-checks that may be submitted now: the workers' measured rate, less what is still queued.
    fn budget(&mut self, intro: &Introspector, now: f64) -> usize {
        let rate = intro.recheck_rate();
        let cap = rate.max(1.0);
        self.credit = (self.credit + rate * (now - self.credit_at).max(0.0)).min(cap);
        self.credit_at = now;
        let room = (cap - intro.rechecks_queued() as f64).max(0.0);
        self.credit.min(room).floor() as usize
    }
}

impl Plugin {
    /// Runs `f` on the tracker, first adapting it to `loaded` if that is a new configuration.
    fn with_tracker<R>(&self, loaded: &Loaded, now: f64, f: impl FnOnce(&mut Tracker) -> R) -> Option<R> {
        let (Some(r), Some(intro)) = (&loaded.config.revocation, &loaded.introspector) else { return None };
        let mut st = self.revocation.borrow_mut();
        st.adopt(loaded, r, intro, now);
        st.tracker.as_mut().map(f)
    }

    /// At CONNECT, before the session opens: a cached verdict decides at once; the blocking policy
    /// asks the endpoint now, or (`wait`: Some(room), mosquitto 2.1) queues the check for the CONNECT
    /// to wait on; under the background policy a full check queue is a failure.
    pub(super) fn revocation_gate(
        &self,
        loaded: &Loaded,
        token: &str,
        t: &Token,
        now: f64,
        wait: Option<bool>,
    ) -> Result<GateAnswer, Refused> {
        let (Some(r), Some(intro)) = (&loaded.config.revocation, &loaded.introspector) else {
            return Ok(GateAnswer::Pending);
        };
        let d = digest(token);
        match self.with_tracker(loaded, now, |tr| tr.cached(&d, now)).flatten() {
            Some(Verdict::Active) => return Ok(GateAnswer::Active),
            Some(Verdict::Inactive) => {
                return Err(Refused::new(Reason::Revoked, "the revocation endpoint says the token is not active"))
            }
            None => {}
        }
        let deny = r.on_error == OnError::Deny;
        if r.policy == Blocking::Blocking && wait.is_some() {
            let failed = |why: &str| {
                if deny {
                    Err(Refused::new(Reason::RevocationUnchecked, why))
                } else {
                    Ok(GateAnswer::Pending)
                }
            };
            if wait == Some(false) {
                return failed("too many CONNECTs are waiting for their revocation answer");
            }
            let j = job(d, Arc::from(token), issuer(t), t.exp.get(), Priority::First);
            return match intro.submit(j) {
                Submitted::Full => failed("the revocation check queue is full"),
                Submitted::Queued | Submitted::Coalesced => Ok(GateAnswer::Wait(d)),
            };
        }
        if r.policy == Blocking::Blocking {
            return match intro.check_now(token, issuer(t).as_deref()) {
                Ok(v) => {
                    self.with_tracker(loaded, now, |tr| tr.remember(d, v, t.exp.get(), now));
                    match v {
                        Verdict::Active => Ok(GateAnswer::Active),
                        Verdict::Inactive => Err(Refused::new(Reason::Revoked, "the revocation endpoint says no")),
                    }
                }
                Err(e) if deny => Err(Refused::new(Reason::RevocationUnchecked, e)),
                // Fail open: accepted; open_session queues a background check that retries.
                Err(_) => Ok(GateAnswer::Pending),
            };
        }
        // The check itself is queued once the session is open (track_revocation); only the broker
        // thread adds to the queue, so a queue that has room now still has room then.
        if deny && intro.is_full() {
            return Err(Refused::new(Reason::RevocationUnchecked, "the revocation check queue is full"));
        }
        Ok(GateAnswer::Pending)
    }

    /// After a session opened (CONNECT, refresh, reload re-check): follow its token.
    pub(super) fn track_revocation(&self, loaded: &Loaded, client: ClientKey, s: &Session, gate: GateAnswer, now: f64) {
        let Some(intro) = &loaded.introspector else { return };
        // Sessions keep their raw token whenever introspection is configured (auth.rs).
        let Some(token) = s.token().cloned() else { return };
        let d = digest(&token);
        let cached = self.with_tracker(loaded, now, |tr| {
            if tr.follows(client, &d) {
                // The reload's re-check of a session whose token is followed already: it keeps its
                // state (checked or not) and its schedule.
                return Some(Verdict::Active);
            }
            let cached = tr.cached(&d, now);
            let checked = gate == GateAnswer::Active || cached == Some(Verdict::Active);
            let tracked = Tracked::new(
                s.client_id.to_string(),
                token.clone(),
                s.issuer().map(|i| i.to_string()),
                s.exp(),
                checked,
            );
            // Unchecked: the first answer reschedules it; the interval is a watchdog for a lost answer.
            let next = if checked { tr.next_recheck(now) } else { now + tr.policy.recheck };
            tr.track(client, tracked, next);
            if checked {
                Some(Verdict::Active)
            } else {
                cached
            }
        });
        match cached {
            None => {}
            Some(Some(Verdict::Inactive)) => self.end_revoked(client, &s.client_id, now, End::Revoked),
            Some(Some(Verdict::Active)) => {}
            // A check already queued or in flight for this token (another session) serves this one too.
            Some(None) => {
                let j = job(d, token, s.issuer().map(|i| i.to_string()), s.exp(), Priority::First);
                if intro.submit(j) == Submitted::Full {
                    self.apply_answers(None, loaded, vec![Done::failed(d, s.exp(), "the check queue is full")], now);
                }
            }
        }
    }

    /// Whether any session's token is followed (its checks' answers arrive at any time).
    pub(super) fn tracks_revocation(&self) -> bool {
        self.revocation.borrow_mut().tracker.as_ref().is_some_and(|t| t.tracked() > 0)
    }

    pub(super) fn untrack_revocation(&self, client: ClientKey) {
        if let Some(tr) = self.revocation.borrow_mut().tracker.as_mut() {
            tr.untrack(client);
        }
    }

    /// From TICK and BASIC_AUTH: answers in, ended sessions scheduled for a kick, due checks out.
    pub(super) fn revocation_pass(&self, broker: &dyn Broker, now: f64) {
        let loaded = self.loaded();
        let Some(intro) = &loaded.introspector else {
            self.revocation.borrow_mut().tracker = None;
            return;
        };
        let answers = intro.take_results();
        self.apply_answers(Some(broker), &loaded, answers, now);
        let budget = self.revocation.borrow_mut().budget(intro, now);
        let due = self.with_tracker(&loaded, now, |tr| {
            tr.expire(now);
            tr.due(now, DUE_PER_PASS, budget)
        });
        let Some(due) = due else { return };
        let mut shed = due.shed as u64;
        let mut failed = Vec::new();
        let mut rechecks = 0usize;
        for c in due.checks {
            let (d, exp, priority) = (c.digest, c.exp, c.priority);
            rechecks += usize::from(priority == Priority::Recheck);
            if intro.submit(job(d, c.token, c.issuer, exp, priority)) == Submitted::Full {
                match priority {
                    Priority::First => failed.push(Done::failed(d, exp, "the check queue is full")),
                    Priority::Recheck => failed.push(Done { digest: d, exp, outcome: Outcome::Shed }),
                }
            }
        }
        {
            let mut st = self.revocation.borrow_mut();
            st.credit -= rechecks as f64;
        }
        shed += failed.iter().filter(|d| d.outcome == Outcome::Shed).count() as u64;
        self.count_shed(broker, intro, shed, now);
        self.apply_answers(Some(broker), &loaded, failed, now);
    }

    /// Counts shed re-checks; warns at most once a minute that the endpoint cannot keep up.
    fn count_shed(&self, broker: &dyn Broker, intro: &Introspector, shed: u64, now: f64) {
        if shed == 0 {
            return;
        }
        self.metrics.introspection_rechecks_shed.fetch_add(shed, std::sync::atomic::Ordering::Relaxed);
        let mut st = self.revocation.borrow_mut();
        st.shed_unreported += shed;
        if now < st.next_shed_warning {
            return;
        }
        st.next_shed_warning = now + SHED_WARNING_EVERY;
        let n = std::mem::take(&mut st.shed_unreported);
        drop(st);
        broker.log(
            Level::Warning,
            &format!(
                "{LOG_PREFIX}: the revocation endpoint cannot keep up with the re-checks: {n} re-check(s) \
                 postponed to their next round (about {:.0}/s possible: {} worker(s), {} ms per check); live \
                 sessions are re-checked less often than recheckIntervalMs, new clients' first checks go first",
                intro.recheck_rate(),
                intro.workers(),
                intro.latency().as_millis()
            ),
        );
    }

    fn apply_answers(&self, broker: Option<&dyn Broker>, loaded: &Loaded, answers: Vec<Done>, now: f64) {
        if answers.is_empty() {
            return;
        }
        self.resolve_waiting(loaded, &answers);
        let shed = answers.iter().filter(|d| d.outcome == Outcome::Shed).count() as u64;
        let actions: Vec<Action> = self
            .with_tracker(loaded, now, |tr| answers.iter().flat_map(|a| tr.apply(a, now)).collect())
            .unwrap_or_default();
        if let (Some(b), Some(intro)) = (broker, &loaded.introspector) {
            self.count_shed(b, intro, shed, now);
        }
        for a in actions {
            match a {
                Action::Revoked(c, id) => self.end_revoked(c, &id, now, End::Revoked),
                Action::Unchecked(c, id) => self.end_revoked(c, &id, now, End::Unchecked),
            }
        }
    }

    /// Never kicks here (this may run inside the client's own callback): TICK does it. `client_id`
    /// guards against a client pointer that now belongs to another connection.
    fn end_revoked(&self, client: ClientKey, client_id: &str, now: f64, why: End) {
        let ours = self.sessions.borrow_mut().get(client).is_some_and(|s| &*s.client_id == client_id);
        if ours {
            self.end_session(client, why, now);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
