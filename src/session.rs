//! Per-connection state decided at authentication, and the schedule of what happens before and at
//! the token's expiry. Pure: the plugin turns due events into kicks and messages on the broker thread.
use crate::acl::Permissions;
use crate::plugin::ClientRef;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub client_id: String,
    pub subject: Option<String>,
    /// The username the plugin bound the connection to, if any.
    pub username: Option<String>,
    /// The token currently in force (the CONNECT one, or the last in-band refresh): a reload re-checks it.
    pub token: String,
    pub exp: Option<f64>,
    pub refreshed: bool,
    /// Set once a kick has been requested or a refresh refused: ACL checks deny from then on.
    pub ending: bool,
    /// Compiled at authentication when `options.authorization` is configured.
    pub permissions: Option<Arc<Permissions>>,
    /// When ACL checks start to deny because the token expired (kickExpiredClients).
    pub deny_from: Option<f64>,
    /// The token's `iss` (picks the discovered revocation endpoint among several issuers).
    pub issuer: Option<String>,
    /// Why a revoked session ends, for the log line of its kick.
    pub end_reason: Option<&'static str>,
    generation: u64,
}

impl Session {
    pub fn new(
        client_id: String,
        subject: Option<String>,
        username: Option<String>,
        token: String,
        exp: Option<f64>,
    ) -> Self {
        Session {
            client_id,
            subject,
            username,
            token,
            exp,
            refreshed: false,
            ending: false,
            permissions: None,
            deny_from: None,
            issuer: None,
            end_reason: None,
            generation: 0,
        }
    }

