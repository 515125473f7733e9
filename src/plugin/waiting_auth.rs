//! The `blocking` revocation policy on mosquitto 2.1: instead of asking the endpoint on the broker
//! thread (which stalls every client), BASIC_AUTH answers MOSQ_ERR_AUTH_DELAYED, the check goes to
//! the workers as a first check, and TICK answers with mosquitto_complete_basic_auth once the
//! verdict is in or the timeout has passed. 2.0 keeps the inline check (it has no delayed answers).
//!
//! Facts from mosquitto 2.1.2 (src/handle_connect.c, src/plugin_public.c, src/context.c): a delayed
//! client is in state `delayed_auth`, not in the by-id table (so it takes nothing over and no other
//! packet of it is handled); a second CONNECT with its id is closed before any plugin sees it; if
//! it goes away meanwhile no DISCONNECT or CLIENT_OFFLINE event comes, its memory is freed, and a
//! later completion for its id does nothing. Hence completion by id, a deadline for every entry,
//! and the client pointer used again only once the broker, after a positive completion, reports it
//! as the connection that holds the id (a username the token binds is set then).
use super::auth::Answer;
use super::identity::Who;
use super::revocation::GateAnswer;
use super::waiting::{Entry, Settled, Work};
use super::Plugin;
use crate::cache::Digest;
use crate::config::OnError;
use crate::host::{Broker, ClientKey, Level, LOG_PREFIX};
use crate::introspect::{Done, Outcome, Verdict};
use crate::loaded::Loaded;
use crate::logsafe::clean;
use crate::refusal::{Reason, Refused};
use crate::session::Session;

/// Delayed CONNECTs answered per TICK.
const SETTLE_PER_TICK: usize = 1000;

impl Plugin {
    /// Whether a CONNECT may wait for its revocation answer: 2.1, and room for one more.
    /// None: the broker cannot wait (2.0), check inline.
    pub(super) fn can_wait(&self, broker: &dyn Broker, enhanced: bool) -> Option<bool> {
        // Enhanced auth (EXT_AUTH_START) has no delayed answer in 2.1.2, and neither has the re-check
        // of connected clients after a reload (security__apply disconnects on anything but success).
        let rechecking = self.recheck_until.get() > 0.0;
        (!enhanced && !rechecking && broker.can_defer_auth()).then(|| !self.waiting.borrow_mut().is_full())
    }

