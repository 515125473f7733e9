//! Bounded cache of tokens whose signature already verified, keyed by the token's SHA-256, so a
//! reconnect storm costs a hash instead of a signature check. Time claims are re-checked on every use.
use crate::acl::Granted;
use crate::hashers::DigestKeyed;
use crate::token::Token;
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

/// The map's key: the digest's first 128 bits, half the slot's key bytes (a slot per entry and
/// up to twice as many: ≈ 28 bytes a session). A hit hands out a verified token's claims, so what
/// matters is that nobody can make another token hit an entry: that is a preimage of 128 bits
/// (2^128 / entries tries), not a collision: a token that collides with one the identity provider
/// signed only stands for that one, whose claims the entry holds.
type Key = [u8; 16];

fn key(d: &Digest) -> Key {
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

/// What a hit gives: the token, and the permissions last compiled from it, if any.
pub type Hit = (Arc<Token>, Option<Granted>);

/// Until when, the token, and the permissions compiled from it.
type Entry = (f64, Arc<Token>, Option<Granted>);

pub struct VerifiedCache {
    max: usize,
    /// Until when, the token, and the permissions last compiled from it (then that token no longer
    /// holds the claims only authorization reads). One map: a second one for the permissions would
    /// cost a key and a slot per entry, the pointer here costs 8 bytes.
    map: HashMap<Key, Entry, DigestKeyed>,
    next_purge: f64,
    /// Walks over every entry so far (purges and evictions): bounded per insert on average.
    walks: u64,
}

impl VerifiedCache {
    pub fn new(max: usize) -> Self {
        VerifiedCache { max, map: HashMap::default(), next_purge: 0.0, walks: 0 }
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

    pub fn walks(&self) -> u64 {
        self.walks
    }

    pub fn get(&self, d: &Digest, now: f64) -> Option<Hit> {
        match self.map.get(&key(d)) {
            Some((until, t, g)) if now < *until => Some((t.clone(), g.clone())),
            _ => None,
        }
    }

    /// Remembers the permissions compiled from the entry's token, and the token without the claims
    /// they were compiled from. Nothing when the entry is gone (evicted, or the keys changed).
    pub fn granted(&mut self, d: &Digest, token: Arc<Token>, granted: Granted) {
        if let Some((_, t, g)) = self.map.get_mut(&key(d)) {
            *t = token;
            *g = Some(granted);
        }
    }

    /// Remembers `token` until `until` (seconds since the epoch), at most [`MAX_TTL`] from now.
    pub fn insert(&mut self, d: Digest, token: Arc<Token>, until: f64, now: f64) {
        if !self.enabled() {
            return;
        }
        if now >= self.next_purge {
            self.purge(now);
        }
        if self.map.len() >= self.max {
            // Full of live entries (purged at most once a minute): make room for a quarter of the
            // bound at once, so that walking the whole map happens once per max/4 inserts, not on
            // every CONNECT of a broker with more sessions than entries.
            self.purge(now);
            self.walks += 1;
            let mut surplus = (self.map.len() + 1).saturating_sub(self.max - self.max / 4);
            self.map.retain(|_, _| {
                let keep = surplus == 0;
                surplus = surplus.saturating_sub(1);
                keep
            });
        }
        // Inserted with its claims: no permissions compiled from it yet.
        self.map.insert(key(&d), (until.min(now + MAX_TTL), token, None));
    }

    /// Forgets everything: the keys changed, and a removed key must stop vouching for its tokens.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Drops expired entries; runs at most once a minute from `insert`, or when full.
    pub fn purge(&mut self, now: f64) {
        self.map.retain(|_, (until, _, _)| now < *until);
        self.next_purge = now + 60.0;
        self.walks += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(exp: Option<f64>) -> Arc<Token> {
        Arc::new(Token {
            sub: Some("s".into()),
            iss: None,
            exp: exp.into(),
            nbf: crate::token::Time::NONE,
            iat: crate::token::Time::NONE,
            claims: Default::default(),
        })
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
        assert!(c.get(&digest("9"), 11.0).is_some(), "the newest entry stays");
        c.purge(2000.0);
        assert!(c.is_empty());
    }

    #[test]
    fn a_full_cache_walks_its_entries_once_per_quarter_of_its_bound() {
        let mut c = VerifiedCache::new(1000);
        for i in 0..10_000 {
            c.insert(digest(&i.to_string()), tok(None), 1e9, 10.0);
            assert!(c.len() <= 1000);
        }
        // 9,000 inserts into a full cache: a walk (purge + eviction: 3) per 250 of them, and the
        // first insert's purge.
        assert!(c.walks() <= 3 * (9_000 / 250 + 1) + 1, "{} walks", c.walks());
        assert!(c.len() >= 750);
    }

    #[test]
    fn disabled_cache_stores_nothing() {
        let mut c = VerifiedCache::new(0);
        c.insert(digest("a"), tok(None), 100.0, 0.0);
        assert!(c.get(&digest("a"), 1.0).is_none());
    }

    /// A grant lives in its entry (the token it holds was compiled from) and leaves with it,
    /// through eviction, purge and clear; a hit gives the grant of its own entry.
    #[test]
    fn grants_leave_with_their_entries() {
        let granted = Granted::empty_for;
        let mut c = VerifiedCache::new(8);
        for i in 0..50 {
            let d = digest(&i.to_string());
            c.insert(d, tok(Some(1000.0)), 1000.0 + i as f64, 10.0);
            assert!(c.get(&d, 11.0).expect("hit").1.is_none(), "nothing compiled yet");
            c.granted(&d, tok(Some(1000.0)), granted(&i.to_string()));
            let (_, g) = c.get(&d, 11.0).expect("hit");
            assert_eq!(g.expect("its grant").client_id(), Some(&*i.to_string()));
        }
        c.purge(1045.5);
        for i in 0..50 {
            if let Some((_, g)) = c.get(&digest(&i.to_string()), 11.0) {
                assert!(i >= 46, "entry {i} outlived its time");
                assert_eq!(g.expect("its grant").client_id(), Some(&*i.to_string()), "after the purge");
            }
        }
        c.granted(&digest("gone"), tok(None), granted("x"));
        assert!(c.get(&digest("gone"), 11.0).is_none(), "no grant without an entry");
        c.clear();
        assert!(c.is_empty());
    }
}
