//! What the plugin remembers of logouts: the `jti`s already used (replay), and for
//! `rememberSeconds` the logouts themselves, so that a CONNECT or refresh with a token issued
//! before one is refused. Both bounded: entries expire, and at the cap the oldest goes first
//! (counted: a forgotten logout lets its older tokens back in until they expire).
use super::Logout;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// A map whose entries expire; insertion order is expiry order when every entry lives equally long,
/// so expiry and eviction pop from the front in O(1) amortized.
pub struct Expiring<K, V> {
    map: HashMap<K, (V, f64)>,
    /// (until, key); a key inserted again leaves a stale item behind, skipped when popped.
    pub(super) order: VecDeque<(f64, K)>,
    cap: usize,
}

impl<K: Hash + Eq + Clone, V> Expiring<K, V> {
    pub fn new(cap: usize) -> Self {
        Expiring { map: HashMap::new(), order: VecDeque::new(), cap: cap.max(1) }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, k: &K, now: f64) -> Option<&V> {
        self.map.get(k).filter(|(_, until)| *until > now).map(|(v, _)| v)
    }

    /// Inserts or replaces; returns how many live entries the cap pushed out.
    pub fn insert(&mut self, k: K, v: V, until: f64, now: f64) -> usize {
        self.expire(now);
        let mut evicted = 0;
        while !self.map.contains_key(&k) && self.map.len() >= self.cap {
            let Some((t, old)) = self.order.pop_front() else { break };
            if self.map.get(&old).is_some_and(|(_, u)| *u == t) {
                self.map.remove(&old);
                evicted += 1;
            }
        }
        self.map.insert(k.clone(), (v, until));
        self.order.push_back((until, k));
        // Stale items of re-inserted keys must not pile up.
        if self.order.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.order.retain(|(t, k)| map.get(k).is_some_and(|(_, u)| u == t));
        }
        evicted
    }

    fn expire(&mut self, now: f64) {
        while let Some((t, k)) = self.order.front() {
            if *t > now {
                break;
            }
            if self.map.get(k).is_some_and(|(_, u)| u == t) {
                self.map.remove(k);
            }
            self.order.pop_front();
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// (iss, sub) of a logout by subject: every token of it.
    Sub(String, String),
    /// (iss, sub) of a logout of one provider session: tokens of the subject that carry no `sid`.
    SubWithoutSid(String, String),
    /// (iss, sid)
    Sid(String, String),
}

pub const REMEMBER_CAP: usize = 100_000;
pub const JTI_CAP: usize = 100_000;

pub struct Memory {
    /// The latest logout per subject and per provider session.
    logouts: Expiring<Key, Logout>,
    /// (iss, jti) of the logout tokens accepted, until their `iat` is too old to pass anyway.
    jtis: Expiring<(String, String), ()>,
}

impl Default for Memory {
    fn default() -> Self {
        Memory::with_caps(REMEMBER_CAP, JTI_CAP)
    }
}

impl Memory {
    pub fn with_caps(logouts: usize, jtis: usize) -> Self {
        Memory { logouts: Expiring::new(logouts), jtis: Expiring::new(jtis) }
    }

    /// Records the `jti` of a verified logout; false if it was used before (a replay).
    /// `until`: when its `iat` becomes too old for the token to verify at all. The second value is
    /// how many other `jti`s the cap pushed out.
    pub fn first_use(&mut self, l: &Logout, until: f64, now: f64) -> (bool, usize) {
        let k = (l.iss.clone(), l.jti.clone());
        if self.jtis.get(&k, now).is_some() {
            return (false, 0);
        }
        (true, self.jtis.insert(k, (), until, now))
    }

    /// Remembers a logout until `until`; returns how many remembered logouts the cap pushed out.
    pub fn remember(&mut self, l: &Logout, until: f64, now: f64) -> usize {
        let mut evicted = 0;
        let iss = || l.iss.clone();
        let keys = [
            l.sub.as_ref().filter(|_| l.sid.is_none()).map(|s| Key::Sub(iss(), s.clone())),
            l.sub.as_ref().filter(|_| l.sid.is_some()).map(|s| Key::SubWithoutSid(iss(), s.clone())),
            l.sid.as_ref().map(|s| Key::Sid(iss(), s.clone())),
        ];
        for k in keys.into_iter().flatten() {
            // Each key keeps the latest logout (they arrive in any order); all under one key have
            // the same shape, so the latest covers everything an earlier one did.
            if self.logouts.get(&k, now).is_some_and(|old| old.iat >= l.iat) {
                continue;
            }
            evicted += self.logouts.insert(k, l.clone(), until, now);
        }
        evicted
    }

    /// The logout that refuses a token with these claims, if any.
    pub fn refusing(
        &self,
        iss: Option<&str>,
        sub: Option<&str>,
        sid: Option<&str>,
        iat: Option<f64>,
        now: f64,
    ) -> Option<&Logout> {
        let iss = iss?;
        let by_sub = sub.and_then(|s| self.logouts.get(&Key::Sub(iss.into(), s.into()), now));
        let by_sub_only = sub.filter(|_| sid.is_none());
        let by_sub_only = by_sub_only.and_then(|s| self.logouts.get(&Key::SubWithoutSid(iss.into(), s.into()), now));
        let by_sid = sid.and_then(|s| self.logouts.get(&Key::Sid(iss.into(), s.into()), now));
        [by_sub, by_sub_only, by_sid].into_iter().flatten().find(|l| l.covers(Some(iss), sub, sid, iat))
    }

    pub fn remembered(&self) -> usize {
        self.logouts.len()
    }
}