    pub fn expired(&self, now: f64) -> bool {
        self.exp.is_some_and(|e| now >= e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventKind {
    /// A refresh was refused: disconnect as soon as possible.
    Revoked,
    /// Tell the client its token is about to expire (once per token).
    Notice,
    Expiry,
}

/// Something due for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub kind: EventKind,
    pub client: ClientRef,
    pub client_id: String,
}

#[derive(Default)]
pub struct Sessions {
    by_client: HashMap<ClientRef, Session>,
    by_id: HashMap<String, ClientRef>,
    /// (due time in ms since the epoch, kind, client, generation): entries of replaced or closed
    /// sessions are skipped when popped, so nothing is ever removed from the middle.
    schedule: BinaryHeap<Reverse<(u64, EventKind, ClientRef, u64)>>,
    next_generation: u64,
}

fn ms(t: f64) -> u64 {
    (t.max(0.0) * 1000.0) as u64
}

impl Sessions {
    pub fn len(&self) -> usize {
        self.by_client.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_client.is_empty()
    }

    pub fn get(&self, c: ClientRef) -> Option<&Session> {
        self.by_client.get(&c)
    }

    pub fn get_mut(&mut self, c: ClientRef) -> Option<&mut Session> {
        self.by_client.get_mut(&c)
    }

    /// Opens (or replaces) the session of `c`. `notice_before` schedules an expiry notice that many
    /// seconds before exp; `kick` schedules the expiry itself.
    pub fn open(&mut self, c: ClientRef, mut s: Session, notice_before: Option<f64>, kick: bool) {
        self.close(c);
        // A client id belongs to one connection: a stale entry (missed disconnect) must not be kicked
        // in the name of the new one.
        if let Some(old) = self.by_id.insert(s.client_id.clone(), c) {
            self.by_client.remove(&old);
        }
        self.next_generation += 1;
        s.generation = self.next_generation;
        s.deny_from = if kick { s.exp } else { None };
        if let Some(exp) = s.exp {
            if kick {
                self.schedule.push(Reverse((ms(exp), EventKind::Expiry, c, s.generation)));
            }
            if let Some(before) = notice_before {
                self.schedule.push(Reverse((ms(exp - before), EventKind::Notice, c, s.generation)));
            }
        }
        self.by_client.insert(c, s);
    }

    /// Ends a session: ACL checks deny from now on, the kick is due at `at`.
    pub fn revoke(&mut self, c: ClientRef, at: f64) {
        if let Some(s) = self.by_client.get_mut(&c) {
            s.ending = true;
            self.schedule.push(Reverse((ms(at), EventKind::Revoked, c, s.generation)));
        }
    }

    /// Like `revoke`, with the reason the kick's log line gives.
    pub fn revoke_because(&mut self, c: ClientRef, at: f64, why: &'static str) {
        if let Some(s) = self.by_client.get_mut(&c) {
            if s.ending {
                return;
            }
            s.end_reason = Some(why);
        }
        self.revoke(c, at);
    }

    pub fn close(&mut self, c: ClientRef) -> Option<Session> {
        let s = self.by_client.remove(&c)?;
        if self.by_id.get(&s.client_id) == Some(&c) {
            self.by_id.remove(&s.client_id);
        }
        Some(s)
    }

    /// Pops at most `limit` events due at `now`. Events for `busy` (the client whose callback is
    /// running, which must not be kicked from inside it) stay scheduled.
    pub fn due(&mut self, now: f64, limit: usize, busy: Option<ClientRef>) -> Vec<Due> {
        let now_ms = ms(now);
        let mut out = Vec::new();
        let mut kept = Vec::new();
        while out.len() < limit {
            match self.schedule.peek() {
                Some(Reverse((t, ..))) if *t <= now_ms => {}
                _ => break,
            }
            let Some(Reverse(entry)) = self.schedule.pop() else { break };
            let (_, kind, c, generation) = entry;
            let Some(s) = self.by_client.get(&c) else { continue };
            // An ending session gets no more notices or kicks, except the kick that a revocation asked for.
            if s.generation != generation || (s.ending && kind != EventKind::Revoked) {
                continue;
            }
            if Some(c) == busy {
                kept.push(Reverse(entry));
                continue;
            }
            out.push(Due { kind, client: c, client_id: s.client_id.clone() });
        }
        self.schedule.extend(kept);
        out
    }

    /// When the soonest scheduled event is due (seconds; a stale entry may make it early, never late).
    pub fn next_due(&self) -> Option<f64> {
        self.schedule.peek().map(|Reverse((t, ..))| *t as f64 / 1000.0)
    }

    /// Scheduled entries, live or stale (for tests and the memory bound).
    pub fn scheduled(&self) -> usize {
        self.schedule.len()
    }

    /// Drops stale schedule entries once they outnumber live sessions by far, so a churn of short
    /// connections with long tokens cannot grow the heap without bound.
    pub fn compact(&mut self) {
        if self.schedule.len() > 64 + 4 * self.by_client.len() {
            let live = &self.by_client;
            self.schedule.retain(|Reverse((_, _, c, g))| live.get(c).is_some_and(|s| s.generation == *g));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: &str, exp: Option<f64>) -> Session {
        Session::new(id.into(), Some("sub".into()), None, "t".into(), exp)
    }

    #[test]
    fn expiry_is_due_once_and_closed_sessions_are_skipped() {
        let mut ss = Sessions::default();
        ss.open(ClientRef(1), s("a", Some(100.0)), None, true);
        ss.open(ClientRef(2), s("b", Some(100.0)), None, true);
        ss.open(ClientRef(3), s("c", None), None, true);
        assert!(ss.due(99.9, 10, None).is_empty());
        ss.close(ClientRef(2));
        let due = ss.due(100.0, 10, None);
        assert_eq!(due, vec![Due { kind: EventKind::Expiry, client: ClientRef(1), client_id: "a".into() }]);
        assert!(ss.due(200.0, 10, None).is_empty());
        assert_eq!(ss.len(), 2);
    }

    #[test]
    fn a_refresh_replaces_the_schedule() {
        let mut ss = Sessions::default();
        ss.open(ClientRef(1), s("a", Some(100.0)), Some(10.0), true);
        ss.open(ClientRef(1), s("a", Some(500.0)), Some(10.0), true);
        assert!(ss.due(200.0, 10, None).is_empty(), "the old token's events are stale");
        let due = ss.due(495.0, 10, None);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].kind, EventKind::Notice);
        assert_eq!(ss.due(500.0, 10, None)[0].kind, EventKind::Expiry);
    }

    #[test]
    fn the_busy_client_is_not_kicked_from_its_own_callback() {
        let mut ss = Sessions::default();
        ss.open(ClientRef(1), s("a", Some(100.0)), None, true);
        assert!(ss.due(100.0, 10, Some(ClientRef(1))).is_empty());
        assert_eq!(ss.due(100.0, 10, None).len(), 1);
    }

    #[test]
    fn limit_bounds_the_work_per_call() {
        let mut ss = Sessions::default();
        for i in 0..10 {
            ss.open(ClientRef(i), s(&format!("c{i}"), Some(100.0)), None, true);
        }
        assert_eq!(ss.due(100.0, 4, None).len(), 4);
        assert_eq!(ss.due(100.0, 100, None).len(), 6);
    }

    #[test]
    fn a_client_id_has_one_session() {
        let mut ss = Sessions::default();
        ss.open(ClientRef(1), s("a", Some(100.0)), None, true);
        ss.open(ClientRef(2), s("a", Some(100.0)), None, true);
        assert_eq!(ss.len(), 1);
        let due = ss.due(100.0, 10, None);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].client, ClientRef(2));
    }

    #[test]
    fn stale_entries_are_compacted() {
        let mut ss = Sessions::default();
        for i in 0..1000 {
            ss.open(ClientRef(i), s(&format!("c{i}"), Some(1e9)), None, true);
            ss.close(ClientRef(i));
        }
        ss.compact();
        assert_eq!(ss.scheduled(), 0);
    }
}
