//! Token verification for one loaded configuration: size, the verified-token cache (emptied when a
//! key source swaps in a new set), signature with the issuer's keys, time; and the claims a cached
//! token keeps, with its issuer string shared.
use super::Loaded;
use crate::cache::digest;
use crate::refusal::{Reason, Refused};
use crate::token::Token;
use std::sync::Arc;

impl Loaded {
    /// Verifies a token, using the cache of already verified signatures. Never blocks: the keys are
    /// whatever the key sources hold now; an unknown kid (or no keys yet) asks for a background
    /// refresh and refuses this token.
    pub fn authenticate(&self, token: &str, now: f64) -> Result<Arc<Token>, Refused> {
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
            return self.verify_uncached(token, now).map(|t| Arc::new(self.slim(t)));
        }
        let d = digest(token);
        let hit = self.cache.lock().verified.get(&d, now);
        let t = match hit {
            Some(t) => t,
            None => {
                let t = Arc::new(self.slim(self.verify_signed(token)?));
                // Past exp + leeway the time check refuses it anyway; without exp checks, MAX_TTL bounds it.
                let until = match (self.verifier.validate_expiration, t.exp) {
                    (true, Some(exp)) => exp + self.verifier.leeway,
                    _ => f64::INFINITY,
                };
                self.cache.lock().verified.insert(d, t.clone(), until, now);
                t
            }
        };
        self.verifier.check_time(&t, now)?;
        Ok(t)
    }

    /// The claims are already only those `keep` names: the verifier builds no others
    /// ([`Loaded::verify_signed`]); its issuer string is shared ([`crate::verify::IssuerNames`]).
    fn slim(&self, t: Token) -> Token {
        debug_assert!(t.claims.keys().all(|k| self.keep.iter().any(|n| n == k)), "claims beyond keep were built");
        t
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

    fn verify_signed(&self, token: &str) -> Result<Token, Refused> {
        self.with_keys(token, |keys| self.verifier.verify_signed_keeping(token, keys, Some(&self.keep)))
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
