//! Broker-thread state of revocation: the verdict cache (by token digest, never beyond exp), which
//! live session holds which token, and when each is checked next. Pure: it turns answers into
//! decisions (keep, retry, end the session) that the plugin carries out.
use super::{Answer, Verdict};
use crate::cache::Digest;
use crate::plugin::ClientRef;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

/// An inactive verdict is final, but a cache entry never outlives this, whatever the token's exp.
const MAX_INACTIVE_TTL: f64 = 86_400.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// A first check that fails ends the session (fail closed).
    pub deny_on_error: bool,
    /// A failed re-check keeps the last verdict (and retries) instead of applying `deny_on_error`.
    pub keep_on_recheck_failure: bool,
    pub recheck: f64,
    pub retry: f64,
    pub cache_ttl: f64,
    pub cache_max: usize,
}

#[derive(Debug, Clone)]
pub struct Tracked {
    pub client_id: String,
    pub digest: Digest,
    pub token: Arc<str>,
    pub issuer: Option<String>,
    pub exp: Option<f64>,
    /// Whether this token has had an answer (a failed first check is judged by `deny_on_error`).
    pub checked: bool,
    seq: u64,
}

impl Tracked {
    pub fn new(client_id: String, token: Arc<str>, issuer: Option<String>, exp: Option<f64>, checked: bool) -> Self {
        Tracked { client_id, digest: crate::cache::digest(&token), token, issuer, exp, checked, seq: 0 }
    }
}

/// What the plugin must do for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// End the session: the token is inactive.
    Revoked(ClientRef, String),
    /// End the session: the token could not be checked and the policy fails closed.
    Unchecked(ClientRef, String),
}

pub struct Tracker {
    pub policy: Policy,
    cache: HashMap<Digest, (Verdict, f64)>,
    by_client: HashMap<ClientRef, Tracked>,
    by_digest: HashMap<Digest, Vec<ClientRef>>,
    schedule: BinaryHeap<Reverse<(u64, ClientRef, u64)>>,
    seq: u64,
}

fn ms(t: f64) -> u64 {
    (t.max(0.0) * 1000.0) as u64
}

impl Tracker {
    pub fn new(policy: Policy) -> Self {
        Tracker {
            policy,
            cache: HashMap::new(),
            by_client: HashMap::new(),
            by_digest: HashMap::new(),
            schedule: BinaryHeap::new(),
            seq: 0,
        }
    }

    pub fn tracked(&self) -> usize {
        self.by_client.len()
    }

    pub fn cached(&self, d: &Digest, now: f64) -> Option<Verdict> {
        self.cache.get(d).filter(|(_, until)| now < *until).map(|(v, _)| *v)
    }

    /// Remembers an answer: active for at most the cache TTL, inactive for good; both never past exp.
    pub fn remember(&mut self, d: Digest, v: Verdict, exp: Option<f64>, now: f64) {
        let ttl = match v {
            Verdict::Active => self.policy.cache_ttl,
            Verdict::Inactive => MAX_INACTIVE_TTL,
        };
        let until = exp.map_or(now + ttl, |e| e.min(now + ttl));
        if self.policy.cache_max == 0 || until <= now {
            return;
        }
        if self.cache.len() >= self.policy.cache_max {
            self.cache.retain(|_, (_, u)| *u > now);
            if self.cache.len() >= self.policy.cache_max {
                // Full of live entries: forget one rather than grow (it costs one more request).
                if let Some(k) = self.cache.keys().next().copied() {
                    self.cache.remove(&k);
                }
            }
        }
        self.cache.insert(d, (v, until));
    }

    pub fn clear_cache(&mut self) {
        self.cache.clear();
    }

    /// Follows `client`'s token from now on; the next check is due at `next`.
    pub fn track(&mut self, client: ClientRef, t: Tracked, next: f64) {
        self.untrack(client);
        self.by_digest.entry(t.digest).or_default().push(client);
        self.by_client.insert(client, t);
        self.schedule_at(client, next);
    }

    pub fn untrack(&mut self, client: ClientRef) -> Option<Tracked> {
        let t = self.by_client.remove(&client)?;
        if let Some(v) = self.by_digest.get_mut(&t.digest) {
            v.retain(|c| *c != client);
            if v.is_empty() {
                self.by_digest.remove(&t.digest);
            }
        }
        Some(t)
    }

    fn schedule_at(&mut self, client: ClientRef, at: f64) {
        let Some(t) = self.by_client.get_mut(&client) else { return };
        self.seq += 1;
        t.seq = self.seq;
        self.schedule.push(Reverse((ms(at), client, self.seq)));
    }

