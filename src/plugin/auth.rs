//! CONNECT-time authentication: basic auth (token in password or username), MQTT v5 enhanced auth
//! with our method, and the re-check mosquitto runs for every client after a reload.
use super::identity::Who;
use super::revocation::GateAnswer;
use super::{log_refusal, Plugin};
use crate::acl::Granted;
use crate::config::TokenSource;
use crate::host::{AuthResult, Broker, ClientKey, ClientRef, Level, LOG_PREFIX};
use crate::loaded::{Loaded, Verified};
use crate::logsafe::clean;
use crate::refusal::{Reason, Refused};
use crate::session::{Deadlines, End, Phase, Session};
use crate::token::Token;
use std::borrow::Cow;
use std::sync::Arc;

/// Which question an authentication answer was to: it picks the counter and the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// A new connection (BASIC_AUTH or an enhanced-auth CONNECT).
    Connect,
    /// MQTT v5 re-authentication of a live session (counted by refresh_session).
    Reauth,
    /// mosquitto's re-check of a connected client after a reload: a refusal disconnects it.
    ReloadRecheck,
}

impl Answer {
    fn log_text(self) -> &'static str {
        match self {
            Answer::Connect => "refused",
            Answer::Reauth => "re-authentication refused for",
            Answer::ReloadRecheck => "after reload, disconnecting",
        }
    }
}

/// A new connection that passed every check so far.
pub(super) struct Prepared {
    pub session: Session,
    /// The username the broker must carry (a binding that renames).
    pub set: Option<String>,
    pub gate: GateAnswer,
}

/// Whether an admitted CONNECT's session is open, or the CONNECT waits for its revocation answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admitted {
    Open,
    Waiting,
}

/// How a token reached [`Plugin::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    /// BASIC_AUTH; `returns`: the token is the password itself, which mosquitto passes again to
    /// the re-check after a reload (so the session need not keep it).
    Basic {
        returns: bool,
    },
    Enhanced,
}

/// The username as the session keeps it: the subject's string when they are equal (no copy).
fn share(username: Option<Arc<str>>, sub: &Option<Arc<str>>) -> Option<Arc<str>> {
    match (username, sub) {
        (Some(u), Some(s)) if u == *s => Some(s.clone()),
        (u, _) => u,
    }
}

/// The provider session a back-channel logout can name, kept only when `options.logout` is set.
fn logout_sid(loaded: &Loaded, t: &Token) -> Option<Arc<str>> {
    loaded.config.logout.as_ref()?;
    t.claims.get("sid").and_then(|v| v.as_str()).map(Arc::from)
}

/// Gives the connection its bound username; the broker refuses only when out of memory.
fn set_username(broker: &dyn Broker, client: ClientRef, name: &str) -> Result<(), Refused> {
    if broker.set_username(client, name) {
        Ok(())
    } else {
        Err(Refused::new(Reason::Internal, "the broker could not set the username"))
    }
}

fn utf8(raw: &[u8]) -> Result<&str, Refused> {
    std::str::from_utf8(raw).map_err(|_| Refused::new(Reason::Malformed, "not UTF-8"))
}

