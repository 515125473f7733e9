//! CONNECTs answered "later" (mosquitto 2.1's MOSQ_ERR_AUTH_DELAYED) while the revocation endpoint
//! is asked: a pure structure, bounded in count, each entry with a deadline. No I/O, no clock.
//!
//! Keyed by client id, because that is all `mosquitto_complete_basic_auth` takes and because the
//! broker keeps at most one delayed CONNECT per id (2.1.2 handle_connect.c refuses a second CONNECT
//! with the id of a delayed one before any plugin sees it). A client that goes away while delayed
//! raises no event at all (context__disconnect returns early for it), so an insert for an id already
//! here means the older entry's connection is gone: it is replaced, never completed.
use crate::cache::Digest;
use crate::host::ClientKey;
use crate::net::exchange::Exchanged;
use crate::refusal::{Reason, Refused};
use crate::session::Session;
use std::collections::HashMap;

/// How a waiting CONNECT is to be answered.
#[derive(Debug, Clone)]
pub enum Settled {
    /// Open the session (`checked`: the endpoint said active, so it needs no first check).
    Accept {
        checked: bool,
    },
    Refuse(Refused),
    /// The token endpoint's answer (or the failure) for an exchange.
    Exchanged(Result<Exchanged, Refused>),
}

/// What a CONNECT waits for.
#[derive(Debug)]
pub enum Work {
    /// Every check passed but the revocation answer for this token. `rename_after`: a username to
    /// set once the broker has accepted the client (a CONNECT that waited for an exchange first,
    /// whose pointer could not be used before).
    Revocation { digest: Digest, session: Box<Session>, rename_after: Option<String> },
    /// The credentials are at the token endpoint (a thread); its answer comes with this ticket.
    /// Kept in memory only, for the exchange cache's key.
    Exchange { ticket: u64, username: String, password: String },
}

#[derive(Debug)]
pub struct Entry {
    /// Only compared with what the broker reports after completing, never dereferenced: the
    /// connection may have gone (and its memory be reused) while it waited.
    pub client: ClientKey,
    pub client_id: String,
    pub address: String,
    pub work: Work,
    pub deadline: f64,
    /// What the deadline means for a revocation answer: refused (onError deny) or accepted
    /// unchecked (allow). An exchange is always refused.
    pub deny_on_timeout: bool,
    pub settled: Option<Settled>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Full;

pub struct Waiting {
    by_id: HashMap<String, Entry>,
    max: usize,
}

/// Default bound: beyond it a CONNECT gets the onError answer at once.
pub const MAX_WAITING: usize = 1024;

impl Default for Waiting {
    fn default() -> Self {
        Waiting::new(MAX_WAITING)
    }
}

impl Waiting {
    pub fn new(max: usize) -> Waiting {
        Waiting { by_id: HashMap::new(), max }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// No room for another id.
    pub fn is_full(&self) -> bool {
        self.by_id.len() >= self.max
    }

    /// Adds an entry; Err(Full) when there is no room. An entry of the same id is replaced (its
    /// connection is gone, see the module doc) and returned.
    pub fn insert(&mut self, e: Entry) -> Result<Option<Entry>, Full> {
        if !self.by_id.contains_key(&e.client_id) && self.is_full() {
            return Err(Full);
        }
        Ok(self.by_id.insert(e.client_id.clone(), e))
    }

    /// The revocation answer for a token: every entry waiting on it that is not settled yet.
    pub fn resolve(&mut self, digest: &Digest, how: &Settled) -> usize {
        let mut n = 0;
        let waits = |e: &Entry| matches!(&e.work, Work::Revocation { digest: d, .. } if d == digest);
        for e in self.by_id.values_mut().filter(|e| waits(e) && e.settled.is_none()) {
            e.settled = Some(how.clone());
            n += 1;
        }
        n
    }

    /// The token endpoint's answer for `ticket`; false when its CONNECT is no longer waiting.
    pub fn exchanged(&mut self, ticket: u64, answer: Result<Exchanged, Refused>) -> bool {
        let t = ticket;
        let e = self.by_id.values_mut().find(|e| matches!(e.work, Work::Exchange { ticket, .. } if ticket == t));
        match e {
            Some(e) if e.settled.is_none() => {
                e.settled = Some(Settled::Exchanged(answer));
                true
            }
            _ => false,
        }
    }

    /// Exchanges waiting for the token endpoint.
    #[cfg(test)]
    pub fn exchanges(&self) -> usize {
        self.by_id.values().filter(|e| matches!(e.work, Work::Exchange { .. })).count()
    }

    /// Entries answered, and those past their deadline (settled by their onError answer), removed.
    /// At most `limit` per call.
    pub fn take_ready(&mut self, now: f64, limit: usize) -> Vec<Entry> {
        let ids: Vec<String> = self
            .by_id
            .values()
            .filter(|e| e.settled.is_some() || now >= e.deadline)
            .take(limit)
            .map(|e| e.client_id.clone())
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(mut e) = self.by_id.remove(&id) else { continue };
            if e.settled.is_none() {
                e.settled = Some(match e.work {
                    Work::Exchange { .. } => Settled::Refuse(Refused::new(
                        Reason::ExchangeFailed,
                        "no answer from the token endpoint in time",
                    )),
                    Work::Revocation { .. } if e.deny_on_timeout => Settled::Refuse(Refused::new(
                        Reason::RevocationUnchecked,
                        "no answer from the revocation endpoint in time",
                    )),
                    Work::Revocation { .. } => Settled::Accept { checked: false },
                });
            }
            out.push(e);
        }
        out
    }

