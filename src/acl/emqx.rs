//! The `acl` claim in EMQX's two formats:
//! - rule list (EMQX 5.5+): `[{permission, action, topic, qos?, retain?}]`, first match wins, may deny;
//! - old object: `{pub: [...], sub: [...], all: [...]}`, allow lists only.
//!
//! Topics take `${username}`, `${clientid}`, `%u`, `%c`, and the `eq ` prefix (literal comparison).
use super::compile::{Builder, Head, List, Warnings};
use super::spec::{parse_permission, parse_qos, Action, RuleSpec};
use super::template::{Context, Template};
use crate::logsafe::clean;
use serde_json::{Map, Value};

/// Adds the claim's first-match rules and allow-only grants to `b`.
pub(crate) fn read(v: &Value, name: &str, ctx: &Context, b: &mut Builder, w: &mut Warnings) {
    let shown = || clean(name, 64);
    match v {
        Value::Array(entries) => {
            if let Err(e) = rule_list(entries, name, ctx, b, w) {
                w.push(format!("claim {}: {e}; the whole claim is ignored", shown()));
            }
        }
        Value::Object(m) => old_format(m, name, ctx, b, w),
        _ => w.push(format!("claim {} is neither a rule list nor a {{pub, sub, all}} object; ignored", shown())),
    }
}

/// `claim <name>[<i>]` or `claim <name>.<key>[<i>]`, formatted only for a warning.
struct Entry<'a> {
    name: &'a str,
    key: Option<&'a str>,
    i: usize,
}

impl std::fmt::Display for Entry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "claim {}", clean(self.name, 64))?;
        if let Some(key) = self.key {
            write!(f, ".{key}")?;
        }
        write!(f, "[{}]", self.i)
    }
}

/// `eq t/1/#` → the literal filter `t/1/#`.
fn split_eq(topic: &str) -> (&str, bool) {
    match topic.strip_prefix("eq ") {
        Some(t) => (t, true),
        None => (topic, false),
    }
}

/// One entry that cannot be understood rejects the whole list: ignoring only that entry could drop a
/// deny while keeping the allows after it.
fn rule_list(entries: &[Value], name: &str, ctx: &Context, b: &mut Builder, w: &mut Warnings) -> Result<(), String> {
    let mut specs = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        specs.push(entry(e).map_err(|why| format!("[{i}] {why}"))?);
    }
    for (i, (r, exact)) in specs.into_iter().enumerate() {
        let head = Head { allow: r.allow, action: r.action, exact, qos: r.qos, retain: r.retain };
        b.build(List::Acl, head, &r.topic, ctx, &Entry { name, key: None, i }, w);
    }
    Ok(())
}

/// The entry and whether its topic had the `eq ` prefix.
fn entry(e: &Value) -> Result<(RuleSpec, bool), String> {
    let m = e.as_object().ok_or("is not an object")?;
    // Later EMQX versions add conditions (clientid_re, ipaddr, ...); ignoring one would widen an allow.
    if let Some(k) = m.keys().find(|k| !["permission", "action", "topic", "qos", "retain"].contains(&k.as_str())) {
        return Err(format!("has an unsupported field {:?}", crate::logsafe::clean(k, 32)));
    }
    let s = |k: &str| m.get(k).and_then(Value::as_str);
    let allow = s("permission").and_then(parse_permission).ok_or("permission is not \"allow\" or \"deny\"")?;
    let action = s("action").and_then(Action::parse).ok_or("action is not \"publish\", \"subscribe\" or \"all\"")?;
    let (topic, exact) = split_eq(s("topic").ok_or("topic is not a string")?);
    let topic = Template::parse_emqx(topic).map_err(|e| format!("topic: {e}"))?;
    let qos = m.get("qos").map(|q| parse_qos(q).map_err(|(_, e)| format!("qos: {e}"))).transpose()?;
    let retain = match m.get("retain") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err("retain is not true or false".into()),
    };
    Ok((RuleSpec { allow, action, topic, qos, retain, conditions: Vec::new() }, exact))
}

/// Allow lists only, so a bad item is skipped on its own: that never widens anything.
fn old_format(m: &Map<String, Value>, name: &str, ctx: &Context, b: &mut Builder, w: &mut Warnings) {
    let shown = || clean(name, 64);
    for (key, v) in m {
        let action = match key.as_str() {
            "pub" => Action::Publish,
            "sub" => Action::Subscribe,
            "all" => Action::All,
            _ => {
                w.push(format!("claim {}: unknown key {:?} ignored", shown(), clean(key, 32)));
                continue;
            }
        };
        let items: Vec<&Value> = match v {
            Value::Array(items) => items.iter().collect(),
            one @ Value::String(_) => vec![one],
            _ => {
                w.push(format!("claim {}.{key} is not a list of topics; ignored", shown()));
                continue;
            }
        };
        for (i, item) in items.into_iter().enumerate() {
            let label = Entry { name, key: Some(key), i };
            let parsed = item.as_str().ok_or_else(|| "not a string".to_string()).and_then(|t| {
                let (t, exact) = split_eq(t);
                Template::parse_emqx(t).map(|tpl| (tpl, exact))
            });
            match parsed {
                Ok((tpl, exact)) => b.build(List::Grants, Head { action, exact, ..Head::GRANT }, &tpl, ctx, &label, w),
                Err(e) => w.push(format!("{label}: {e}; ignored")),
            }
        }
    }
}
