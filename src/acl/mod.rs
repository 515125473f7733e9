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
mod granted;
mod resources;
mod spec;
pub mod template;
pub mod topic;

pub use compile::compile;
pub use granted::Granted;
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
/// filter is a span of the text of the [`Granted`] block holding it, not a string of its own.
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
    fn qos_ok(&self, qos: u8) -> bool {
        self.qos.is_none_or(|mask| qos < 8 && mask & (1 << qos) != 0)
    }

    /// Conditions constrain what the client sends: qos its PUBLISH or SUBSCRIBE QoS, retain its PUBLISH
    /// flag. Where one does not apply (retain on SUBSCRIBE; both on READ), an allow ignores it and a deny
    /// carrying it does not match, so `deny publish # retain:true` never blocks a delivery.
    fn applies(&self, req: &Request, g: &Granted) -> bool {
        // Sliced only once the flags have matched. A filter that cannot be read (never, by
        // construction) fails closed: a deny matches, an allow does not.
        let filter = |test: &dyn Fn(&str) -> bool| g.filter(self).map_or(!self.allow, test);
        match *req {
            Request::Write { topic, qos, retain } => {
                self.publish
                    && self.qos_ok(qos)
                    && self.retain.is_none_or(|r| r == retain)
                    && if self.exact { filter(&|f| f == topic) } else { filter(&|f| matches(f, topic)) }
            }
            Request::Subscribe { filter: requested, qos } => {
                self.subscribe
                    && self.qos_ok(qos)
                    && (self.allow || self.retain.is_none())
                    && if self.exact { filter(&|f| f == requested) } else { filter(&|f| covers(f, requested)) }
            }
            Request::Read { topic } => {
                // An exact allow granted a subscription; its deliveries follow it as a filter. An exact deny
                // forbade asking for that string, which only a topic equal to it is.
                self.subscribe
                    && (self.allow || (self.qos.is_none() && self.retain.is_none()))
                    && if self.exact && !self.allow { filter(&|f| f == topic) } else { filter(&|f| matches(f, topic)) }
            }
        }
    }
}

/// The permissions of one connection as compiled at CONNECT, and why parts of the token were
/// ignored. A session keeps only the [`Granted`] part; the warnings are logged once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    pub granted: Granted,
    pub(crate) warnings: Vec<String>,
}

impl Permissions {
    pub fn check(&self, access: Access, topic: &str, qos: u8, retain: bool) -> Decision {
        self.granted.check(access, topic, qos, retain)
    }

    /// Why parts of the token were ignored (wrong claim types, unusable placeholder values), for the
    /// caller to log. They name claims and rules, never claim values.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// True when the configuration defers every check (`defer: true`).
    pub fn defers_everything(&self) -> bool {
        self.granted.pass_through()
    }

    pub fn describe(&self) -> Vec<String> {
        self.granted.describe()
    }
}

impl Granted {
    /// Answers one ACL check. Allocation-free; cost grows with the number of rules, not with the token.
    pub fn check(&self, access: Access, topic: &str, qos: u8, retain: bool) -> Decision {
        if self.pass_through() {
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
        let mut allowed = false;
        for list in [0, 1] {
            // The first rule that applies decides for its list.
            match self.list(list).find(|r| r.applies(&req, self)) {
                Some(r) if !r.allow => return Decision::Deny,
                Some(_) => allowed = true,
                None => {}
            }
        }
        if allowed || self.list(2).any(|g| g.applies(&req, self)) {
            Decision::Allow
        } else {
            self.no_match()
        }
    }
}

#[cfg(test)]
mod tests;
