//! Token verification for one loaded configuration: size, the verified-token cache (emptied when a
//! key source swaps in a new set), signature with the issuer's keys, time; and the claims a cached
//! token keeps, with its issuer string shared.
use super::Loaded;
use crate::acl::Granted;
use crate::cache::{digest, Digest, Hit};
use crate::refusal::{Reason, Refused};
use crate::token::Token;
use std::sync::Arc;

/// A verified token for a session, and where its permissions may come from.
pub struct Verified {
    pub token: Arc<Token>,
    /// The permissions last compiled from this token, from its cache entry.
    granted: Option<Granted>,
    /// Its cache entry; None with the cache off.
    entry: Option<Digest>,
}

/// What [`Loaded::grant`] gives a session.
pub struct Grant {
    /// The token without the claims only authorization read (the session keeps this one).
    pub token: Arc<Token>,
    pub granted: Granted,
    /// Why parts of the token were ignored, when compiled now (to be logged); none when reused.
    pub warnings: Vec<String>,
}

impl Loaded {
    /// Verifies a token, using the cache of already verified signatures. Never blocks: the keys are
    /// whatever the key sources hold now; an unknown kid (or no keys yet) asks for a background
    /// refresh and refuses this token.
    pub fn authenticate(&self, token: &str, now: f64) -> Result<Arc<Token>, Refused> {
        self.authenticate_for_session(token, now).map(|v| v.token)
    }

    /// [`Loaded::authenticate`], with what [`Loaded::grant`] needs.
    pub fn authenticate_for_session(&self, token: &str, now: f64) -> Result<Verified, Refused> {
        self.check_size(token)?;
        let cached = {
            let mut c = self.cache.lock();
            let generation = self.keys.generation();
            if c.generation != generation {
                c.verified.clear();
                c.generation = generation;
            }
            c.verified.enabled()
        };
        if !cached {
            let t = Arc::new(self.verify_uncached(token, now)?);
            return Ok(Verified { token: t, granted: None, entry: None });
        }
        let d = digest(token);
        let hit = self.cache.lock().verified.get(&d, now);
        let (t, granted): Hit = match hit {
            Some(hit) => hit,
            None => {
                let t = Arc::new(self.verify_signed(token)?);
                // Past exp + leeway the time check refuses it anyway; without exp checks, MAX_TTL bounds it.
                let until = match (self.verifier.validate_expiration, t.exp.get()) {
                    (true, Some(exp)) => exp + self.verifier.leeway,
                    _ => f64::INFINITY,
                };
                self.cache.lock().verified.insert(d, t.clone(), until, now);
                (t, None)
            }
        };
        self.verifier.check_time(&t, now)?;
        Ok(Verified { token: t, granted, entry: Some(d) })
    }

    /// The permissions of a verified token for a session with this client id and username (after
    /// identity binding); None without `options.authorization`. They are those of the token's
    /// cache entry when compiled for the same identity. Otherwise they are compiled, from the
    /// token's claims, or when its entry no longer holds them, from `raw` verified again. The
    /// entry then keeps these permissions and the token without the claims they were compiled from.
    pub fn grant(
        &self,
        raw: &str,
        v: &Verified,
        client_id: &Arc<str>,
        username: Option<&Arc<str>>,
    ) -> Result<Option<Grant>, Refused> {
        let Some(cfg) = &self.config.authorization else { return Ok(None) };
        let same = |g: &Granted| g.is_for(client_id, username.map(|u| &**u));
        if let Some(g) = v.granted.as_ref().filter(|g| same(g)) {
            return Ok(Some(Grant { token: v.token.clone(), granted: g.clone(), warnings: Vec::new() }));
        }
        // An entry with permissions holds a token without their claims: verify it again for them.
        let again;
        let claims_from = match &v.granted {
            Some(_) => {
                again = self.verify_signed(raw)?;
                &again
            }
            None => &*v.token,
        };
        let permissions = crate::acl::compile(cfg, claims_from, Some(client_id), username.map(|u| &**u));
        let crate::acl::Permissions { granted, warnings } = permissions;
        let token = self.without_authorization_claims(&v.token);
        if let Some(d) = &v.entry {
            self.cache.lock().verified.granted(d, token.clone(), granted.clone());
        }
        Ok(Some(Grant { token, granted, warnings }))
    }

    /// The token without the claims only authorization reads.
    fn without_authorization_claims(&self, t: &Arc<Token>) -> Arc<Token> {
        if t.claims.keys().all(|k| self.keep_granted.iter().any(|n| n == k)) {
            return t.clone();
        }
        let claims = t.claims.only(|k| self.keep_granted.iter().any(|n| n == k));
        Arc::new(Token { sub: t.sub.clone(), iss: t.iss.clone(), exp: t.exp, nbf: t.nbf, iat: t.iat, claims })
    }

    /// Signature, claims and time, without the cache.
    pub fn verify_uncached(&self, token: &str, now: f64) -> Result<Token, Refused> {
        self.check_size(token)?;
        let t = self.verify_signed(token)?;
        self.verifier.check_time(&t, now)?;
        Ok(t)
    }

    fn check_size(&self, token: &str) -> Result<(), Refused> {
        if token.len() > self.verifier.max_token_bytes {
            return Err(Refused::new(
                Reason::TooLarge,
                format!("{} bytes, limit {}", token.len(), self.verifier.max_token_bytes),
            ));
        }
        Ok(())
    }

    /// A back-channel logout token (OIDC Back-Channel Logout §2.6), with the keys of its issuer.
    /// The `jti` replay check is the caller's (it needs state that outlives reloads).
    pub fn verify_logout(&self, token: &str, now: f64) -> Result<crate::logout::Logout, Refused> {
        let (Some(v), Some(l)) = (&self.logout, &self.config.logout) else {
            return Err(Refused::new(Reason::Internal, "options.logout is not configured"));
        };
        self.check_size(token)?;
        let rules = crate::logout::Rules { max_age: l.max_age_seconds as f64, leeway: self.verifier.leeway };
        self.with_keys(token, |keys| crate::logout::verify(v, keys, token, rules, now))
    }

    /// Signature and claims; the token keeps only the claims `keep` names (the verifier builds no
    /// others), and its issuer string is shared ([`crate::verify::IssuerNames`]).
    fn verify_signed(&self, token: &str) -> Result<Token, Refused> {
        let t = self.with_keys(token, |keys| self.verifier.verify_signed_keeping(token, keys, Some(&self.keep)))?;
        debug_assert!(t.claims.keys().all(|k| self.keep.iter().any(|n| n == k)), "claims beyond keep were built");
        Ok(t)
    }

    /// Runs `f` with the keys of the token's issuer; a miss asks that source for a refresh.
    fn with_keys<T>(
        &self,
        token: &str,
        f: impl FnOnce(&crate::keys::KeySet) -> Result<T, Refused>,
    ) -> Result<T, Refused> {
        let entry = self.keys.select(|| crate::verify::unverified_issuer(token))?;
        let keys = entry.keys();
        f(&keys).map_err(|mut r| {
            match r.reason {
                Reason::UnknownKid => entry.missed(),
                Reason::NoKeys => {
                    entry.missed();
                    r.detail = format!("no verification keys are loaded yet from {}", entry.label());
                }
                _ => {}
            }
            r
        })
    }
}