impl Plugin {
    /// MOSQ_EVT_BASIC_AUTH. `username`/`password` are what mosquitto holds for the connection.
    pub fn basic_auth(
        &self,
        broker: &dyn Broker,
        client: ClientRef,
        username: Option<&[u8]>,
        password: Option<&[u8]>,
        now: f64,
    ) -> AuthResult {
        // TICK may never come (2.0.0–2.0.14 with per_listener_settings): do its work here too.
        self.drain_background(broker);
        self.revocation_pass(broker, now);
        self.expire_fallback(broker, now, client);
        let loaded = self.loaded();
        if now < self.recheck_until.get() {
            if let Some(result) = self.recheck(&loaded, broker, client, password, now) {
                return result;
            }
        }
        let (raw, field) = match loaded.token_source() {
            TokenSource::Password => (password, "password"),
            TokenSource::Username => (username, "username"),
        };
        if let Some(passed) = self.pass_on(&loaded, broker, client, raw, now) {
            return passed
                .map_or_else(|r| self.answer(broker, client, Answer::Connect, Err(r)), |()| AuthResult::Defer);
        }
        let result = raw
            .filter(|r| !r.is_empty())
            .ok_or_else(|| Refused::new(Reason::NoToken, format!("no {field}")))
            .and_then(utf8)
            .and_then(|token| {
                let sent = username.and_then(|u| std::str::from_utf8(u).ok());
                let Some((token, now)) = self.exchanged(&loaded, broker, client, sent, token, now)? else {
                    return Ok(Admitted::Waiting);
                };
                // Only a password that is the token itself comes back to a reload re-check.
                let returns = loaded.token_source() == TokenSource::Password && matches!(token, Cow::Borrowed(_));
                self.admit(&loaded, broker, client, &token, sent, Via::Basic { returns }, now)
            });
        match result {
            Ok(Admitted::Waiting) => AuthResult::Delayed,
            other => self.answer(broker, client, Answer::Connect, other.map(|_| ())),
        }
    }

    /// MOSQ_EVT_EXT_AUTH_START: a CONNECT with an authentication method, or a v5 re-authentication.
    pub fn ext_auth_start(
        &self,
        broker: &dyn Broker,
        client: ClientRef,
        method: Option<&str>,
        data: &[u8],
        now: f64,
    ) -> AuthResult {
        let loaded = self.loaded();
        let ours = loaded.config.refresh.auth_method.as_deref();
        if ours.is_none() || method != ours {
            return AuthResult::Defer;
        }
        let id = broker.client_id(client);
        // A session of this connection (live or ending) means re-authentication.
        let known = self
            .sessions
            .borrow_mut()
            .get(client.key())
            .is_some_and(|s| id.as_deref() == Some(&*s.client_id) && !matches!(s.phase(), Phase::Gone { .. }));
        let token = match utf8(data) {
            Ok(t) if !t.is_empty() => t,
            Ok(_) => {
                return self.answer(
                    broker,
                    client,
                    Answer::Connect,
                    Err(Refused::new(Reason::NoToken, "no authentication data")),
                )
            }
            Err(r) => return self.answer(broker, client, Answer::Connect, Err(r)),
        };
        if known {
            // No re-auth flag reaches plugins. A refused re-authentication ends the connection
            // (mosquitto closes it): the session is ending from now on, whatever comes next.
            let result = self.refresh_session(&loaded, broker, client, token, now).map(|_| ());
            if let Err(r) = &result {
                self.end_session(client.key(), End::RefreshRefused(r.reason), now);
            }
            return self.answer(broker, client, Answer::Reauth, result);
        }
        let sent = broker.client_username(client);
        let result = self.admit(&loaded, broker, client, token, sent.as_deref(), Via::Enhanced, now).map(|_| ());
        self.answer(broker, client, Answer::Connect, result)
    }

    fn answer(&self, broker: &dyn Broker, client: ClientRef, kind: Answer, result: Result<(), Refused>) -> AuthResult {
        self.count_answer(kind, &result);
        match result {
            Ok(()) => AuthResult::Accept,
            Err(r) => {
                log_refusal(broker, client, kind.log_text(), &r);
                AuthResult::Refuse
            }
        }
    }

