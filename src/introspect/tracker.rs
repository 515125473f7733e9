//! Broker-thread state of revocation: the verdict cache (by token digest, never beyond exp), which
//! live session holds which token, and when each is checked next. Pure: it turns answers into
//! decisions (keep, retry, end the session) that the plugin carries out.
use super::verdicts::Verdicts;
use super::{Answer, Done, Outcome, Priority, Verdict};
use crate::cache::Digest;
use crate::host::ClientKey;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

/// An inactive verdict of a token without exp is kept this long (with exp: until exp).
const MAX_INACTIVE_TTL: f64 = 86_400.0;
/// Re-checks are spread over the last tenth of the interval, so sessions that connected together
/// drift apart instead of coming due in one burst forever.
const JITTER: f64 = 0.1;
/// After a reload to another endpoint, every session is re-checked within this (or the interval).
const NEW_ENDPOINT_SPREAD: f64 = 10.0;

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

impl Policy {
    /// How late a re-check may run when the budget is spent before it is shed for this round.
    fn tolerance(&self) -> f64 {
        (self.recheck * 0.25).min(5.0)
    }
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
    Revoked(ClientKey, String),
    /// End the session: the token could not be checked and the policy fails closed.
    Unchecked(ClientKey, String),
}

/// A check to submit.
#[derive(Debug, Clone)]
pub struct DueCheck {
    pub digest: Digest,
    pub token: Arc<str>,
    pub issuer: Option<String>,
    pub exp: Option<f64>,
    pub priority: Priority,
}

#[derive(Debug, Default)]
pub struct DueChecks {
    pub checks: Vec<DueCheck>,
    /// Re-checks skipped this round (over the budget for longer than the tolerance).
    pub shed: usize,
}

pub struct Tracker {
    pub policy: Policy,
    verdicts: Verdicts,
    by_client: HashMap<ClientKey, Tracked>,
    by_digest: HashMap<Digest, Vec<ClientKey>>,
    schedule: BinaryHeap<Reverse<(u64, ClientKey, u64)>>,
    seq: u64,
    rng: u64,
}

fn ms(t: f64) -> u64 {
    (t.max(0.0) * 1000.0) as u64
}

