//! Permissions as a session keeps them: one block behind one thin pointer, shared by the session and
//! its verified-token cache entry. The block holds the identity they were compiled for, the rules
//! (a fixed-size record each) and the text their filters are spans of. One allocation instead of
//! four (the identity's, the rules', the text's and the holder's) is ≈ 100 bytes less per session.
use super::{Decision, Rule};
use triomphe::ThinArc;

/// Bytes of one rule in the block: flags, QoS mask, filter start and length.
const RULE_BYTES: usize = 10;

/// The fixed part: what the block's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    pass_through: bool,
    no_match: Decision,
    /// Compiled without reading the identity (no `%c` or `%u` was filled): the same for any, so
    /// none is kept.
    for_any: bool,
    has_client_id: bool,
    has_username: bool,
    /// MQTT strings are at most 65,535 bytes: 16 bits keep the fixed part at 24 bytes, so that with
    /// the block's length and count the block takes 80 bytes, not 96, for a typical device's rule.
    client_id_len: u16,
    username_len: u16,
    /// Where the jwt.json rules, the `acl` claim's rules and the grants end, in rules.
    ends: [u32; 3],
}

/// Compiled permissions with the identity they were compiled for. Compiling is a pure function of
/// the configuration, the token's claims and this identity, so a reconnect with the same token and
/// the same identity may reuse them instead of compiling again, and without the claims. When no
/// `%c` or `%u` was filled, that identity is any, and none is kept.
#[derive(Clone, PartialEq, Eq)]
pub struct Granted(ThinArc<Head, u8>);

impl std::fmt::Debug for Granted {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Granted").field("client_id", &self.client_id()).field("rules", &self.describe()).finish()
    }
}

/// What [`Granted::new`] packs.
pub(crate) struct Parts<'a> {
    pub pass_through: bool,
    pub no_match: Decision,
    /// The client id and username they were compiled for; None when compiling read neither.
    pub identity: Option<(Option<&'a str>, Option<&'a str>)>,
    pub lists: [&'a [Rule]; 3],
    pub text: &'a str,
}

impl Granted {
    /// None when a length does not fit the block's u32 fields.
    pub(crate) fn new(p: Parts, scratch: &mut Vec<u8>) -> Option<Granted> {
        let len = |n: usize| u32::try_from(n).ok();
        let [a, b, c] = p.lists.map(<[Rule]>::len);
        let (client_id, username) = p.identity.unwrap_or_default();
        let ends = [len(a)?, len(a + b)?, len(a + b + c)?];
        let head = Head {
            pass_through: p.pass_through,
            no_match: p.no_match,
            for_any: p.identity.is_none(),
            has_client_id: client_id.is_some(),
            has_username: username.is_some(),
            client_id_len: u16::try_from(client_id.map_or(0, str::len)).ok()?,
            username_len: u16::try_from(username.map_or(0, str::len)).ok()?,
            ends,
        };
        scratch.clear();
        scratch.extend_from_slice(client_id.unwrap_or_default().as_bytes());
        scratch.extend_from_slice(username.unwrap_or_default().as_bytes());
        for r in p.lists.iter().flat_map(|l| l.iter()) {
            scratch.extend_from_slice(&encode(r));
        }
        scratch.extend_from_slice(p.text.as_bytes());
        Some(Granted(ThinArc::from_header_and_slice(head, scratch)))
    }

    /// The same block, not only equal contents (a reuse rather than a new compilation).
    pub fn ptr_eq(&self, other: &Granted) -> bool {
        std::ptr::eq(&*self.0, &*other.0)
    }

    fn head(&self) -> &Head {
        &self.0.header.header
    }

    fn bytes(&self) -> &[u8] {
        &self.0.slice
    }

    fn rules_at(&self) -> usize {
        let h = self.head();
        h.client_id_len as usize + h.username_len as usize
    }

    fn text_at(&self) -> usize {
        self.rules_at() + self.head().ends[2] as usize * RULE_BYTES
    }

    pub fn client_id(&self) -> Option<&str> {
        let h = self.head();
        let id = self.bytes().get(..h.client_id_len as usize)?;
        h.has_client_id.then(|| std::str::from_utf8(id).ok()).flatten()
    }

    fn username(&self) -> Option<&[u8]> {
        let h = self.head();
        let at = h.client_id_len as usize;
        h.has_username.then(|| self.bytes().get(at..at + h.username_len as usize)).flatten()
    }

    /// Whether these permissions were compiled for this client id and username.
    pub fn is_for(&self, client_id: &str, username: Option<&str>) -> bool {
        self.head().for_any || self.client_id() == Some(client_id) && self.username() == username.map(str::as_bytes)
    }

    pub(crate) fn pass_through(&self) -> bool {
        self.head().pass_through
    }

    pub(crate) fn no_match(&self) -> Decision {
        self.head().no_match
    }

