//! Authorization: permissions compiled once at CONNECT from the token, the client's identity and the
//! configuration ([`compile`]), then every ACL check answered from them without allocating and without
//! touching JSON ([`Permissions::check`]). Pure: no broker, no I/O.
//!
//! Sources and their order (documented in docs/configuration.md, "Authorization"):
//! 1. jwt.json `rules`: the first rule that matches decides allow or deny;
//! 2. the `acl` claim's rule list (EMQX 5.5+ format): the first entry that matches decides;
//! 3. grants that only allow: claim lists (`publ`, `subs`, `topics`) and the old `acl` object.
//!
//! A deny from 1 or 2 denies; otherwise an allow from any source allows; otherwise `noMatch`.
mod compile;
mod describe;
mod emqx;
mod resources;
mod spec;
pub mod template;
pub mod topic;

pub use compile::compile;
pub use spec::{parse_qos, Action, AuthorizationConfig, Condition, RuleSpec};

use topic::{covers, is_valid_filter, is_valid_topic, matches, strip_share};

/// What mosquitto asks about (its `MOSQ_ACL_*` bits, mapped in src/broker/codes.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Delivery of a routed, retained or queued message to this client.
    Read,
    /// A PUBLISH from this client (also its will, when sent).
    Write,
    Subscribe,
    Unsubscribe,
}

/// The answer to one ACL check; `Defer` leaves it to later plugins, dynamic-security or acl_file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    Defer,
}

/// One compiled rule: everything resolved at CONNECT, so applying it is string comparison only. Its
/// filter is a span of its [`Permissions`]' text: one block for all of them, not a string each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub allow: bool,
    pub publish: bool,
    /// Subscribe, and therefore also READ of what the subscription delivers.
    pub subscribe: bool,
    /// EMQX's `eq ` prefix: the requested topic or filter is compared literally, not as a match.
    pub exact: bool,
    /// Bit n set: QoS n allowed. None: any QoS.
    pub qos: Option<u8>,
    pub retain: Option<bool>,
    pub start: u32,
    pub len: u32,
}

/// A check, validated once before the rules are scanned.
enum Request<'a> {
    Write { topic: &'a str, qos: u8, retain: bool },
    Subscribe { filter: &'a str, qos: u8 },
    Read { topic: &'a str },
}

impl Rule {
    /// The filter, from the text of the permissions holding this rule.
    pub(crate) fn filter<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.start as usize..self.start as usize + self.len as usize).unwrap_or_default()
    }

    fn qos_ok(&self, qos: u8) -> bool {
        self.qos.is_none_or(|mask| qos < 8 && mask & (1 << qos) != 0)
    }

    /// Conditions constrain what the client sends: qos its PUBLISH or SUBSCRIBE QoS, retain its PUBLISH
    /// flag. Where one does not apply (retain on SUBSCRIBE; both on READ), an allow ignores it and a deny
    /// carrying it does not match, so `deny publish # retain:true` never blocks a delivery.
    fn applies(&self, req: &Request, text: &str) -> bool {
        // Sliced only once the flags have matched.
        let filter = || self.filter(text);
        match *req {
            Request::Write { topic, qos, retain } => {
                self.publish
                    && self.qos_ok(qos)
                    && self.retain.is_none_or(|r| r == retain)
                    && if self.exact { filter() == topic } else { matches(filter(), topic) }
            }
            Request::Subscribe { filter: requested, qos } => {
                self.subscribe
                    && self.qos_ok(qos)
                    && (self.allow || self.retain.is_none())
                    && if self.exact { filter() == requested } else { covers(filter(), requested) }
            }
            Request::Read { topic } => {
                // An exact allow granted a subscription; its deliveries follow it as a filter. An exact deny
                // forbade asking for that string, which only a topic equal to it is.
                self.subscribe
                    && (self.allow || (self.qos.is_none() && self.retain.is_none()))
                    && if self.exact && !self.allow { filter() == topic } else { matches(filter(), topic) }
            }
        }
    }
}

/// Permissions with the identity they were compiled for. Compiling is a pure function of the
/// configuration, the token's claims and this identity, so a reconnect with the same token and the
/// same identity may reuse them instead of compiling again, and without the claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub client_id: std::sync::Arc<str>,
    pub username: Option<std::sync::Arc<str>>,
    pub permissions: Permissions,
}

impl Granted {
    pub fn is_for(&self, client_id: &str, username: Option<&str>) -> bool {
        *self.client_id == *client_id && self.username.as_deref() == username
    }
}

/// The permissions of one connection, compiled at CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    /// `defer: true`: every check goes to other plugins.
    pub(crate) pass_through: bool,
    /// jwt.json rules, then the `acl` claim's rules, then the grants ([`Permissions::lists`]).
    pub(crate) rules: Box<[Rule]>,
    /// Where the `acl` claim's rules and the grants start in `rules`.
    pub(crate) starts: [u32; 2],
    /// Every rule's filter, end to end.
    pub(crate) text: Box<str>,
    pub(crate) no_match: Decision,
    pub(crate) warnings: Vec<String>,
}

impl Permissions {
    /// Answers one ACL check. Allocation-free; cost grows with the number of rules, not with the token.
    pub fn check(&self, access: Access, topic: &str, qos: u8, retain: bool) -> Decision {
        if self.pass_through {
            return Decision::Defer;
        }
        let req = match access {
            // Dropping a subscription never grants anything.
            Access::Unsubscribe => return Decision::Allow,
            Access::Write if is_valid_topic(topic) => Request::Write { topic, qos, retain },
            Access::Read if is_valid_topic(topic) => Request::Read { topic },
            Access::Subscribe => match strip_share(topic) {
                Some(filter) if is_valid_filter(filter) => Request::Subscribe { filter, qos },
                _ => return Decision::Deny,
            },
            Access::Write | Access::Read => return Decision::Deny,
        };
        let [rules, acl, grants] = self.lists();
        let mut allowed = false;
        for list in [rules, acl] {
            // The first rule that applies decides for its list.
            match list.iter().find(|r| r.applies(&req, &self.text)) {
                Some(r) if !r.allow => return Decision::Deny,
                Some(_) => allowed = true,
                None => {}
            }
        }
        if allowed || grants.iter().any(|g| g.applies(&req, &self.text)) {
            Decision::Allow
        } else {
            self.no_match
        }
    }

    /// The jwt.json rules, the `acl` claim's rules and the grants.
    pub(crate) fn lists(&self) -> [&[Rule]; 3] {
        let [a, g] = self.starts.map(|s| s as usize);
        let (rules, rest) = self.rules.split_at(a.min(self.rules.len()));
        let (acl, grants) = rest.split_at(g.saturating_sub(a).min(rest.len()));
        [rules, acl, grants]
    }

    /// Why parts of the token were ignored (wrong claim types, unusable placeholder values), for the
    /// caller to log. They name claims and rules, never claim values.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// True when the configuration defers every check (`defer: true`).
    pub fn defers_everything(&self) -> bool {
        self.pass_through
    }
}

#[cfg(test)]
mod tests;