    /// Verifies a token for a new connection, binds its identity and opens its session. Every check
    /// runs before anything changes: a refused CONNECT leaves the connection's username as it was.
    #[allow(clippy::too_many_arguments)]
    fn admit(
        &self,
        loaded: &Loaded,
        broker: &dyn Broker,
        client: ClientRef,
        token: &str,
        sent_username: Option<&str>,
        via: Via,
        now: f64,
    ) -> Result<Admitted, Refused> {
        let id = broker.client_id(client).unwrap_or_default();
        let mut p = self.prepare(loaded, broker, client.key(), id, token, sent_username, via, now)?;
        // A CONNECT that waits (2.1) is renamed once the broker accepted it, through the pointer it
        // then vouches for; one that resumes a persistent session is renamed now, before its
        // queued messages are checked (a delayed client can do nothing; a refusal closes it).
        let waits = matches!(p.gate, GateAnswer::Wait(_));
        let rename_after = if waits && broker.client_clean_start(client) { p.set.take() } else { None };
        if let Some(name) = &p.set {
            set_username(broker, client, name)?;
        }
        if let GateAnswer::Wait(d) = p.gate {
            let at = (client.key(), broker.client_address(client).unwrap_or_else(|| "-".into()));
            self.wait_for_revocation(loaded, broker, at, p.session, d, rename_after, now);
            return Ok(Admitted::Waiting);
        }
        self.forget_deferred(client.key());
        self.open_session(loaded, client.key(), p.session, now, p.gate);
        Ok(Admitted::Open)
    }

