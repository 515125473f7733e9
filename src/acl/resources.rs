//! Per-resource permissions issued by a token service: a claim listing topic filters, each with
//! `read`, `write` or `read-write`. Either a list `[{"topic": "a/#", "permission": "read"}]` (also
//! `resource` / `access`) or an object `{"a/#": "read"}`. Allow-only, like the other claim lists.
use super::compile::{Builder, Warnings};
use super::spec::Action;
use super::template::claim;
use super::topic::is_valid_filter;
use crate::logsafe::clean;
use crate::token::Token;
use serde_json::Value;

fn action(permission: &str) -> Option<Action> {
    match permission {
        "read" | "r" | "subscribe" => Some(Action::Subscribe),
        "write" | "w" | "publish" => Some(Action::Publish),
        "read-write" | "readwrite" | "rw" | "all" => Some(Action::All),
        _ => None,
    }
}

/// Adds the grants of claim `name` to `b`; items that cannot be understood are skipped with a warning.
pub(crate) fn read(token: &Token, name: &str, b: &mut Builder, w: &mut Warnings) {
    // Most tokens have no such claim: nothing is formatted for them.
    let Some(value) = claim(token, name) else { return };
    let shown = clean(name, 64);
    let valid = |f: &str| is_valid_filter(f) && !f.starts_with("$share/");
    let mut one = |at: String, topic: Option<&str>, permission: Option<&str>| match (topic, permission.and_then(action))
    {
        (Some(t), Some(a)) if valid(t) => b.grant(a, t),
        (Some(t), Some(_)) if !valid(t) => w.push(format!("claim {at} is not a valid topic filter; ignored")),
        _ => w.push(format!("claim {at} needs a topic and a permission read, write or read-write; ignored")),
    };
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let field = |keys: [&str; 2]| keys.iter().find_map(|k| item.get(*k).and_then(Value::as_str));
                one(format!("{shown}[{i}]"), field(["topic", "resource"]), field(["permission", "access"]));
            }
        }
        Value::Object(map) => {
            for (topic, permission) in map {
                one(format!("{shown}.<entry>"), Some(topic), permission.as_str());
            }
        }
        _ => w.push(format!("claim {shown} is not a list or object of resources; ignored")),
    }
}

#[cfg(test)]
mod tests {
    use crate::acl::{compile, Access, Decision};
    use crate::config::Config;
    use crate::token::Token;
    use serde_json::json;

    fn permissions(claim: serde_json::Value) -> crate::acl::Permissions {
        let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {"modes": {"local": "s"},
            "authorization": {"claims": {"resources": ["resources"]}}}});
        let cfg = Config::parse(&cfg.to_string()).unwrap();
        let claims = json!({"resources": claim}).as_object().unwrap().clone();
        let t = Token {
            sub: Some("c".into()),
            iss: None,
            exp: crate::token::Time::NONE,
            nbf: crate::token::Time::NONE,
            iat: crate::token::Time::NONE,
            claims: claims.into(),
        };
        compile(cfg.authorization.as_ref().unwrap(), &t, Some("c"), None)
    }

    #[test]
    fn read_write_and_read_write() {
        let p = permissions(json!([
            {"topic": "in/c/#", "permission": "read"},
            {"resource": "out/c", "access": "write"},
            {"topic": "both/c/+", "permission": "read-write"},
            {"topic": "bad/#/x", "permission": "read"},
            {"topic": "x", "permission": "admin"}
        ]));
        assert_eq!(p.check(Access::Subscribe, "in/c/#", 0, false), Decision::Allow);
        assert_eq!(p.check(Access::Read, "in/c/a", 0, false), Decision::Allow);
        assert_eq!(p.check(Access::Write, "in/c/a", 0, false), Decision::Deny);
        assert_eq!(p.check(Access::Write, "out/c", 0, false), Decision::Allow);
        assert_eq!(p.check(Access::Subscribe, "out/c", 0, false), Decision::Deny);
        assert_eq!(p.check(Access::Write, "both/c/1", 0, false), Decision::Allow);
        assert_eq!(p.check(Access::Read, "both/c/1", 0, false), Decision::Allow);
        assert_eq!(p.warnings().len(), 2, "{:?}", p.warnings());
        assert!(p.warnings().iter().all(|w| !w.contains("admin")), "values never appear in warnings");
    }

    #[test]
    fn object_form() {
        let p = permissions(json!({"a/#": "read", "b": "write"}));
        assert_eq!(p.check(Access::Read, "a/1", 0, false), Decision::Allow);
        assert_eq!(p.check(Access::Write, "b", 0, false), Decision::Allow);
        assert_eq!(p.check(Access::Write, "a/1", 0, false), Decision::Deny);
    }
}
