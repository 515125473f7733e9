//! The `acl` claim in EMQX's two formats:
//! - rule list (EMQX 5.5+): `[{permission, action, topic, qos?, retain?}]`, first match wins, may deny;
//! - old object: `{pub: [...], sub: [...], all: [...]}`, allow lists only.
//!
//! Topics take `${username}`, `${clientid}`, `%u`, `%c`, and the `eq ` prefix (literal comparison).
use super::compile::{build, Warnings};
use super::spec::{parse_permission, parse_qos, Action, RuleSpec};
use super::template::{Context, Template};
use super::Rule;
use serde_json::{Map, Value};

/// (first-match rules, allow-only grants).
pub(crate) fn read(v: &Value, name: &str, ctx: &Context, w: &mut Warnings) -> (Vec<Rule>, Vec<Rule>) {
    match v {
        Value::Array(entries) => match rule_list(entries, name, ctx, w) {
            Ok(rules) => (rules, Vec::new()),
            Err(e) => {
                w.push(format!("claim {name}: {e}; the whole claim is ignored"));
                (Vec::new(), Vec::new())
            }
        },
        Value::Object(m) => (Vec::new(), old_format(m, name, ctx, w)),
        _ => {
            w.push(format!("claim {name} is neither a rule list nor a {{pub, sub, all}} object; ignored"));
            (Vec::new(), Vec::new())
        }
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
fn rule_list(entries: &[Value], name: &str, ctx: &Context, w: &mut Warnings) -> Result<Vec<Rule>, String> {
    let mut specs = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        specs.push(entry(e).map_err(|why| format!("[{i}] {why}"))?);
    }
    let mut rules = Vec::new();
    for (i, (r, exact)) in specs.into_iter().enumerate() {
        rules.extend(build(r.allow, r.action, &r.topic, exact, r.qos, r.retain, ctx, &format!("claim {name}[{i}]"), w));
    }
    Ok(rules)
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
fn old_format(m: &Map<String, Value>, name: &str, ctx: &Context, w: &mut Warnings) -> Vec<Rule> {
    let mut out = Vec::new();
    for (key, v) in m {
        let action = match key.as_str() {
            "pub" => Action::Publish,
            "sub" => Action::Subscribe,
            "all" => Action::All,
            _ => {
                w.push(format!("claim {name}: unknown key {:?} ignored", crate::logsafe::clean(key, 32)));
                continue;
            }
        };
        let items: Vec<&Value> = match v {
            Value::Array(items) => items.iter().collect(),
            one @ Value::String(_) => vec![one],
            _ => {
                w.push(format!("claim {name}.{key} is not a list of topics; ignored"));
                continue;
            }
        };
        for (i, item) in items.into_iter().enumerate() {
            let label = format!("claim {name}.{key}[{i}]");
            let parsed = item.as_str().ok_or_else(|| "not a string".to_string()).and_then(|t| {
                let (t, exact) = split_eq(t);
                Template::parse_emqx(t).map(|tpl| (tpl, exact))
            });
            match parsed {
                Ok((tpl, exact)) => out.extend(build(true, action, &tpl, exact, None, None, ctx, &label, w)),
                Err(e) => w.push(format!("{label}: {e}; ignored")),
            }
        }
    }
    out
}
