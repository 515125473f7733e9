//! BASIC_AUTH with `options.credentialsExchange`: a password that is not a JWT is exchanged for an
//! access token (src/net/exchange.rs), which then goes through the normal verification. Blocking on a
//! cache miss: see docs/configuration.md ("Credentials exchange") before enabling it.
use super::Plugin;
use crate::host::{Broker, ClientRef, Level, LOG_PREFIX};
use crate::loaded::Loaded;
use crate::logsafe::clean;
use crate::net::exchange::{looks_like_jwt, Exchanger};
use crate::refusal::{Reason, Refused};
use std::borrow::Cow;

impl Plugin {
    /// The token to verify for this CONNECT: the password itself, or the exchanged access token.
    /// None: the exchange runs on a thread and the CONNECT waits for it (2.1, waiting_exchange.rs).
    /// The time that comes back is `now` after a blocking exchange: the token was minted after the
    /// CONNECT's `now`, so its `iat` may be a second ahead of it.
    pub(super) fn exchanged<'a>(
        &self,
        loaded: &Loaded,
        broker: &dyn Broker,
        client: ClientRef,
        username: Option<&str>,
        password: &'a str,
        now: f64,
    ) -> Result<Option<(Cow<'a, str>, f64)>, Refused> {
        let Some(ex) = &loaded.exchange else { return Ok(Some((Cow::Borrowed(password), now))) };
        if looks_like_jwt(password) {
            return Ok(Some((Cow::Borrowed(password), now)));
        }
        let Some(username) = username.filter(|u| !u.is_empty()) else {
            return Err(Refused::new(Reason::CredentialsRefused, "a password that is not a JWT needs a username"));
        };
        if let Some(token) = ex.cached(username, password, now) {
            // A cached token whose keys have gone since is exchanged again, not refused.
            if loaded.authenticate(&token, now).is_ok() {
                crate::metrics::Metrics::inc(&self.metrics.exchange_cache_hits);
                return Ok(Some((Cow::Owned(token), now)));
            }
            ex.forget(username, password);
        }
        if self.exchange_later(broker, client, username, password, now) {
            return Ok(None);
        }
        let got = ex.exchange(username, password)?;
        let now = now + got.took.as_secs_f64();
        let id = broker.client_id(client).map(|s| clean(&s, 64)).unwrap_or_else(|| "-".into());
        broker.log(
            Level::Debug,
            &format!(
                "{LOG_PREFIX}: client {id}: credentials exchanged at the token endpoint in {} ms",
                got.took.as_millis()
            ),
        );
        // Only a token that verifies is remembered, until its own exp.
        let t = loaded.authenticate(&got.token, now)?;
        ex.remember(username, password, got.token.clone(), Exchanger::until(t.exp.get(), got.expires_in, now), now);
        Ok(Some((Cow::Owned(got.token), now)))
    }
}
