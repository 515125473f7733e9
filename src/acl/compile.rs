//! Token + client id + username + configuration → [`Permissions`], once per CONNECT. All JSON reading
//! and placeholder filling happens here, so that checks later only compare strings.
use super::emqx;
use super::granted::{Granted, Parts};
use super::spec::{Action, AuthorizationConfig, Condition};
use super::template::{claim, widen, Context, Template, Unusable};
use super::topic::is_valid_filter;
use super::{Decision, Permissions, Rule};
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
    let no_match = if cfg.no_match_defer { Decision::Defer } else { Decision::Deny };
    if cfg.defer {
        return Builder::default().finish(true, no_match, None, Vec::new());
    }
    // The broker thread compiles one connection at a time: its lists and text are reused, so a
    // CONNECT allocates only the two blocks the permissions keep.
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut b) => {
            let p = fill(&mut b, cfg, token, client_id, username, no_match);
            b.clear();
            p
        }
        Err(_) => fill(&mut Builder::default(), cfg, token, client_id, username, no_match),
    })
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Builder> = std::cell::RefCell::default();
}

fn fill(
    b: &mut Builder,
    cfg: &AuthorizationConfig,
    token: &Token,
    client_id: Option<&str>,
    username: Option<&str>,
    no_match: Decision,
) -> Permissions {
    let ctx = Context::new(token, client_id, username, cfg.trust_client_id);
    let mut w = Warnings::default();
    for (i, spec) in cfg.rules.iter().enumerate() {
        if spec.conditions.iter().all(|c| holds(c, token, &RuleLabel(i), &mut w)) {
            let head =
                Head { allow: spec.allow, action: spec.action, exact: false, qos: spec.qos, retain: spec.retain };
            b.build(List::Rules, head, &spec.topic, &ctx, &RuleLabel(i), &mut w);
        }
    }
    let lists = [
        (&cfg.publish_claims, Action::Publish),
        (&cfg.subscribe_claims, Action::Subscribe),
        (&cfg.both_claims, Action::All),
    ];
    for (names, action) in lists {
        for name in names {
            claim_filters(token, name, action, b, &mut w);
        }
    }
    for name in &cfg.resource_claims {
        super::resources::read(token, name, b, &mut w);
    }
    if let Some(name) = &cfg.acl_claim {
        if let Some(v) = claim(token, name) {
            emqx::read(v, name, &ctx, b, &mut w);
        }
    }
    let identity = ctx.identity_read.get().then_some((client_id, username));
    b.finish(false, no_match, identity, w.0)
}

/// Which of the three lists a rule belongs to (see [`Permissions::check`]).
#[derive(Clone, Copy)]
pub(crate) enum List {
    Rules,
    Acl,
    Grants,
}

/// A rule but for its filter.
#[derive(Clone, Copy)]
pub(crate) struct Head {
    pub allow: bool,
    pub action: Action,
    pub exact: bool,
    pub qos: Option<u8>,
    pub retain: Option<bool>,
}

impl Head {
    pub const GRANT: Head = Head { allow: true, action: Action::All, exact: false, qos: None, retain: None };
}

/// Permissions as they are compiled: three lists whose filters are spans of one text.
#[derive(Default)]
pub(crate) struct Builder {
    lists: [Vec<Rule>; 3],
    text: String,
    /// Where the kept block is put together before it is copied into its allocation.
    block: Vec<u8>,
    /// A span did not fit in u32: the permissions deny everything.
    overflow: bool,
}

impl Builder {
    /// An allow-only grant of `filter` (already valid).
    pub fn grant(&mut self, action: Action, filter: &str) {
        let start = self.text.len();
        self.text.push_str(filter);
        self.add(List::Grants, Head { action, ..Head::GRANT }, start);
    }