    /// List 0: the jwt.json rules, 1: the `acl` claim's rules, 2: the grants.
    pub(crate) fn list(&self, i: usize) -> impl Iterator<Item = Rule> + '_ {
        let ends = self.head().ends;
        let (from, to) = (if i == 0 { 0 } else { ends[i - 1] as usize }, ends[i] as usize);
        let at = self.rules_at();
        let block = self.bytes().get(at + from * RULE_BYTES..at + to * RULE_BYTES).unwrap_or_default();
        block.chunks_exact(RULE_BYTES).map(decode)
    }

    /// A rule's filter; None only if the block were inconsistent, which a deny then treats as
    /// matching everything.
    pub(crate) fn filter(&self, r: &Rule) -> Option<&str> {
        let at = self.text_at() + r.start as usize;
        std::str::from_utf8(self.bytes().get(at..at + r.len as usize)?).ok()
    }

    /// No rules, compiled for `client_id` (tests of what holds permissions).
    #[cfg(test)]
    pub(crate) fn empty_for(client_id: &str) -> Granted {
        let lists = [&[][..]; 3];
        let parts = Parts {
            pass_through: true,
            no_match: Decision::Defer,
            identity: Some((Some(client_id), None)),
            lists,
            text: "",
        };
        Granted::new(parts, &mut Vec::new()).unwrap()
    }

    /// Every filter, end to end.
    #[cfg(test)]
    pub(crate) fn text(&self) -> &str {
        std::str::from_utf8(&self.bytes()[self.text_at()..]).unwrap()
    }
}

fn encode(r: &Rule) -> [u8; RULE_BYTES] {
    let bit = |on: bool, n: u8| (on as u8) << n;
    let flags = bit(r.allow, 0)
        | bit(r.publish, 1)
        | bit(r.subscribe, 2)
        | bit(r.exact, 3)
        | bit(r.qos.is_some(), 4)
        | bit(r.retain.is_some(), 5)
        | bit(r.retain == Some(true), 6);
    let mut out = [0u8; RULE_BYTES];
    out[0] = flags;
    out[1] = r.qos.unwrap_or(0);
    out[2..6].copy_from_slice(&r.start.to_le_bytes());
    out[6..10].copy_from_slice(&r.len.to_le_bytes());
    out
}

fn decode(b: &[u8]) -> Rule {
    let on = |n: u8| b[0] & (1 << n) != 0;
    let word = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    Rule {
        allow: on(0),
        publish: on(1),
        subscribe: on(2),
        exact: on(3),
        qos: on(4).then_some(b[1]),
        retain: on(5).then_some(on(6)),
        start: word(2),
        len: word(6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_back_as_they_were_packed() {
        let mut rules = Vec::new();
        for bits in 0u16..512 {
            let on = |n: u16| bits & (1 << n) != 0;
            rules.push(Rule {
                allow: on(0),
                publish: on(1),
                subscribe: on(2),
                exact: on(3),
                qos: on(4).then_some((bits >> 5) as u8 & 7),
                retain: on(7).then_some(on(8)),
                start: u32::MAX - bits as u32,
                len: bits as u32 * 65_537,
            });
        }
        for r in &rules {
            assert_eq!(decode(&encode(r)), *r);
        }
    }

    #[test]
    fn identity_lists_and_text_come_back_from_the_one_block() {
        let rule = |allow, start, len| Rule {
            allow,
            publish: true,
            subscribe: false,
            exact: false,
            qos: None,
            retain: None,
            start,
            len,
        };
        let lists = [&[rule(false, 0, 3)][..], &[][..], &[rule(true, 3, 4), rule(true, 7, 1)][..]];
        let parts =
            |identity| Parts { pass_through: false, no_match: Decision::Defer, identity, lists, text: "a/bc/d/#" };
        let g = Granted::new(parts(Some((Some("dev-é"), Some("")))), &mut Vec::new()).unwrap();
        assert_eq!(g.client_id(), Some("dev-é"));
        assert!(g.is_for("dev-é", Some("")));
        assert!(!g.is_for("dev-é", None), "an empty username is not none");
        assert!(!g.is_for("dev-", Some("")));
        let filters = |i| g.list(i).map(|r| g.filter(&r).unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!([filters(0), filters(1), filters(2)], [vec!["a/b"], vec![], vec!["c/d/", "#"]]);
        assert_eq!(g.text(), "a/bc/d/#");
        assert_eq!(g.no_match(), Decision::Defer);
        let anonymous = Granted::new(parts(Some((None, None))), &mut Vec::new()).unwrap();
        assert_eq!(anonymous.client_id(), None);
        assert!(!anonymous.is_for("", None));
        let any = Granted::new(parts(None), &mut Vec::new()).unwrap();
        assert!(any.is_for("dev-é", Some("")) && any.is_for("x", None), "compiled without reading the identity");
        assert_eq!(any.filter(&any.list(2).next().unwrap()), Some("c/d/"));
        assert_eq!(std::mem::size_of::<Option<Granted>>(), 8, "one thin pointer");
        assert_eq!(std::mem::size_of::<Head>(), 24);
        let long = "x".repeat(65_536);
        assert!(
            Granted::new(parts(Some((Some(&long), None))), &mut Vec::new()).is_none(),
            "no MQTT client id is that long"
        );
    }
}