    /// The soonest deadline.
    #[cfg(test)]
    pub fn next_deadline(&self) -> Option<f64> {
        self.by_id.values().map(|e| e.deadline).min_by(f64::total_cmp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Token;
    use std::sync::Arc;

    fn token(sub: &str) -> Token {
        Token {
            sub: Some(sub.into()),
            iss: None,
            exp: crate::token::Time::NONE,
            nbf: crate::token::Time::NONE,
            iat: crate::token::Time::NONE,
            claims: Default::default(),
        }
    }

    fn entry(n: usize, id: &str, digest: u8, deadline: f64, deny: bool) -> Entry {
        Entry {
            client: ClientKey::test(n),
            client_id: id.into(),
            address: "127.0.0.1".into(),
            work: Work::Revocation {
                digest: [digest; 32],
                session: Box::new(Session::new(id.into(), Arc::new(token(id)), None, Some("t".into()))),
                rename_after: None,
            },
            deadline,
            deny_on_timeout: deny,
            settled: None,
        }
    }

    #[test]
    fn bounded_in_count() {
        let mut w = Waiting::new(2);
        assert!(w.insert(entry(1, "a", 1, 10.0, true)).unwrap().is_none());
        assert!(w.insert(entry(2, "b", 2, 10.0, true)).unwrap().is_none());
        assert!(w.is_full());
        assert_eq!(w.insert(entry(3, "c", 3, 10.0, true)).unwrap_err(), Full);
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn the_same_id_replaces_the_gone_connection_even_when_full() {
        let mut w = Waiting::new(1);
        w.insert(entry(1, "x", 1, 10.0, true)).unwrap();
        let old = w.insert(entry(2, "x", 2, 10.0, true)).unwrap().expect("replaced");
        assert_eq!(old.client, ClientKey::test(1));
        assert_eq!(w.len(), 1);
        // The old connection's token answer no longer settles anything.
        assert_eq!(w.resolve(&[1; 32], &Settled::Accept { checked: true }), 0);
        assert!(w.take_ready(5.0, 10).is_empty());
    }

    #[test]
    fn an_answer_settles_every_connect_waiting_on_that_token_only() {
        let mut w = Waiting::default();
        w.insert(entry(1, "a", 7, 10.0, true)).unwrap();
        w.insert(entry(2, "b", 7, 10.0, true)).unwrap();
        w.insert(entry(3, "c", 8, 10.0, true)).unwrap();
        let no = Settled::Refuse(Refused::new(Reason::Revoked, "no"));
        assert_eq!(w.resolve(&[7; 32], &no), 2);
        let mut ready: Vec<_> = w.take_ready(5.0, 10).into_iter().map(|e| e.client_id).collect();
        ready.sort();
        assert_eq!(ready, ["a", "b"]);
        assert_eq!(w.len(), 1);
        // A later answer does not overturn a settled one (the first one stands).
        w.insert(entry(4, "d", 9, 10.0, true)).unwrap();
        w.resolve(&[9; 32], &Settled::Accept { checked: true });
        w.resolve(&[9; 32], &no);
        let d = w.take_ready(5.0, 10).pop().unwrap();
        assert!(matches!(d.settled, Some(Settled::Accept { checked: true })));
    }

    #[test]
    fn past_the_deadline_the_on_error_answer_applies() {
        let mut w = Waiting::default();
        w.insert(entry(1, "deny", 1, 10.0, true)).unwrap();
        w.insert(entry(2, "allow", 2, 10.0, false)).unwrap();
        assert_eq!(w.next_deadline(), Some(10.0));
        assert!(w.take_ready(9.99, 10).is_empty(), "not yet");
        let mut ready = w.take_ready(10.0, 10);
        ready.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        assert!(matches!(ready[0].settled, Some(Settled::Accept { checked: false })));
        match &ready[1].settled {
            Some(Settled::Refuse(r)) => assert_eq!(r.reason, Reason::RevocationUnchecked),
            other => panic!("{other:?}"),
        }
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn an_exchange_is_settled_by_its_ticket_and_refused_past_its_deadline() {
        let mut w = Waiting::default();
        let ex = |n: usize, id: &str, ticket: u64| Entry {
            client: ClientKey::test(n),
            client_id: id.into(),
            address: "-".into(),
            work: Work::Exchange { ticket, username: "u".into(), password: "p".into() },
            deadline: 10.0,
            deny_on_timeout: false,
            settled: None,
        };
        w.insert(ex(1, "a", 1)).unwrap();
        w.insert(ex(2, "b", 2)).unwrap();
        assert_eq!(w.exchanges(), 2);
        // A revocation answer never settles an exchange.
        assert_eq!(w.resolve(&[1; 32], &Settled::Accept { checked: true }), 0);
        assert!(w.exchanged(1, Err(Refused::new(Reason::CredentialsRefused, "no"))));
        assert!(!w.exchanged(9, Err(Refused::new(Reason::CredentialsRefused, "no"))), "unknown ticket");
        let a = w.take_ready(5.0, 10);
        assert_eq!(a.len(), 1);
        assert!(matches!(&a[0].settled, Some(Settled::Exchanged(Err(_)))));
        // Past the deadline an exchange is refused whatever onError says.
        let b = w.take_ready(10.0, 10).pop().unwrap();
        match b.settled {
            Some(Settled::Refuse(r)) => assert_eq!(r.reason, Reason::ExchangeFailed),
            other => panic!("{other:?}"),
        }
        assert!(!w.exchanged(2, Err(Refused::new(Reason::CredentialsRefused, "late"))), "gone already");
    }

    #[test]
    fn take_ready_is_bounded_per_call() {
        let mut w = Waiting::default();
        for i in 0..5 {
            w.insert(entry(i, &format!("c{i}"), 1, 1.0, true)).unwrap();
        }
        assert_eq!(w.take_ready(2.0, 3).len(), 3);
        assert_eq!(w.take_ready(2.0, 3).len(), 2);
    }
}
