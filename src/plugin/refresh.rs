//! In-band token refresh: MQTT v5 re-authentication (see auth.rs) and, for clients that cannot
//! re-authenticate, a new token published to the control topic. Both replace the session's token,
//! claims and deadline when the new token names the same identity.
use super::{log_refusal, Plugin};
use crate::host::{Broker, ClientRef, Level, LOG_PREFIX};
use crate::loaded::Loaded;
use crate::logsafe::clean;
use crate::refusal::{Reason, Refused};
use crate::session::End;
use serde_json::json;

impl Plugin {
    /// Replaces the session of `client` with one for `token`; the new expiry time on success.
    /// Atomic: signature, claims, identity and the new token's revocation verdict are all checked
    /// before anything changes. The caller ends the session on a refusal, except for
    /// [`Reason::RefreshTooSoon`] (refused before any crypto; the session goes on).
    pub(super) fn refresh_session(
        &self,
        loaded: &Loaded,
        broker: &dyn Broker,
        client: ClientRef,
        token: &str,
        now: f64,
    ) -> Result<Option<f64>, Refused> {
        let Some(session) = self.sessions.borrow_mut().get(client.key()).cloned() else {
            return Err(Refused::new(Reason::Internal, "no session for this connection"));
        };
        if !session.is_live() {
            return Err(Refused::new(Reason::SessionEnding, "the session is already ending"));
        }
        let min_interval = loaded.config.refresh.min_interval_ms as f64 / 1000.0;
        if session.last_refresh().is_some_and(|last| now - last < min_interval) {
            crate::metrics::Metrics::inc(&self.metrics.refresh_refused);
            return Err(Refused::new(
                Reason::RefreshTooSoon,
                format!("less than {} ms after the last refresh", loaded.config.refresh.min_interval_ms),
            ));
        }
        let verified =
            self.reverify(loaded, broker, &session, token, Some(token.into()), now).and_then(|(fresh, rename, t)| {
                if rename.is_some() || fresh.username != session.username {
                    return Err(Refused::new(Reason::UsernameMismatch, "the new token binds another username"));
                }
                let gate = self.revocation_gate(loaded, token, &t, now, None)?;
                Ok((fresh, gate))
            });
        let m = &self.metrics;
        crate::metrics::Metrics::inc(if verified.is_ok() { &m.refresh_accepted } else { &m.refresh_refused });
        let (mut fresh, gate) = verified?;
        fresh.refreshed = true;
        fresh.set_last_refresh(Some(now));
        let exp = fresh.exp();
        self.open_session(loaded, client.key(), fresh, now, gate);
        broker
            .log(Level::Debug, &format!("{LOG_PREFIX}: client {} refreshed its token", clean(&session.client_id, 64)));
        Ok(exp)
    }

    /// MOSQ_EVT_CONTROL on the refresh topic: the payload is the new token (or {"token": "..."}).
    /// The answer goes to the publishing client only; a refused refresh ends the connection (but
    /// one that merely came too soon does not).
    pub fn control(&self, broker: &dyn Broker, client: ClientRef, payload: &[u8], now: f64) {
        let loaded = self.loaded();
        let Some(id) = broker.client_id(client) else { return };
        let result = token_from_payload(payload).and_then(|t| self.refresh_session(&loaded, broker, client, &t, now));
        let answer = match &result {
            Ok(exp) => json!({"result": "ok", "exp": exp.map(|e| e as i64)}),
            Err(r) => json!({"result": "refused", "reason": r.reason.category()}),
        };
        broker.publish_to(&id, &loaded.config.refresh.response_topic, answer.to_string().as_bytes());
        match result {
            Ok(_) => {}
            Err(r) if r.reason == Reason::RefreshTooSoon => {
                log_refusal(broker, client, "token refresh too soon for", &r)
            }
            Err(r) => {
                log_refusal(broker, client, "token refresh refused, disconnecting", &r);
                // Not from inside this client's own callback: a tick kicks it shortly, after the
                // answer has gone out; ACLs deny meanwhile.
                self.end_session(client.key(), End::RefreshRefused(r.reason), now);
            }
        }
    }
}

fn token_from_payload(payload: &[u8]) -> Result<String, Refused> {
    let text = std::str::from_utf8(payload).map_err(|_| Refused::new(Reason::Malformed, "payload is not UTF-8"))?;
    let text = text.trim();
    if text.starts_with('{') {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|_| Refused::new(Reason::Malformed, "payload is not valid JSON"))?;
        return v
            .get("token")
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .ok_or_else(|| Refused::new(Reason::NoToken, "no \"token\" in the JSON payload"));
    }
    if text.is_empty() {
        return Err(Refused::new(Reason::NoToken, "empty payload"));
    }
    Ok(text.to_string())
}
