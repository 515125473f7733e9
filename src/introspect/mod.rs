//! Revocation as the broker thread sees it: the jobs it hands to the introspection workers
//! (src/net/introspect), the answers it takes back, the verdict cache and the per-session tracker.
//! Pure: no threads, no I/O, no clock.
pub mod tracker;
pub mod verdicts;

use crate::cache::Digest;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Active,
    Inactive,
}

/// Err: no usable answer (connection error, timeout, HTTP error, garbage), described for the log.
pub type Answer = Result<Verdict, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A session's first check: a new client waits for it (fail closed); served before any re-check.
    First,
    /// A live session's periodic re-check: shed first under overload.
    Recheck,
}

pub struct Job {
    pub digest: Digest,
    pub token: Arc<str>,
    /// The token's `iss`, which picks the discovered endpoint when there are several issuers.
    pub issuer: Option<String>,
    /// The token's exp, handed back with the answer: a verdict is cached until then even when no
    /// session holds the token any more.
    pub exp: Option<f64>,
    pub priority: Priority,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Answer(Answer),
    /// A re-check that waited past its deadline: not asked, not a failure; it is tried next round.
    Shed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub digest: Digest,
    pub exp: Option<f64>,
    pub outcome: Outcome,
}

impl Done {
    pub fn failed(digest: Digest, exp: Option<f64>, why: &str) -> Done {
        Done { digest, exp, outcome: Outcome::Answer(Err(why.to_string())) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    Queued,
    /// The same token is already queued or in flight: its answer will serve this one too.
    Coalesced,
    Full,
}
