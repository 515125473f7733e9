//! Token + client id + username + configuration → [`Permissions`], once per CONNECT. All JSON reading
//! and placeholder filling happens here, so that checks later only compare strings.
use super::emqx;
use super::spec::{Action, AuthorizationConfig, Condition};
use super::template::{claim, widen, Context, Template, Unusable};
use super::topic::is_valid_filter;
use super::{Decision, Filter, Permissions, Rule};
use crate::logsafe::clean;
use crate::token::Token;
use serde_json::Value;

/// Reasons for the log, each once.
#[derive(Default)]
pub(crate) struct Warnings(pub Vec<String>);

impl Warnings {
    pub fn push(&mut self, w: String) {
        if !self.0.contains(&w) {
            self.0.push(w);
        }
    }
}

/// `client_id` and `username` are the connection's after identity binding (`%c`, `%u`).
pub fn compile(
    cfg: &AuthorizationConfig,
    token: &Token,
    client_id: Option<&str>,
    username: Option<&str>,
) -> Permissions {
    let mut p = Permissions {
        pass_through: cfg.defer,
        rules: Vec::new(),
        acl: Vec::new(),
        grants: Vec::new(),
        no_match: if cfg.no_match_defer { Decision::Defer } else { Decision::Deny },
        warnings: Vec::new(),
    };
    if cfg.defer {
        return p;
    }
    let ctx = Context { token, client_id, username, trust_client_id: cfg.trust_client_id };
    let mut w = Warnings::default();
    for (i, spec) in cfg.rules.iter().enumerate() {
        // Formatted only for a warning: this runs on every CONNECT.
        let label = RuleLabel(i);
        if spec.conditions.iter().all(|c| holds(c, token, &label, &mut w)) {
            let r = build(spec.allow, spec.action, &spec.topic, false, spec.qos, spec.retain, &ctx, &label, &mut w);
            p.rules.extend(r);
        }
    }
    let lists = [
        (&cfg.publish_claims, Action::Publish),
        (&cfg.subscribe_claims, Action::Subscribe),
        (&cfg.both_claims, Action::All),
    ];
    for (names, action) in lists {
        for name in names {
            claim_filters(token, name, action, &mut p.grants, &mut w);
        }
    }
    for name in &cfg.resource_claims {
        for (action, filter) in super::resources::read(token, name, &mut w) {
            p.grants.push(grant(action, &filter));
        }
    }
    if let Some(name) = &cfg.acl_claim {
        if let Some(v) = claim(token, name) {
            let (acl, grants) = emqx::read(v, &clean(name, 64), &ctx, &mut w);
            p.acl = acl;
            p.grants.extend(grants);
        }
    }
    p.warnings = w.0;
    p
}

fn grant(action: Action, filter: &str) -> Rule {
    Rule {
        allow: true,
        publish: action.publish(),
        subscribe: action.subscribe(),
        filter: Filter { text: filter.into(), exact: false },
        qos: None,
        retain: None,
    }
}

/// Fills a rule's placeholders. An allow with an unusable value matches nothing (dropped); a deny with
/// one is widened (its holes become `+`), so no subject can switch a deny off.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build(
    allow: bool,
    action: Action,
    topic: &Template,
    exact: bool,
    qos: Option<u8>,
    retain: Option<bool>,
    ctx: &Context,
    label: &dyn std::fmt::Display,
    w: &mut Warnings,
) -> Option<Rule> {
    let (text, problems) = topic.render(ctx);
    for (name, why) in &problems {
        let what = match why {
            Unusable::Missing => continue,
            Unusable::NotAString => "is not a string",
            Unusable::Unsafe => "is empty, holds `+`, `#`, `/` or NUL, or starts the filter with `$`",
            Unusable::Untrusted => {
                "is not bound to the token (options.common.matchClientIdToSubject or matchClientIdToClaim), so \
                 the client chose it"
            }
        };
        let effect = if allow { "the rule matches nothing" } else { "the deny covers every value" };
        w.push(format!("{label}: {name} {what}; {effect}"));
    }
    let filter = match (problems.is_empty(), allow) {
        (true, _) => Filter { text: text.into(), exact },
        (false, true) => return None,
        // An exact deny cannot be widened literally; as a filter it denies at least as much.
        (false, false) => Filter { text: widen(&text).into(), exact: false },
    };
    Some(Rule { allow, publish: action.publish(), subscribe: action.subscribe(), filter, qos, retain })
}

/// `options.authorization.rules[i]`, for warnings.
struct RuleLabel(usize);

impl std::fmt::Display for RuleLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "options.authorization.rules[{}]", self.0)
    }
}

fn holds(c: &Condition, token: &Token, label: &dyn std::fmt::Display, w: &mut Warnings) -> bool {
    match claim(token, &c.claim) {
        None => false,
        Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(c.contains.as_str())),
        Some(Value::String(s)) => s.split_whitespace().any(|word| word == c.contains),
        Some(_) => {
            w.push(format!(
                "{label}: claim {} is neither a list nor a string; its condition is false",
                clean(&c.claim, 64)
            ));
            false
        }
    }
}

/// A claim list of topic filters (an array of strings, or one string: single-valued IdP
/// attributes) as grants of `action`. Bad entries are skipped: the list only grants, so skipping
/// never widens anything.
fn claim_filters(token: &Token, name: &str, action: Action, grants: &mut Vec<Rule>, w: &mut Warnings) {
    let shown = || clean(name, 64);
    let valid = |f: &str| is_valid_filter(f) && !f.starts_with("$share/");
    match claim(token, name) {
        None => {}
        Some(Value::String(f)) if valid(f) => grants.push(grant(action, f)),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(f) if valid(f) => grants.push(grant(action, f)),
                    _ => w.push(format!("claim {}[{i}] is not a valid topic filter; ignored", shown())),
                }
            }
        }
        Some(Value::String(_)) => w.push(format!("claim {} is not a valid topic filter; ignored", shown())),
        Some(_) => w.push(format!("claim {} is not a list of topic filters; ignored", shown())),
    }
}
