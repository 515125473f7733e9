//! Bounded cache of tokens whose signature already verified, keyed by the token's SHA-256, so a
//! reconnect storm costs a hash instead of a signature check. Time claims are re-checked on every use.
use crate::verify::Token;
use std::collections::HashMap;
use std::sync::Arc;

/// An entry never stays longer than this, whatever its token says.
pub const MAX_TTL: f64 = 3600.0;

pub type Digest = [u8; 32];

pub fn digest(token: &str) -> Digest {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

pub struct VerifiedCache {
    max: usize,
    map: HashMap<Digest, (f64, Arc<Token>)>,
    next_purge: f64,
}

impl VerifiedCache {
    pub fn new(max: usize) -> Self {
        VerifiedCache { max, map: HashMap::new(), next_purge: 0.0 }
    }

    pub fn enabled(&self) -> bool {
        self.max > 0
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, d: &Digest, now: f64) -> Option<Arc<Token>> {
        match self.map.get(d) {
            Some((until, t)) if now < *until => Some(t.clone()),
            _ => None,
        }
    }

    /// Remembers `token` until `until` (seconds since the epoch), at most [`MAX_TTL`] from now.
    pub fn insert(&mut self, d: Digest, token: Arc<Token>, until: f64, now: f64) {
        if !self.enabled() {
            return;
        }
        if now >= self.next_purge || self.map.len() >= self.max {
            self.purge(now);
        }
        if self.map.len() >= self.max {
            // Full of live entries: drop an arbitrary one rather than grow or refuse to cache.
            if let Some(k) = self.map.keys().next().copied() {
                self.map.remove(&k);
            }
        }
        self.map.insert(d, (until.min(now + MAX_TTL), token));
    }

    /// Forgets everything: the keys changed, and a removed key must stop vouching for its tokens.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Drops expired entries; runs at most once a minute from `insert`, or when full.
    pub fn purge(&mut self, now: f64) {
        self.map.retain(|_, (until, _)| now < *until);
        self.next_purge = now + 60.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(exp: Option<f64>) -> Arc<Token> {
        Arc::new(Token { sub: Some("s".into()), exp, nbf: None, iat: None, claims: Default::default() })
    }

    #[test]
    fn entries_leave_at_exp_and_size_is_bounded() {
        let mut c = VerifiedCache::new(3);
        c.insert(digest("a"), tok(Some(100.0)), 100.0, 10.0);
        assert!(c.get(&digest("a"), 99.0).is_some());
        assert!(c.get(&digest("a"), 100.0).is_none());
        for i in 0..10 {
            c.insert(digest(&i.to_string()), tok(Some(1000.0)), 1000.0, 10.0);
        }
        assert!(c.len() <= 3);
        c.purge(2000.0);
        assert!(c.is_empty());
    }

    #[test]
    fn disabled_cache_stores_nothing() {
        let mut c = VerifiedCache::new(0);
        c.insert(digest("a"), tok(None), 100.0, 0.0);
        assert!(c.get(&digest("a"), 1.0).is_none());
    }
}
