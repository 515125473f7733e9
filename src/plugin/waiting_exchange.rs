//! The credentials exchange on mosquitto 2.1: instead of a blocking request to the token endpoint
//! on the broker thread, BASIC_AUTH answers MOSQ_ERR_AUTH_DELAYED and a thread asks
//! (src/net/exchange/threads.rs); TICK then
//! verifies the token and admits the client as any other (the revocation gate may make it wait once
//! more). Only for a clean-start CONNECT: the username its token binds can be set only after the
//! broker accepted it (the client pointer may dangle before), and a clean start has no queued
//! messages whose checks would see the old name in between. Anything else keeps the inline request.
use super::auth::Answer;
use super::revocation::GateAnswer;
use super::waiting::{Entry, Work};
use super::Plugin;
use crate::host::{Broker, ClientKey, ClientRef, Level, LOG_PREFIX};
use crate::loaded::Loaded;
use crate::logsafe::clean;
use crate::net::exchange::{Exchanged, Exchanger};
use crate::refusal::{Reason, Refused};

impl Plugin {
    /// Starts the exchange on a thread when the CONNECT can wait for it. False: exchange inline.
    pub(super) fn exchange_later(
        &self,
        broker: &dyn Broker,
        client: ClientRef,
        username: &str,
        password: &str,
        now: f64,
    ) -> bool {
        if self.can_wait(broker, false) != Some(true) || !broker.client_clean_start(client) {
            return false;
        }
        let loaded = self.loaded();
        let Some(ex) = &loaded.exchange else { return false };
        // Discovery, then the token request: each bounded by timeoutMs.
        let deadline = now + 2.0 * ex.config.timeout_ms as f64 / 1000.0;
        let (u, p, e) = (username.to_string(), password.to_string(), loaded.clone());
        let Some(ticket) = self.exchanges.start(move || e.exchange.as_ref().map(|ex| ex.exchange(&u, &p))) else {
            return false;
        };
        let entry = Entry {
            client: client.key(),
            client_id: broker.client_id(client).unwrap_or_default(),
            address: broker.client_address(client).unwrap_or_else(|| "-".into()),
            work: Work::Exchange { ticket, username: username.to_string(), password: password.to_string() },
            deadline,
            deny_on_timeout: true,
            settled: None,
        };
        // can_wait found room on this thread just before.
        let _ = self.waiting.borrow_mut().insert(entry);
        true
    }

    /// TICK: the threads' answers to the CONNECTs waiting for them.
    pub(super) fn take_exchange_answers(&self) {
        let answers = self.exchanges.take();
        let mut w = self.waiting.borrow_mut();
        for (ticket, got) in answers {
            w.exchanged(ticket, got);
        }
    }

    /// An exchange answered: verify the token and admit the client. Ok(false): it waits again
    /// (for its revocation answer).
    pub(super) fn finish_exchange(
        &self,
        loaded: &Loaded,
        broker: &dyn Broker,
        e: Entry,
        got: Result<Exchanged, Refused>,
        now: f64,
    ) -> Result<bool, Refused> {
        let Work::Exchange { username, password, .. } = &e.work else { return Ok(true) };
        let refuse = |r: Refused| {
            broker.complete_auth(e.client, &e.client_id, false);
            Err(r)
        };
        let Some(ex) = &loaded.exchange else {
            return refuse(Refused::new(Reason::ExchangeFailed, "the credentials exchange was switched off"));
        };
        let got = match got {
            Ok(g) => g,
            Err(r) => return refuse(r),
        };
        let t = match loaded.authenticate(&got.token, now) {
            Ok(t) => t,
            Err(r) => return refuse(r),
        };
        ex.remember(username, password, got.token.clone(), Exchanger::until(t.exp.get(), got.expires_in, now), now);
        let msg =
            format!("{LOG_PREFIX}: client {}: credentials exchanged at the token endpoint", clean(&e.client_id, 64));
        broker.log(Level::Debug, &msg);
        let p = match self.prepare(
            loaded,
            broker,
            e.client,
            e.client_id.clone(),
            &got.token,
            Some(username),
            super::auth::Via::Basic { returns: false },
            now,
        ) {
            Ok(p) => p,
            Err(r) => return refuse(r),
        };
        if let GateAnswer::Wait(d) = p.gate {
            let at = (e.client, e.address.clone());
            self.wait_for_revocation(loaded, broker, at, p.session, d, p.set, now);
            return Ok(false);
        }
        self.open_accepted(loaded, broker, e.client, &e.client_id, p.session, p.gate, p.set, now);
        self.count_answer(Answer::Connect, &Ok(()));
        Ok(true)
    }

    /// Opens the session, has the broker accept the client, then (a client that is still there)
    /// sets the username its token binds; a client gone meanwhile leaves nothing behind.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn open_accepted(
        &self,
        loaded: &Loaded,
        broker: &dyn Broker,
        client: ClientKey,
        client_id: &str,
        session: crate::session::Session,
        gate: GateAnswer,
        rename_after: Option<String>,
        now: f64,
    ) {
        self.forget_deferred(client);
        self.open_session(loaded, client, session, now, gate);
        let Some(connected) = broker.complete_auth(client, client_id, true) else {
            self.sessions.borrow_mut().close(client);
            self.untrack_revocation(client);
            let msg = format!("{LOG_PREFIX}: client {}: went away while its CONNECT waited", clean(client_id, 64));
            broker.log(Level::Debug, &msg);
            return;
        };
        // The waiting connection is the one holding the id now: its handle for this callback.
        if let Some(name) = rename_after {
            if !broker.set_username(connected, &name) {
                // Fail closed: TICK is not this client's own callback, so it may be kicked here.
                broker.log(
                    Level::Warning,
                    &format!("{LOG_PREFIX}: client {}: the broker could not set the username", clean(client_id, 64)),
                );
                self.sessions.borrow_mut().close(client);
                self.untrack_revocation(client);
                broker.kick(client_id, false);
            }
        }
    }
}