    /// Sessions whose check is due: one entry per token (the answer serves every session holding
    /// it). Each is rescheduled one interval later, in case its answer is lost (a reload).
    pub fn due(&mut self, now: f64, limit: usize) -> Vec<(Digest, Arc<str>, Option<String>)> {
        let mut out: Vec<(Digest, Arc<str>, Option<String>)> = Vec::new();
        while out.len() < limit {
            match self.schedule.peek() {
                Some(Reverse((t, ..))) if *t <= ms(now) => {}
                _ => break,
            }
            let Some(Reverse((_, client, seq))) = self.schedule.pop() else { break };
            let Some(t) = self.by_client.get(&client).filter(|t| t.seq == seq) else { continue };
            let job = (t.digest, t.token.clone(), t.issuer.clone());
            if !out.iter().any(|(d, ..)| *d == job.0) {
                out.push(job);
            }
            self.schedule_at(client, now + self.policy.recheck);
        }
        if self.schedule.len() > 64 + 4 * self.by_client.len() {
            let live = &self.by_client;
            self.schedule.retain(|Reverse((_, c, s))| live.get(c).is_some_and(|t| t.seq == *s));
        }
        out
    }

    /// Applies an answer to every session holding the token; returns the sessions to end.
    pub fn apply(&mut self, d: Digest, answer: &Answer, now: f64) -> Vec<Action> {
        let clients = self.by_digest.get(&d).cloned().unwrap_or_default();
        if let Ok(v) = answer {
            let exp = clients.iter().find_map(|c| self.by_client.get(c)).and_then(|t| t.exp);
            self.remember(d, *v, exp, now);
        }
        let mut actions = Vec::new();
        for c in clients {
            let Some(t) = self.by_client.get_mut(&c) else { continue };
            let first = !t.checked;
            match answer {
                Ok(Verdict::Active) => {
                    t.checked = true;
                    self.schedule_at(c, now + self.policy.recheck);
                }
                Ok(Verdict::Inactive) => {
                    actions.push(Action::Revoked(c, t.client_id.clone()));
                    self.untrack(c);
                }
                Err(_) => {
                    let p = &self.policy;
                    let keep = !p.deny_on_error || (!first && p.keep_on_recheck_failure);
                    if keep {
                        self.schedule_at(c, now + self.policy.retry);
                    } else {
                        actions.push(Action::Unchecked(c, t.client_id.clone()));
                        self.untrack(c);
                    }
                }
            }
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(deny: bool, keep: bool) -> Policy {
        Policy {
            deny_on_error: deny,
            keep_on_recheck_failure: keep,
            recheck: 10.0,
            retry: 2.0,
            cache_ttl: 60.0,
            cache_max: 100,
        }
    }

    fn tracked(id: &str, token: &str) -> Tracked {
        Tracked::new(id.into(), Arc::from(token), None, Some(1000.0), false)
    }

    #[test]
    fn one_job_per_token_and_inactive_ends_every_holder() {
        let mut t = Tracker::new(policy(true, true));
        t.track(ClientRef(1), tracked("a", "T"), 0.0);
        t.track(ClientRef(2), tracked("b", "T"), 0.0);
        t.track(ClientRef(3), tracked("c", "U"), 5.0);
        let due = t.due(1.0, 100);
        assert_eq!(due.len(), 1);
        let actions = t.apply(due[0].0, &Ok(Verdict::Inactive), 1.0);
        assert_eq!(actions.len(), 2);
        assert_eq!(t.tracked(), 1);
        assert_eq!(t.cached(&due[0].0, 2.0), Some(Verdict::Inactive));
        // Never beyond exp.
        assert_eq!(t.cached(&due[0].0, 1000.0), None);
    }

    #[test]
    fn active_is_cached_for_the_ttl_and_rechecked_each_interval() {
        let mut t = Tracker::new(policy(true, true));
        t.track(ClientRef(1), tracked("a", "T"), 0.0);
        let d = t.due(0.0, 10)[0].0;
        assert!(t.apply(d, &Ok(Verdict::Active), 0.0).is_empty());
        assert_eq!(t.cached(&d, 59.0), Some(Verdict::Active));
        assert_eq!(t.cached(&d, 60.0), None);
        assert!(t.due(9.9, 10).is_empty());
        assert_eq!(t.due(10.0, 10).len(), 1);
    }

    #[test]
    fn failures_follow_the_policy() {
        let err: Answer = Err("down".into());
        // First check, fail closed: ended.
        let mut t = Tracker::new(policy(true, true));
        t.track(ClientRef(1), tracked("a", "T"), 0.0);
        let d = t.due(0.0, 10)[0].0;
        assert_eq!(t.apply(d, &err, 0.0), vec![Action::Unchecked(ClientRef(1), "a".into())]);
        // First check, fail open: retried after the retry interval.
        let mut t = Tracker::new(policy(false, true));
        t.track(ClientRef(1), tracked("a", "T"), 0.0);
        t.due(0.0, 10);
        assert!(t.apply(d, &err, 0.0).is_empty());
        assert!(t.due(1.9, 10).is_empty());
        assert_eq!(t.due(2.0, 10).len(), 1);
        // A re-check that fails keeps the verdict...
        let mut t = Tracker::new(policy(true, true));
        t.track(ClientRef(1), tracked("a", "T"), 0.0);
        t.apply(d, &Ok(Verdict::Active), 0.0);
        assert!(t.apply(d, &err, 10.0).is_empty());
        // ...unless configured not to.
        let mut t = Tracker::new(policy(true, false));
        t.track(ClientRef(1), tracked("a", "T"), 0.0);
        t.apply(d, &Ok(Verdict::Active), 0.0);
        assert_eq!(t.apply(d, &err, 10.0).len(), 1);
    }
}
