//! Which connections are this plugin's, and who may use a client id. Credentials not shaped like a
//! JWT are passed on under `nonJwtCredentials: "defer"`; a client id held by a live connection of
//! another identity is refused under `clientIdTakeover: "sameIdentity"`, so one token holder cannot
//! kick another device (or a password client) off its id.
use super::Plugin;
use crate::config::{ClientIdTakeover, NonJwtCredentials};
use crate::host::{Broker, ClientKey, ClientRef, Level, LOG_PREFIX};
use crate::loaded::Loaded;
use crate::logsafe::clean;
use crate::refusal::{Reason, Refused};
use crate::session::Session;
use std::collections::HashMap;

/// Connections passed on to other plugins, by client id: they are live holders of their ids too.
/// Forgotten at DISCONNECT.
#[derive(Default)]
pub(super) struct Deferred {
    by_client: HashMap<ClientKey, String>,
    by_id: HashMap<String, ClientKey>,
}

impl Deferred {
    fn insert(&mut self, c: ClientKey, id: String) {
        self.remove(c);
        self.by_id.insert(id.clone(), c);
        self.by_client.insert(c, id);
    }

    pub fn remove(&mut self, c: ClientKey) {
        if let Some(id) = self.by_client.remove(&c) {
            if self.by_id.get(&id) == Some(&c) {
                self.by_id.remove(&id);
            }
        }
    }

    fn holder(&self, id: &str) -> Option<ClientKey> {
        self.by_id.get(id).copied()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_client.len()
    }
}

/// Who a connection is: issuer + subject, or (without a subject) the bound username.
#[derive(Debug, Clone, Copy)]
pub(super) struct Who<'a> {
    pub issuer: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub username: Option<&'a str>,
}

impl<'a> Who<'a> {
    pub(super) fn of(s: &'a Session) -> Who<'a> {
        Who { issuer: s.issuer().map(|i| &**i), subject: s.subject().map(|i| &**i), username: s.username.as_deref() }
    }

    fn same(self, other: Who) -> bool {
        match (self.subject, other.subject) {
            (Some(a), Some(b)) => a == b && self.issuer == other.issuer,
            (None, None) => self.username.is_some() && self.username == other.username,
            _ => false,
        }
    }
}

impl Plugin {
    /// Some when the credentials are not this plugin's (`raw`, the token field, is absent or not
    /// shaped like a JWT, and nonJwtCredentials is "defer"): Ok to pass them on, Err to refuse them
    /// (their client id is a device's). None: decide them here.
    pub(super) fn pass_on(
        &self,
        loaded: &Loaded,
        broker: &dyn Broker,
        client: ClientRef,
        raw: Option<&[u8]>,
        now: f64,
    ) -> Option<Result<(), Refused>> {
        if loaded.config.common.non_jwt_credentials != NonJwtCredentials::Defer
            || raw.is_some_and(crate::shape::looks_like_jwt)
        {
            return None;
        }
        let id = broker.client_id(client).unwrap_or_default();
        // A password client must not take a device's id either.
        if let Err(r) = self.check_takeover(loaded, client.key(), &id, None) {
            return Some(Err(r));
        }
        // A new CONNECT on this connection: nothing of ours may answer its ACL checks.
        if self.sessions.borrow_mut().close(client.key()).is_some() {
            self.untrack_revocation(client.key());
        }
        // During a reload's re-check mosquitto also asks for offline persistent sessions: only
        // connections that are live are recorded (those already are).
        if now >= self.recheck_until.get() {
            self.deferred.borrow_mut().insert(client.key(), id.clone());
        }
        broker.log(
            Level::Debug,
            &format!("{LOG_PREFIX}: client {}: credentials are not a JWT, passed on to other plugins", clean(&id, 64)),
        );
        Some(Ok(()))
    }

    /// Refuses `id` to `client` when a live connection of another identity holds it. `who`: the
    /// newcomer's identity; None for a connection passed on to other plugins (never the same).
    pub(super) fn check_takeover(
        &self,
        loaded: &Loaded,
        client: ClientKey,
        id: &str,
        who: Option<Who>,
    ) -> Result<(), Refused> {
        if loaded.config.common.client_id_takeover == ClientIdTakeover::Allow {
            return Ok(());
        }
        let in_use = |holder: &str| {
            Err(Refused::new(Reason::ClientIdInUse, format!("held by a connection of another identity ({holder})")))
        };
        // Between two connections of other plugins, those plugins decide (MQTT's takeover).
        if who.is_some() && self.deferred.borrow_mut().holder(id).is_some_and(|c| c != client) {
            return in_use("a client of another plugin");
        }
        let sessions = self.sessions.borrow_mut();
        match sessions.holder_of(id) {
            Some((c, _)) if c == client => Ok(()),
            Some((_, s)) if who.is_some_and(|w| w.same(Who::of(s))) => Ok(()),
            Some(_) => in_use("a token of another subject"),
            None => Ok(()),
        }
    }

    /// A session is opening on `client`: it is no longer a connection of other plugins.
    pub(super) fn forget_deferred(&self, client: ClientKey) {
        self.deferred.borrow_mut().remove(client);
    }
}

#[cfg(test)]
mod tests {
    use super::Who;

    fn w<'a>(issuer: Option<&'a str>, subject: Option<&'a str>, username: Option<&'a str>) -> Who<'a> {
        Who { issuer, subject, username }
    }

    #[test]
    fn identity_is_issuer_and_subject_or_the_bound_username() {
        assert!(w(Some("i"), Some("s"), None).same(w(Some("i"), Some("s"), Some("x"))));
        assert!(!w(Some("i"), Some("s"), None).same(w(Some("j"), Some("s"), None)));
        assert!(!w(None, Some("s"), None).same(w(None, Some("t"), None)));
        assert!(w(None, None, Some("u")).same(w(None, None, Some("u"))));
        assert!(!w(None, None, None).same(w(None, None, None)), "nothing known is nobody's");
        assert!(!w(None, Some("u"), Some("u")).same(w(None, None, Some("u"))));
    }
}
