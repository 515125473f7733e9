//! The index of connected sessions by what a back-channel logout names: (iss, sub) and (iss, sid).
//! Maintained wherever a session enters or leaves `by_client` ([`Sessions::put`], [`Sessions::take`]).
use std::sync::Arc;

use super::{ClientKey, Session, Sessions};

/// The strings are the session's own (shared, not copied).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Ident {
    Sub(Arc<str>),
    Sid(Arc<str>),
}

pub(super) fn idents(s: &Session) -> impl Iterator<Item = (Option<Arc<str>>, Ident)> + '_ {
    let sub = s.subject().cloned().map(Ident::Sub);
    let sid = s.sid().cloned().map(Ident::Sid);
    sub.into_iter().chain(sid).map(|i| (s.issuer().cloned(), i))
}

impl Sessions {
    pub(super) fn take(&mut self, c: ClientKey) -> Option<Box<Session>> {
        let s = self.by_client.remove(&c)?;
        if !self.index_identities {
            return Some(s);
        }
        for k in idents(&s) {
            if let Some(list) = self.by_identity.get_mut(&k) {
                list.retain(|x| *x != c);
                if list.is_empty() {
                    self.by_identity.remove(&k);
                }
            }
        }
        Some(s)
    }

    pub(super) fn put(&mut self, c: ClientKey, s: Session) {
        if self.index_identities {
            for k in idents(&s) {
                self.by_identity.entry(k).or_default().push(c);
            }
        }
        self.by_client.insert(c, Box::new(s));
    }

    /// The live sessions a back-channel logout ends (by index: a user has few sessions). Without
    /// the index ([`Sessions::new`]) there are none.
    pub fn logged_out(&self, l: &crate::logout::Logout) -> Vec<ClientKey> {
        debug_assert!(self.index_identities, "logouts come only with options.logout");
        let iss: Option<Arc<str>> = Some(l.iss.as_str().into());
        let keys = [l.sub.as_deref().map(|s| Ident::Sub(s.into())), l.sid.as_deref().map(|s| Ident::Sid(s.into()))];
        let mut out: Vec<ClientKey> = keys
            .into_iter()
            .flatten()
            .filter_map(|k| self.by_identity.get(&(iss.clone(), k)))
            .flatten()
            .copied()
            .filter(|c| {
                self.by_client.get(c).is_some_and(|s| {
                    s.is_live()
                        && l.covers(s.issuer().map(|i| &**i), s.subject().map(|i| &**i), s.sid().map(|i| &**i), s.iat())
                })
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logout::Logout;
    use crate::session::Deadlines;
    use crate::token::Token;

    fn session(id: &str, sub: &str, sid: Option<&str>) -> Session {
        let t = Token {
            sub: Some(sub.into()),
            iss: Some("iss".into()),
            exp: crate::token::Time::NONE,
            nbf: crate::token::Time::NONE,
            iat: Some(10.0).into(),
            claims: Default::default(),
        };
        let mut s = Session::new(id.into(), Arc::new(t), None, Some("t".into()));
        s.set_sid(sid.map(Into::into));
        s
    }

    #[test]
    fn the_index_follows_every_way_in_and_out() {
        let d = Deadlines { kick: false, leeway: 0.0, notice_before: None };
        let mut ss = Sessions::new(true);
        let logout =
            |sub: &str| Logout { iss: "iss".into(), sub: Some(sub.into()), sid: None, iat: 20.0, jti: "j".into() };
        ss.open(ClientKey::test(1), session("a", "alice", Some("s1")), d, 0.0);
        ss.open(ClientKey::test(2), session("b", "alice", None), d, 0.0);
        assert_eq!(ss.logged_out(&logout("alice")), vec![ClientKey::test(1), ClientKey::test(2)]);
        // Takeover of client id "a" by bob: alice's old connection is gone, not found any more.
        ss.open(ClientKey::test(3), session("a", "bob", None), d, 1.0);
        assert_eq!(ss.logged_out(&logout("alice")), vec![ClientKey::test(2)]);
        // A refresh replacing the session of connection 2 with another sid re-indexes it.
        ss.open(ClientKey::test(2), session("b", "alice", Some("s2")), d, 2.0);
        let by_sid = Logout { sub: None, sid: Some("s2".into()), ..logout("alice") };
        assert_eq!(ss.logged_out(&by_sid), vec![ClientKey::test(2)]);
        ss.disconnected(ClientKey::test(2), true, 3.0);
        ss.close(ClientKey::test(3));
        assert!(ss.logged_out(&logout("alice")).is_empty() && ss.logged_out(&logout("bob")).is_empty());
        assert!(ss.by_identity.is_empty(), "no entry outlives its session");
    }

    #[test]
    fn without_logout_nothing_is_indexed() {
        let d = Deadlines { kick: false, leeway: 0.0, notice_before: None };
        let mut ss = Sessions::new(false);
        ss.open(ClientKey::test(1), session("a", "alice", Some("s1")), d, 0.0);
        assert!(ss.by_identity.is_empty());
        ss.disconnected(ClientKey::test(1), true, 1.0);
        assert_eq!(ss.gone(), 1);
    }
}