    /// Fills a rule's placeholders. An allow with an unusable value matches nothing (dropped); a deny
    /// with one is widened (its holes become `+`), so no subject can switch a deny off.
    pub fn build(
        &mut self,
        list: List,
        mut head: Head,
        topic: &Template,
        ctx: &Context,
        label: &dyn std::fmt::Display,
        w: &mut Warnings,
    ) {
        let start = self.text.len();
        let problems = topic.render_into(ctx, &mut self.text);
        for (name, why) in &problems {
            let what = match why {
                Unusable::Missing => continue,
                Unusable::NotAString => "is not a string",
                Unusable::Unsafe => "is empty, holds `+`, `#`, `/` or NUL, or starts the filter with `$`",
                Unusable::Untrusted => {
                    "is not bound to the token (options.common.matchClientIdToSubject or matchClientIdToClaim), \
                     so the client chose it"
                }
            };
            let effect = if head.allow { "the rule matches nothing" } else { "the deny covers every value" };
            w.push(format!("{label}: {name} {what}; {effect}"));
        }
        if !problems.is_empty() {
            if head.allow {
                self.text.truncate(start);
                return;
            }
            // An exact deny cannot be widened literally; as a filter it denies at least as much.
            let widened = widen(&self.text[start..]);
            self.text.truncate(start);
            self.text.push_str(&widened);
            head.exact = false;
        }
        self.add(list, head, start);
    }

    /// The rule whose filter is the text from `start` on.
    fn add(&mut self, list: List, h: Head, start: usize) {
        let (Ok(s), Ok(len)) = (u32::try_from(start), u32::try_from(self.text.len() - start)) else {
            self.overflow = true;
            return;
        };
        let (publish, subscribe) = (h.action.publish(), h.action.subscribe());
        let r =
            Rule { allow: h.allow, publish, subscribe, exact: h.exact, qos: h.qos, retain: h.retain, start: s, len };
        self.lists[list as usize].push(r);
    }

    /// The identity, the lists end to end and the text, in one block of its exact size.
    fn finish(
        &mut self,
        pass_through: bool,
        no_match: Decision,
        identity: Option<(Option<&str>, Option<&str>)>,
        mut warnings: Vec<String>,
    ) -> Permissions {
        let [rules, acl, grants] = &self.lists;
        let parts = Parts { pass_through, no_match, identity, lists: [rules, acl, grants], text: &self.text };
        let granted = match Granted::new(parts, &mut self.block).filter(|_| !self.overflow) {
            Some(g) => g,
            None => {
                warnings.push("the compiled permissions do not fit (over 4 GiB, or a client id or username over 65,535 bytes); every check is denied".into());
                let lists = [&[][..]; 3];
                let parts = Parts { pass_through: false, no_match: Decision::Deny, identity, lists, text: "" };
                Granted::new(parts, &mut self.block).expect("an empty block fits")
            }
        };
        Permissions { granted, warnings }
    }

    /// Empty for the next CONNECT, keeping capacity unless one token made it large.
    fn clear(&mut self) {
        const KEEP: usize = 64 * 1024;
        if self.text.capacity() > KEEP {
            self.text = String::new();
        }
        self.text.clear();
        if self.block.capacity() > KEEP {
            self.block = Vec::new();
        }
        self.block.clear();
        for l in &mut self.lists {
            if l.capacity() * std::mem::size_of::<Rule>() > KEEP {
                *l = Vec::new();
            }
            l.clear();
        }
        self.overflow = false;
    }
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
fn claim_filters(token: &Token, name: &str, action: Action, b: &mut Builder, w: &mut Warnings) {
    let shown = || clean(name, 64);
    let valid = |f: &str| is_valid_filter(f) && !f.starts_with("$share/");
    match claim(token, name) {
        None => {}
        Some(Value::String(f)) if valid(f) => b.grant(action, f),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(f) if valid(f) => b.grant(action, f),
                    _ => w.push(format!("claim {}[{i}] is not a valid topic filter; ignored", shown())),
                }
            }
        }
        Some(Value::String(_)) => w.push(format!("claim {} is not a valid topic filter; ignored", shown())),
        Some(_) => w.push(format!("claim {} is not a list of topic filters; ignored", shown())),
    }
}
