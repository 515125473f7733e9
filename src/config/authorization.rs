//! `options.authorization`: where permissions come from (claim lists, the `acl` claim, jwt.json rules)
//! and what happens when none of them decides. Templates are validated here, at load, so a broken rule
//! stops start-up with its key path instead of silently matching nothing at CONNECT.
use super::walk::{type_name, ConfigError, Obj, Result};
use crate::acl::template::Template;
use crate::acl::{Action, AuthorizationConfig, Condition, RuleSpec};
use serde_json::Value;

pub(crate) fn parse(mut o: Obj) -> Result<AuthorizationConfig> {
    let defer = o.bool("defer", false)?;
    let trust_client_id = o.bool("trustClientId", false)?;
    // Sources given next to `defer: true` would be silently ignored; say so instead.
    let mut sources = Vec::new();
    let (publish_claims, subscribe_claims, both_claims, resource_claims) = match o.object("claims")? {
        Some(mut c) => {
            sources.push("claims");
            let lists = (
                claim_list(&mut c, "publish", "publ")?,
                claim_list(&mut c, "subscribe", "subs")?,
                claim_list(&mut c, "both", "topics")?,
                claim_list_off(&mut c, "resources")?,
            );
            c.finish()?;
            lists
        }
        None => (vec!["publ".into()], vec!["subs".into()], vec!["topics".into()], Vec::new()),
    };
    let acl_claim = match o.get("aclClaim") {
        None => Some("acl".to_string()),
        Some(Value::Bool(false)) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(v) => return Err(o.wrong("aclClaim", "a claim name or false", v)),
    };
    if o.get("aclClaim").is_some() {
        sources.push("aclClaim");
    }
    let rules = match o.get("rules") {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            sources.push("rules");
            let path = o.key_path("rules");
            items
                .iter()
                .enumerate()
                .map(|(i, v)| parse_rule(Obj::new(&format!("{path}[{i}]"), v)?))
                .collect::<Result<_>>()?
        }
        Some(v) => return Err(o.wrong("rules", "an array of rule objects", v)),
    };
    let no_match_defer = match o.string("noMatch")? {
        None | Some("deny") => false,
        Some("defer") => true,
        Some(other) => {
            return Err(ConfigError::new(
                o.key_path("noMatch"),
                format!("unknown value {other:?} (expected \"deny\" or \"defer\")"),
            ))
        }
    };
    if o.get("noMatch").is_some() {
        sources.push("noMatch");
    }
    if defer && !sources.is_empty() {
        return Err(ConfigError::new(
            o.key_path("defer"),
            format!(
                "true hands every ACL check to other plugins, so {} would be ignored: remove them, or use \
                 noMatch: \"defer\" to defer only the checks no source decides",
                sources.join(", ")
            ),
        ));
    }
    o.finish()?;
    Ok(AuthorizationConfig {
        defer,
        publish_claims,
        subscribe_claims,
        both_claims,
        resource_claims,
        acl_claim,
        rules,
        no_match_defer,
        trust_client_id,
    })
}

/// A list of claim names; an absent key keeps its default, `[]` turns it off.
fn claim_list(c: &mut Obj, key: &'static str, default: &str) -> Result<Vec<String>> {
    if c.get(key).is_none() {
        return Ok(vec![default.to_string()]);
    }
    claim_list_off(c, key)
}

/// A list of claim names that is empty unless configured.
fn claim_list_off(c: &mut Obj, key: &'static str) -> Result<Vec<String>> {
    let names = c.strings(key)?;
    if let Some(i) = names.iter().position(String::is_empty) {
        return Err(ConfigError::new(format!("{}[{i}]", c.key_path(key)), "empty claim name"));
    }
    Ok(names)
}

fn parse_rule(mut o: Obj) -> Result<RuleSpec> {
    let allow = match o.string("permission")? {
        Some("allow") => true,
        Some("deny") => false,
        Some(other) => {
            return Err(ConfigError::new(
                o.key_path("permission"),
                format!("unknown {other:?} (expected \"allow\" or \"deny\")"),
            ))
        }
        None => return Err(ConfigError::new(o.key_path("permission"), "missing (\"allow\" or \"deny\")")),
    };
    let action = match o.string("action")? {
        Some(a) => Action::parse(a).ok_or_else(|| {
            ConfigError::new(
                o.key_path("action"),
                format!("unknown {a:?} (expected \"publish\", \"subscribe\" or \"all\")"),
            )
        })?,
        None => return Err(ConfigError::new(o.key_path("action"), "missing (\"publish\", \"subscribe\" or \"all\")")),
    };
    let topic = match o.string("topic")? {
        Some(t) => Template::parse_config(t).map_err(|e| ConfigError::new(o.key_path("topic"), e))?,
        None => return Err(ConfigError::new(o.key_path("topic"), "missing (a topic filter, e.g. \"devices/%c/#\")")),
    };
    let qos = match o.get("qos") {
        None => None,
        Some(v) => Some(crate::acl::parse_qos(v).map_err(|(i, e)| {
            let path = o.key_path("qos");
            ConfigError::new(i.map_or(path.clone(), |i| format!("{path}[{i}]")), e)
        })?),
    };
    let retain = match o.get("retain") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(v) => return Err(o.wrong("retain", "true or false", v)),
    };
    let conditions = match o.get("if") {
        None => Vec::new(),
        Some(v @ Value::Object(_)) => vec![parse_condition(Obj::new(&o.key_path("if"), v)?)?],
        Some(Value::Array(items)) if !items.is_empty() => {
            let path = o.key_path("if");
            items
                .iter()
                .enumerate()
                .map(|(i, v)| parse_condition(Obj::new(&format!("{path}[{i}]"), v)?))
                .collect::<Result<_>>()?
        }
        Some(v) => {
            let found = if v.is_array() { "an empty array" } else { type_name(v) };
            return Err(ConfigError::new(
                o.key_path("if"),
                format!("expected {{claim, contains}} or a non-empty array of them, found {found}"),
            ));
        }
    };
    o.finish()?;
    Ok(RuleSpec { allow, action, topic, qos, retain, conditions })
}

fn parse_condition(mut o: Obj) -> Result<Condition> {
    let claim = o.string("claim")?.filter(|c| !c.is_empty());
    let contains = o.string("contains")?.filter(|c| !c.is_empty());
    let (Some(claim), Some(contains)) = (claim, contains) else {
        let key = if claim.is_none() { "claim" } else { "contains" };
        return Err(ConfigError::new(o.key_path(key), "missing or empty"));
    };
    let c = Condition { claim: claim.to_string(), contains: contains.to_string() };
    o.finish()?;
    Ok(c)
}

#[cfg(test)]
#[path = "authorization_tests.rs"]
mod tests;
