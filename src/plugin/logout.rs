//! MOSQ_EVT_CONTROL on the logout topic: an OIDC back-channel logout token, published by any client
//! (typically `mqtt-jwt logout-relay`) — the identity provider's signature is the authority. A
//! verified logout ends every live session it covers (invalidity notice, then the kick), and until
//! `rememberSeconds` pass it refuses CONNECT and refresh with tokens issued at or before it.
use super::{log_refusal, Plugin};
use crate::host::{Broker, ClientRef, Level, LOG_PREFIX};
use crate::loaded::Loaded;
use crate::logout::Logout;
use crate::logsafe::clean;
use crate::metrics::Metrics;
use crate::refusal::{Reason, Refused};
use crate::session::End;
use crate::token::Token;
use serde_json::json;

impl Plugin {
    /// A logout token on the logout topic. The answer (ok with the number of sessions ended, or the
    /// refusal's category) goes to the publisher only; a refused token never ends its session.
    pub fn logout(&self, broker: &dyn Broker, client: ClientRef, payload: &[u8], now: f64) {
        let loaded = self.loaded();
        let result = std::str::from_utf8(payload)
            .map(str::trim)
            .map_err(|_| Refused::new(Reason::Malformed, "payload is not UTF-8"))
            .and_then(|t| if t.is_empty() { Err(Refused::new(Reason::NoToken, "empty payload")) } else { Ok(t) })
            .and_then(|t| loaded.verify_logout(t, now))
            .and_then(|l| self.first_use(&loaded, l, now));
        let m = &self.metrics;
        let answer = match &result {
            Ok(l) => {
                Metrics::inc(&m.logouts_accepted);
                let ended = self.apply_logout(&loaded, l, now);
                let what = match (&l.sub, &l.sid) {
                    (Some(sub), Some(sid)) => format!("sub {} sid {}", clean(sub, 64), clean(sid, 64)),
                    (Some(sub), None) => format!("sub {}", clean(sub, 64)),
                    (None, Some(sid)) => format!("sid {}", clean(sid, 64)),
                    (None, None) => String::new(),
                };
                let from = broker.client_id(client).map(|s| clean(&s, 64)).unwrap_or_else(|| "-".into());
                broker.log(
                    Level::Notice,
                    &format!(
                        "{LOG_PREFIX}: back-channel logout of {what} (iss {}) from client {from}: {ended} session(s) ending",
                        clean(&l.iss, 100)
                    ),
                );
                json!({"result": "ok", "ended": ended})
            }
            Err(r) => {
                Metrics::inc(&m.logouts_refused);
                log_refusal(broker, client, "logout token refused from", r);
                json!({"result": "refused", "reason": r.reason.category()})
            }
        };
        if let Some(id) = broker.client_id(client) {
            broker.publish_to(&id, &loaded.config.refresh.response_topic, answer.to_string().as_bytes());
        }
    }

    /// The replay check, after the signature (unverified junk must not fill the memory).
    fn first_use(&self, loaded: &Loaded, l: Logout, now: f64) -> Result<Logout, Refused> {
        let max_age = loaded.config.logout.as_ref().map_or(0, |c| c.max_age_seconds) as f64;
        let until = l.iat + max_age + loaded.verifier.leeway + 1.0;
        let (first, forgotten) = self.logouts.borrow_mut().first_use(&l, until, now);
        self.metrics.logouts_forgotten.fetch_add(forgotten as u64, std::sync::atomic::Ordering::Relaxed);
        if !first {
            return Err(Refused::new(Reason::LogoutReplayed, "this jti was used before"));
        }
        Ok(l)
    }

    /// Ends the covered sessions and remembers the logout; the number of sessions ending.
    fn apply_logout(&self, loaded: &Loaded, l: &Logout, now: f64) -> usize {
        let remember = loaded.config.logout.as_ref().map_or(0, |c| c.remember_seconds) as f64;
        let forgotten = self.logouts.borrow_mut().remember(l, now + remember, now);
        self.metrics.logouts_forgotten.fetch_add(forgotten as u64, std::sync::atomic::Ordering::Relaxed);
        let ended = self.sessions.borrow_mut().logged_out(l);
        for c in &ended {
            self.end_session(*c, End::LoggedOut, now);
        }
        ended.len()
    }

    /// CONNECT and refresh: a token issued at or before a remembered logout of its subject or
    /// provider session is refused.
    pub(super) fn logout_gate(&self, loaded: &Loaded, t: &Token, now: f64) -> Result<(), Refused> {
        if loaded.config.logout.is_none() {
            return Ok(());
        }
        // `sid` is among the claims the loaded configuration keeps when options.logout is configured.
        let sid = t.claims.get("sid").and_then(|v| v.as_str());
        let memory = self.logouts.borrow_mut();
        match memory.refusing(t.iss.as_deref(), t.sub.as_deref(), sid, t.iat.get(), now) {
            Some(l) => Err(Refused::new(
                Reason::LoggedOut,
                format!("issued before a back-channel logout ({}s ago)", (now - l.iat).max(0.0).floor()),
            )),
            None => Ok(()),
        }
    }
}
