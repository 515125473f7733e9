//! The vocabulary shared by jwt.json rules (validated at load) and the `acl` claim (read at CONNECT).
use super::template::{Part, Template};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Publish,
    /// Subscribe, and READ of what the subscription delivers.
    Subscribe,
    All,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "publish" => Some(Action::Publish),
            "subscribe" => Some(Action::Subscribe),
            "all" => Some(Action::All),
            _ => None,
        }
    }

    pub fn publish(self) -> bool {
        matches!(self, Action::Publish | Action::All)
    }

    pub fn subscribe(self) -> bool {
        matches!(self, Action::Subscribe | Action::All)
    }
}

pub fn parse_permission(s: &str) -> Option<bool> {
    match s {
        "allow" => Some(true),
        "deny" => Some(false),
        _ => None,
    }
}

/// A rule applies only when the claim (name or dotted path) holds `contains`: as an element of a list,
/// or as one word of a space-separated string (OAuth's `scope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub claim: String,
    pub contains: String,
}

/// A rule from jwt.json, before CONNECT fills its placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub allow: bool,
    pub action: Action,
    pub topic: Template,
    /// Bit n set: QoS n. None: any QoS.
    pub qos: Option<u8>,
    pub retain: Option<bool>,
    /// All must hold.
    pub conditions: Vec<Condition>,
}

/// `1` or `[0, 1]` → a QoS bit mask. On error: the index of the bad element (None for the whole
/// value) and the problem.
pub fn parse_qos(v: &Value) -> Result<u8, (Option<usize>, String)> {
    let one = |v: &Value| match v.as_u64() {
        Some(q @ 0..=2) => Ok(1u8 << q),
        _ => Err("expected a QoS 0, 1 or 2".to_string()),
    };
    match v {
        Value::Array(items) if items.is_empty() => Err((None, "empty: the rule would never match".into())),
        Value::Array(items) => {
            items.iter().enumerate().try_fold(0u8, |mask, (i, item)| Ok(mask | one(item).map_err(|e| (Some(i), e))?))
        }
        other => one(other).map_err(|e| (None, e)),
    }
}

/// `options.authorization` as loaded (parsed in src/config/authorization.rs, compiled per
/// CONNECT by [`super::compile`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationConfig {
    /// `defer: true`: every ACL check goes to dynamic-security, acl_file or a later plugin.
    pub defer: bool,
    /// Claims holding topic filters the client may publish to, subscribe to, or both.
    pub publish_claims: Vec<String>,
    pub subscribe_claims: Vec<String>,
    pub both_claims: Vec<String>,
    /// Claims listing topic filters each with a permission read / write / read-write (token services).
    pub resource_claims: Vec<String>,
    /// The claim read in EMQX's formats; None when disabled (`"aclClaim": false`).
    pub acl_claim: Option<String>,
    pub rules: Vec<RuleSpec>,
    /// `noMatch: "defer"`: a check nothing decides is deferred instead of denied.
    pub no_match_defer: bool,
    /// `%c` may be filled in: `trustClientId: true`, or (set at load) a client id binding in
    /// options.common. Otherwise `%c` in an `acl` claim makes its rule match nothing.
    pub trust_client_id: bool,
}

impl AuthorizationConfig {
    /// The top-level claims [`super::compile`] can read, so that a verified token keeps only these.
    /// It must be complete: a claim left out would read as missing, and a deny conditioned on it
    /// would never apply. Fields are destructured in full, so a new one is a compile error here
    /// until it is considered (the acl tests compile every case with the slimmed token too).
    pub fn claims_read(&self) -> Vec<String> {
        let AuthorizationConfig {
            defer,
            publish_claims,
            subscribe_claims,
            both_claims,
            resource_claims,
            acl_claim,
            rules,
            no_match_defer: _,
            trust_client_id: _,
        } = self;
        if *defer {
            return Vec::new();
        }
        let mut paths: Vec<&str> = [publish_claims, subscribe_claims, both_claims, resource_claims]
            .into_iter()
            .flatten()
            .chain(acl_claim)
            .map(String::as_str)
            .collect();
        for rule in rules {
            let RuleSpec { allow: _, action: _, topic, qos: _, retain: _, conditions } = rule;
            paths.extend(conditions.iter().map(|c| c.claim.as_str()));
            paths.extend(topic.parts.iter().filter_map(|p| match p {
                Part::Claim(path) => Some(path.as_str()),
                Part::Text(_) | Part::Username | Part::ClientId => None,
            }));
        }
        // A claim is looked up by its exact name first (namespaced names hold dots), then as a
        // dotted path from its first part.
        let mut names: Vec<String> = Vec::new();
        for path in paths {
            for name in [path, path.split('.').next().unwrap_or(path)] {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_string());
                }
            }
        }
        names
    }
}