    /// Every check of a new connection with client id `id`, changing nothing: the session to open,
    /// the username to set, the revocation gate's answer. `client` is only compared.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn prepare(
        &self,
        loaded: &Loaded,
        broker: &dyn Broker,
        client: ClientKey,
        id: String,
        token: &str,
        sent_username: Option<&str>,
        via: Via,
        now: f64,
    ) -> Result<Prepared, Refused> {
        let verified = loaded.authenticate_for_session(token, now)?;
        let t = verified.token.clone();
        self.logout_gate(loaded, &t, now)?;
        let identity = loaded.bind_identity(&t, Some(&id), sent_username)?;
        let (username, set) = if via == Via::Enhanced && !loaded.binds_username() {
            // The CONNECT username of an enhanced-auth client is unverified: replace it with the
            // subject, which also keeps the client through the username check of a reload.
            let sub =
                t.sub.clone().ok_or_else(|| Refused::new(Reason::BadSubject, "enhanced authentication needs a sub"))?;
            let set = (sent_username != Some(&*sub)).then(|| sub.to_string());
            (Some(sub), set)
        } else {
            (identity.username, identity.set_username)
        };
        let who = Who { issuer: t.iss.as_deref(), subject: t.sub.as_deref(), username: username.as_deref() };
        self.check_takeover(loaded, client, &id, Some(who))?;
        let gate = self.revocation_gate(loaded, token, &t, now, self.can_wait(broker, via == Via::Enhanced))?;
        // Introspection follows the raw token for the whole session.
        let keep = via != Via::Basic { returns: true } || loaded.introspector.is_some();
        let username = share(username, &t.sub);
        // A device's client id is often its subject: one string for both.
        let id = match &t.sub {
            Some(sub) if **sub == *id => sub.clone(),
            _ => id.into(),
        };
        let (t, permissions) = self.grant(loaded, broker, token, &verified, &id, username.as_ref())?;
        let mut session = Session::new(id, t.clone(), username, keep.then(|| token.into()));
        session.set_sid(logout_sid(loaded, &t));
        session.permissions = permissions;
        Ok(Prepared { session, set, gate })
    }

    /// The permissions of a session with this client id and username (`%u` only ever means a
    /// username bound to the token), and the token the session keeps.
    fn grant(
        &self,
        loaded: &Loaded,
        broker: &dyn Broker,
        raw: &str,
        v: &Verified,
        client_id: &Arc<str>,
        username: Option<&Arc<str>>,
    ) -> Result<(Arc<Token>, Option<Granted>), Refused> {
        let Some(g) = loaded.grant(raw, v, client_id, username)? else { return Ok((v.token.clone(), None)) };
        for w in &g.warnings {
            broker.log(Level::Notice, &format!("{LOG_PREFIX}: client {}: {w}", clean(client_id, 64)));
        }
        Ok((g.token, Some(g.granted)))
    }

    pub(super) fn open_session(
        &self,
        loaded: &Loaded,
        client: ClientKey,
        session: Session,
        now: f64,
        gate: GateAnswer,
    ) {
        let c = &loaded.config.common;
        let deadlines = Deadlines {
            kick: c.kick_expired_clients && c.validate_expiration,
            leeway: c.leeway_seconds as f64,
            notice_before: loaded.config.expiry_notice.as_ref().map(|n| n.seconds_before as f64),
        };
        let tracked = loaded.introspector.is_some().then(|| session.clone());
        self.sessions.borrow_mut().open(client, session, deadlines, now);
        if let Some(s) = tracked {
            self.track_revocation(loaded, client, &s, gate, now);
        }
    }

    /// After a reload mosquitto re-runs BASIC_AUTH with the CONNECT credentials. A connected client's
    /// current token (possibly refreshed in-band since) is what must pass the new rules; a session
    /// the plugin is ending is refused (mosquitto then disconnects it at once).
    /// None: not a connected client of ours, authenticate normally.
    fn recheck(
        &self,
        loaded: &Loaded,
        broker: &dyn Broker,
        client: ClientRef,
        password: Option<&[u8]>,
        now: f64,
    ) -> Option<AuthResult> {
        let id = broker.client_id(client)?;
        let session = self.sessions.borrow_mut().get(client.key()).filter(|s| *s.client_id == *id).cloned()?;
        // Not kept: the token in force is the CONNECT password, which mosquitto passes in again.
        let current = match session.token() {
            Some(t) => Ok(&**t),
            None => password
                .filter(|p| !p.is_empty())
                .ok_or_else(|| Refused::new(Reason::NoToken, "no password"))
                .and_then(utf8),
        };
        let result = if !session.is_live() {
            Err(Refused::new(Reason::SessionEnding, "the session was already ending"))
        } else {
            current
                .and_then(|token| self.reverify(loaded, broker, &session, token, session.token().cloned(), now))
                .and_then(|(fresh, rename, _)| {
                    if let Some(name) = &rename {
                        set_username(broker, client, name)?;
                    }
                    self.open_session(loaded, client.key(), fresh, now, GateAnswer::Pending);
                    Ok(())
                })
        };
        Some(self.answer(broker, client, Answer::ReloadRecheck, result))
    }

    /// Verifies `token` for an existing session: same issuer and subject, same bindings. Changes
    /// nothing: returns the session as it must be from now on, and the username mosquitto must
    /// carry if the (reloaded) bindings name another one. `stored` is what the new session keeps
    /// of `token` (see [`Session::token`]).
    pub(super) fn reverify(
        &self,
        loaded: &Loaded,
        broker: &dyn Broker,
        session: &Session,
        token: &str,
        stored: Option<Arc<str>>,
        now: f64,
    ) -> Result<(Session, Option<String>, Arc<Token>), Refused> {
        let verified = loaded.authenticate_for_session(token, now)?;
        let t = verified.token.clone();
        self.logout_gate(loaded, &t, now)?;
        if t.sub.as_ref() != session.subject() || t.iss.as_ref() != session.issuer() {
            return Err(Refused::new(Reason::BadSubject, "the new token names another subject or issuer"));
        }
        let identity = loaded.bind_identity(&t, Some(&session.client_id), session.username.as_deref())?;
        let username = identity.username.or_else(|| session.username.clone());
        let rename = (username != session.username).then(|| username.as_deref().map(str::to_string)).flatten();
        let username = share(username, &t.sub);
        let refreshed = session.refreshed || stored.as_ref() != session.token();
        let (t, permissions) = self.grant(loaded, broker, token, &verified, &session.client_id, username.as_ref())?;
        let mut fresh = Session::new(session.client_id.clone(), t.clone(), username, stored);
        fresh.refreshed = refreshed;
        fresh.set_last_refresh(session.last_refresh());
        fresh.set_sid(logout_sid(loaded, &t));
        fresh.permissions = permissions;
        Ok((fresh, rename, t))
    }
}