    /// Every check but the revocation answer has passed: remember what to open. `at`: the client
    /// and its address (read while the pointer was valid).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn wait_for_revocation(
        &self,
        loaded: &Loaded,
        broker: &dyn Broker,
        at: (ClientKey, String),
        session: Session,
        digest: Digest,
        rename_after: Option<String>,
        now: f64,
    ) {
        let (client, address) = at;
        let (timeout, deny) = match (&loaded.introspector, &loaded.config.revocation) {
            (Some(i), Some(r)) => (i.timeout().as_secs_f64(), r.on_error == OnError::Deny),
            _ => (0.0, true),
        };
        let e = Entry {
            client,
            client_id: session.client_id.to_string(),
            address,
            work: Work::Revocation { digest, session: Box::new(session), rename_after },
            deadline: now + timeout,
            deny_on_timeout: deny,
            settled: None,
        };
        // can_wait checked for room on this thread just before.
        if let Ok(Some(gone)) = self.waiting.borrow_mut().insert(e) {
            let msg = format!(
                "{LOG_PREFIX}: client {}: a CONNECT waiting for its revocation answer went away (same id again)",
                clean(&gone.client_id, 64)
            );
            broker.log(Level::Debug, &msg);
        }
    }

    /// Revocation answers in (any thread's pass): settle the CONNECTs waiting on them. They are
    /// answered on the next TICK, never from inside another client's callback.
    pub(super) fn resolve_waiting(&self, loaded: &Loaded, answers: &[Done]) {
        let mut w = self.waiting.borrow_mut();
        if w.is_empty() {
            return;
        }
        let deny = loaded.config.revocation.as_ref().is_none_or(|r| r.on_error == OnError::Deny);
        for a in answers {
            let how = match &a.outcome {
                Outcome::Answer(Ok(Verdict::Active)) => Settled::Accept { checked: true },
                Outcome::Answer(Ok(Verdict::Inactive)) => Settled::Refuse(Refused::new(
                    Reason::Revoked,
                    "the revocation endpoint says the token is not active",
                )),
                Outcome::Answer(Err(e)) if deny => {
                    Settled::Refuse(Refused::new(Reason::RevocationUnchecked, e.clone()))
                }
                Outcome::Answer(Err(_)) => Settled::Accept { checked: false },
                // Only re-checks are shed; a first check waits for its own answer or the deadline.
                Outcome::Shed => continue,
            };
            w.resolve(&a.digest, &how);
        }
    }

    /// Delayed CONNECTs still waiting.
    pub fn waiting_connects(&self) -> usize {
        self.waiting.borrow_mut().len()
    }

    /// TICK: answers the delayed CONNECTs that are settled or past their deadline. Nothing is borrowed
    /// while the broker completes one (it may take another client over, whose DISCONNECT then
    /// runs inside this call).
    pub(super) fn settle_waiting(&self, broker: &dyn Broker, now: f64) {
        self.take_exchange_answers();
        let ready = self.waiting.borrow_mut().take_ready(now, SETTLE_PER_TICK);
        if ready.is_empty() {
            return;
        }
        let loaded = self.loaded();
        for e in ready {
            let (id, addr) = (clean(&e.client_id, 64), clean(&e.address, 64));
            let result = match e.settled.clone() {
                Some(Settled::Accept { checked }) => self.open_waiting(&loaded, broker, e, checked, now),
                Some(Settled::Refuse(r)) => {
                    broker.complete_auth(e.client, &e.client_id, false);
                    Err(r)
                }
                Some(Settled::Exchanged(got)) => match self.finish_exchange(&loaded, broker, e, got, now) {
                    // Admitted, or waiting again (for its revocation answer): counted then.
                    Ok(_) => continue,
                    Err(r) => Err(r),
                },
                None => continue,
            };
            match result {
                Ok(()) => self.count_answer(Answer::Connect, &Ok(())),
                Err(r) => {
                    broker.log(Level::Notice, &format!("{LOG_PREFIX}: refused client {id} from {addr}: {r}"));
                    self.count_answer(Answer::Connect, &Err(r));
                }
            }
        }
    }

    /// A positive answer: the takeover rule again (another connection may hold the id by now),
    /// then the session opens before the broker completes the CONNECT (ACL checks of a resumed
    /// session run inside the completion) and closes again if the client had gone.
    fn open_waiting(
        &self,
        loaded: &Loaded,
        broker: &dyn Broker,
        e: Entry,
        checked: bool,
        now: f64,
    ) -> Result<(), Refused> {
        let Work::Revocation { session, rename_after, .. } = e.work else { return Ok(()) };
        if let Err(r) = self.check_takeover(loaded, e.client, &e.client_id, Some(Who::of(&session))) {
            broker.complete_auth(e.client, &e.client_id, false);
            return Err(r);
        }
        // A live session at this address under another id: the waiting connection is gone and its
        // memory belongs to a newer one. Its id, if the broker still holds it, is refused.
        let reused = self.sessions.borrow_mut().get(e.client).is_some_and(|s| *s.client_id != *e.client_id);
        if reused {
            broker.complete_auth(e.client, &e.client_id, false);
            return Ok(());
        }
        let gate = if checked { GateAnswer::Active } else { GateAnswer::Pending };
        self.open_accepted(loaded, broker, e.client, &e.client_id, *session, gate, rename_after, now);
        Ok(())
    }
}