impl Tracker {
    pub fn new(policy: Policy) -> Self {
        Tracker {
            policy,
            verdicts: Verdicts::new(policy.cache_max),
            by_client: HashMap::new(),
            by_digest: HashMap::new(),
            schedule: BinaryHeap::new(),
            seq: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    pub fn tracked(&self) -> usize {
        self.by_client.len()
    }

    pub fn cached_entries(&self) -> usize {
        self.verdicts.len()
    }

    /// Schedule entries, live or stale (for the memory bound).
    pub fn scheduled(&self) -> usize {
        self.schedule.len() + self.verdicts.scheduled()
    }

    pub fn cached(&self, d: &Digest, now: f64) -> Option<Verdict> {
        self.verdicts.get(d, now)
    }

    /// Whether `client` is followed with this token (a reload's re-check of an unchanged session).
    pub fn follows(&self, client: ClientKey, d: &Digest) -> bool {
        self.by_client.get(&client).is_some_and(|t| t.digest == *d)
    }

    /// Remembers an answer: active for at most the cache TTL, inactive until exp; never past exp.
    pub fn remember(&mut self, d: Digest, v: Verdict, exp: Option<f64>, now: f64) {
        let until = match v {
            Verdict::Active => exp.map_or(now + self.policy.cache_ttl, |e| e.min(now + self.policy.cache_ttl)),
            Verdict::Inactive => exp.unwrap_or(now + MAX_INACTIVE_TTL),
        };
        self.verdicts.insert(d, v, until, now);
    }

    /// Drops expired verdicts (amortized O(1) per entry).
    pub fn expire(&mut self, now: f64) {
        self.verdicts.expire(now);
    }

    /// A reload kept the endpoint and credentials: the verdicts stand, under the new bounds. Checks
    /// in flight went with the old workers: sessions still waiting for a first answer are due now.
    pub fn retune(&mut self, policy: Policy, now: f64) {
        let interval_changed = policy.recheck != self.policy.recheck;
        self.policy = policy;
        self.verdicts.retune(policy.cache_max, policy.cache_ttl, now);
        let clients: Vec<(ClientKey, bool)> = self.by_client.iter().map(|(c, t)| (*c, t.checked)).collect();
        for (c, checked) in clients {
            if !checked {
                self.schedule_at(c, now);
            } else if interval_changed {
                let at = now + self.jitter() * policy.recheck / JITTER;
                self.schedule_at(c, at);
            }
        }
    }

    /// A reload changed the endpoint or credentials: the old verdicts go. Sessions stay checked, so
    /// the new endpoint's answers are re-checks (keepVerdictOnRecheckFailure applies), spread over a
    /// few seconds.
    pub fn new_endpoint(&mut self, policy: Policy, now: f64) {
        self.policy = policy;
        self.verdicts = Verdicts::new(policy.cache_max);
        let spread = policy.recheck.min(NEW_ENDPOINT_SPREAD);
        let clients: Vec<(ClientKey, bool)> = self.by_client.iter().map(|(c, t)| (*c, t.checked)).collect();
        for (c, checked) in clients {
            let at = if checked { now + self.jitter() * spread / JITTER } else { now };
            self.schedule_at(c, at);
        }
    }

    /// Follows `client`'s token from now on; the next check is due at `next`.
    pub fn track(&mut self, client: ClientKey, t: Tracked, next: f64) {
        self.untrack(client);
        self.by_digest.entry(t.digest).or_default().push(client);
        self.by_client.insert(client, t);
        self.schedule_at(client, next);
    }

    /// The next re-check of a session whose token has just been answered.
    pub fn next_recheck(&mut self, now: f64) -> f64 {
        now + self.policy.recheck * (1.0 - self.jitter())
    }

    pub fn untrack(&mut self, client: ClientKey) -> Option<Tracked> {
        let t = self.by_client.remove(&client)?;
        if let Some(v) = self.by_digest.get_mut(&t.digest) {
            v.retain(|c| *c != client);
            if v.is_empty() {
                self.by_digest.remove(&t.digest);
            }
        }
        Some(t)
    }

    /// Uniform in [0, JITTER): xorshift, deterministic so that tests are.
    fn jitter(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64 * JITTER
    }

    fn schedule_at(&mut self, client: ClientKey, at: f64) {
        let Some(t) = self.by_client.get_mut(&client) else { return };
        self.seq += 1;
        t.seq = self.seq;
        self.schedule.push(Reverse((ms(at), client, self.seq)));
    }

    /// Checks that are due: one per token (the answer serves every session holding it). First
    /// checks always go; at most `budget` re-checks go, and a re-check that stays over the budget
    /// for longer than the tolerance is shed for this round. Everything taken is rescheduled one
    /// interval later, in case its answer is lost (a reload).
    pub fn due(&mut self, now: f64, limit: usize, mut budget: usize) -> DueChecks {
        let mut out = DueChecks::default();
        let mut seen: HashSet<Digest> = HashSet::new();
        let shed_before = ms(now - self.policy.tolerance());
        // Shed and stale entries cost a pop each: bounded too, the rest waits for the next pass.
        for _ in 0..limit.saturating_mul(4) {
            if out.checks.len() >= limit {
                break;
            }
            let Some(Reverse((at, client, seq))) = self.schedule.peek().copied() else { break };
            if at > ms(now) {
                break;
            }
            let Some(t) = self.by_client.get(&client).filter(|t| t.seq == seq) else {
                self.schedule.pop();
                continue;
            };
            let priority = if t.checked { Priority::Recheck } else { Priority::First };
            let fresh = !seen.contains(&t.digest);
            if priority == Priority::Recheck && fresh && budget == 0 {
                if at > shed_before {
                    // Within the tolerance: it waits for budget (and so does everything due later).
                    break;
                }
                self.schedule.pop();
                out.shed += 1;
                let next = self.next_recheck(now);
                self.schedule_at(client, next);
                continue;
            }
            self.schedule.pop();
            if fresh {
                seen.insert(t.digest);
                if priority == Priority::Recheck {
                    budget -= 1;
                }
                out.checks.push(DueCheck {
                    digest: t.digest,
                    token: t.token.clone(),
                    issuer: t.issuer.clone(),
                    exp: t.exp,
                    priority,
                });
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
    pub fn apply(&mut self, done: &Done, now: f64) -> Vec<Action> {
        let d = done.digest;
        let clients = self.by_digest.get(&d).cloned().unwrap_or_default();
        let answer: &Answer = match &done.outcome {
            Outcome::Answer(a) => a,
            Outcome::Shed => {
                for c in clients {
                    let next = self.next_recheck(now);
                    self.schedule_at(c, next);
                }
                return Vec::new();
            }
        };
        if let Ok(v) = answer {
            let exp = done.exp.or_else(|| clients.iter().find_map(|c| self.by_client.get(c)).and_then(|t| t.exp));
            self.remember(d, *v, exp, now);
        }
        let mut actions = Vec::new();
        for c in clients {
            let Some(t) = self.by_client.get_mut(&c) else { continue };
            let first = !t.checked;
            match answer {
                Ok(Verdict::Active) => {
                    t.checked = true;
                    let next = self.next_recheck(now);
                    self.schedule_at(c, next);
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
#[path = "tracker_tests.rs"]
mod tests;
