//! `options.authorization`: defaults, the full schema, and errors that name their key path.
use super::*;
use crate::acl::template::Part;
use crate::config::Config;
use serde_json::json;

fn text(auth: Value) -> String {
    json!({
        "version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": "secret"}, "authorization": auth}
    })
    .to_string()
}

fn ok(auth: Value) -> AuthorizationConfig {
    Config::parse(&text(auth.clone())).unwrap_or_else(|e| panic!("{e}\n{auth}")).authorization.expect("authorization")
}

/// Must fail at `path`; returns the problem.
fn err_at(auth: Value, path: &str) -> String {
    match Config::parse(&text(auth.clone())) {
        Ok(c) => panic!("should fail at {path}: {:?}\n{auth}", c.authorization),
        Err(e) => {
            assert_eq!(e.path, path, "problem: {}\n{auth}", e.problem);
            assert!(e.to_string().starts_with(&format!("{path}: ")), "{e}");
            e.problem
        }
    }
}

fn rule(extra: Value) -> Value {
    let mut r = json!({"permission": "allow", "action": "all", "topic": "a/#"});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            r.as_object_mut().unwrap().remove(k);
        } else {
            r[k] = v.clone();
        }
    }
    r
}

/// The first two rules are valid so that the failing one is `rules[2]`.
fn third(bad: Value) -> Value {
    json!({"rules": [rule(json!({})), rule(json!({"permission": "deny"})), bad]})
}

#[test]
fn absent_means_no_authorization() {
    let c = Config::parse(
        &json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {"modes": {"local": "s"}}}).to_string(),
    );
    assert_eq!(c.unwrap().authorization, None);
    // null counts as absent, like every other key.
    assert_eq!(Config::parse(&text(Value::Null)).unwrap().authorization, None);
}

#[test]
fn empty_object_takes_the_defaults() {
    let c = ok(json!({}));
    assert_eq!(
        c,
        AuthorizationConfig {
            defer: false,
            publish_claims: vec!["publ".into()],
            subscribe_claims: vec!["subs".into()],
            both_claims: vec!["topics".into()],
            resource_claims: vec![],
            acl_claim: Some("acl".into()),
            rules: vec![],
            no_match_defer: false,
            trust_client_id: false,
        }
    );
}

#[test]
fn full_schema() {
    let c = ok(json!({
        "claims": {"publish": "p", "subscribe": ["s1", "s2"], "both": []},
        "aclClaim": "permissions",
        "rules": [
            {"permission": "deny", "action": "publish", "topic": "tenants/%{tenant}/%c/#", "qos": [0, 2], "retain": true,
             "if": {"claim": "realm_access.roles", "contains": "sensor"}},
            {"permission": "allow", "action": "subscribe", "topic": "u/%u/%%", "qos": 1,
             "if": [{"claim": "scope", "contains": "mqtt:read"}, {"claim": "a.b", "contains": "c"}]}
        ],
        "noMatch": "defer",
        "trustClientId": true
    }));
    assert!(c.trust_client_id);
    assert_eq!(c.publish_claims, vec!["p"]);
    assert_eq!(c.subscribe_claims, vec!["s1", "s2"]);
    assert!(c.both_claims.is_empty());
    assert_eq!(c.acl_claim.as_deref(), Some("permissions"));
    assert!(c.no_match_defer && !c.defer);
    let r = &c.rules[0];
    assert!(!r.allow);
    assert_eq!(r.action, Action::Publish);
    assert_eq!(
        r.topic.parts,
        vec![
            Part::Text("tenants/".into()),
            Part::Claim("tenant".into()),
            Part::Text("/".into()),
            Part::ClientId,
            Part::Text("/#".into())
        ]
    );
    assert_eq!((r.qos, r.retain), (Some(0b101), Some(true)));
    assert_eq!(r.conditions, vec![Condition { claim: "realm_access.roles".into(), contains: "sensor".into() }]);
    let r = &c.rules[1];
    assert_eq!(r.topic.parts, vec![Part::Text("u/".into()), Part::Username, Part::Text("/%".into())]);
    assert_eq!((r.action, r.qos, r.retain, r.conditions.len()), (Action::Subscribe, Some(0b010), None, 2));
    assert_eq!(ok(json!({"aclClaim": false})).acl_claim, None);
    assert!(ok(json!({"defer": true})).defer);
}

#[test]
fn topic_templates_are_validated_at_load() {
    let p = "options.authorization.rules[2].topic";
    let cases: &[(&str, &[&str])] = &[
        ("a/%x", &["unknown placeholder %x"]),
        ("a/%", &["lone %"]),
        ("a/%{tenant", &["unterminated"]),
        ("a/%{}", &["bad claim name"]),
        ("a/%{x..y}", &["bad claim name"]),
        ("a/${clientid}", &["EMQX", "%c"]),
        ("a/#/b", &["not a valid topic filter"]),
        ("a/b#", &["not a valid topic filter"]),
        ("a/%c+", &["not a valid topic filter"]),
        ("", &["not a valid topic filter"]),
        ("$share/g/a/#", &["$share"]),
    ];
    for (topic, words) in cases {
        let problem = err_at(third(rule(json!({"topic": topic}))), p);
        for w in *words {
            assert!(problem.contains(w), "{topic:?}: {problem:?} should mention {w:?}");
        }
    }
    err_at(third(rule(json!({"topic": 5}))), p);
    err_at(third(rule(json!({"topic": null}))), p);
    // Placeholders may share a level with text; the filter must be valid whatever fills them.
    let mut trusted = third(rule(json!({"topic": "dev-%c/%{a}-%{b}/+/#"})));
    trusted["trustClientId"] = json!(true);
    ok(trusted);
}

/// `%c` is what the client sends: a rule using it needs the id bound to the token, or trust on purpose.
#[test]
fn client_id_in_a_rule_needs_a_binding_or_trust() {
    let rules = |topic: &str, allow: &str| {
        json!({"rules": [{"permission": "allow", "action": "all", "topic": "a/#"},
            {"permission": allow, "action": "publish", "topic": topic}]})
    };
    for allow in ["allow", "deny"] {
        let p = err_at(rules("devices/%c/#", allow), "options.authorization.rules[1].topic");
        for w in ["%c", "matchClientIdToSubject", "matchClientIdToClaim", "trustClientId: true", "any token holder"] {
            assert!(p.contains(w), "{p:?} should mention {w:?}");
        }
    }
    // `%%c` is a literal `%c`, and `%u` is not the client id.
    ok(rules("devices/%%c/%u", "allow"));
    assert!(!ok(json!({})).trust_client_id);
    let bound = |common: Value| {
        let text = json!({"version": 1, "algorithm": "HS256", "mode": "local",
            "options": {"modes": {"local": "secret"}, "common": common, "authorization": rules("d/%c/#", "allow")}});
        Config::parse(&text.to_string()).unwrap_or_else(|e| panic!("{e}")).authorization.unwrap()
    };
    assert!(bound(json!({"matchClientIdToSubject": true})).trust_client_id, "a binding makes %c usable");
    assert!(bound(json!({"matchClientIdToClaim": "device_id"})).trust_client_id);
    err_at(json!({"trustClientId": "yes"}), "options.authorization.trustClientId");
}

#[test]
fn rule_fields_name_their_paths() {
    let r = "options.authorization.rules[2]";
    err_at(third(rule(json!({"permission": null}))), &format!("{r}.permission"));
    assert!(err_at(third(rule(json!({"permission": "permit"}))), &format!("{r}.permission")).contains("permit"));
    err_at(third(rule(json!({"action": null}))), &format!("{r}.action"));
    err_at(third(rule(json!({"action": "pub"}))), &format!("{r}.action"));
    assert!(err_at(third(rule(json!({"qos": [0, 3]}))), &format!("{r}.qos[1]")).contains("QoS"));
    err_at(third(rule(json!({"qos": 7}))), &format!("{r}.qos"));
    assert!(err_at(third(rule(json!({"qos": []}))), &format!("{r}.qos")).contains("never match"));
    err_at(third(rule(json!({"qos": "1"}))), &format!("{r}.qos"));
    err_at(third(rule(json!({"retain": "yes"}))), &format!("{r}.retain"));
    err_at(third(rule(json!({"if": {"claim": "roles"}}))), &format!("{r}.if.contains"));
    err_at(third(rule(json!({"if": {"contains": "x"}}))), &format!("{r}.if.claim"));
    err_at(third(rule(json!({"if": {"claim": "", "contains": "x"}}))), &format!("{r}.if.claim"));
    err_at(
        third(rule(json!({"if": [{"claim": "a", "contains": "b"}, {"claim": "a"}]}))),
        &format!("{r}.if[1].contains"),
    );
    err_at(third(rule(json!({"if": [{"claim": "a", "contains": "b", "equals": "c"}]}))), &format!("{r}.if[0].equals"));
    assert!(err_at(third(rule(json!({"if": []}))), &format!("{r}.if")).contains("empty"));
    err_at(third(rule(json!({"if": "roles"}))), &format!("{r}.if"));
    assert!(err_at(third(rule(json!({"topics": ["a"]}))), &format!("{r}.topics")).contains("unknown key"));
    err_at(third(json!("a/#")), r);
}

#[test]
fn top_level_errors_name_their_paths() {
    let a = "options.authorization";
    err_at(json!("on"), a);
    assert!(err_at(json!({"rule": []}), &format!("{a}.rule")).contains("unknown key"));
    err_at(json!({"rules": {}}), &format!("{a}.rules"));
    err_at(json!({"claims": {"publish": [""]}}), &format!("{a}.claims.publish[0]"));
    err_at(json!({"claims": {"publish": ["a", 5]}}), &format!("{a}.claims.publish[1]"));
    err_at(json!({"claims": {"pub": ["a"]}}), &format!("{a}.claims.pub"));
    err_at(json!({"claims": []}), &format!("{a}.claims"));
    err_at(json!({"aclClaim": ""}), &format!("{a}.aclClaim"));
    err_at(json!({"aclClaim": true}), &format!("{a}.aclClaim"));
    assert!(err_at(json!({"noMatch": "allow"}), &format!("{a}.noMatch")).contains("allow"));
    err_at(json!({"defer": "yes"}), &format!("{a}.defer"));
}

#[test]
fn defer_conflicts_with_sources_it_would_ignore() {
    let a = "options.authorization.defer";
    let problem = err_at(json!({"defer": true, "rules": [rule(json!({}))], "aclClaim": "acl"}), a);
    assert!(problem.contains("rules") && problem.contains("aclClaim") && problem.contains("noMatch"), "{problem}");
    err_at(json!({"defer": true, "claims": {}}), a);
    err_at(json!({"defer": true, "noMatch": "defer"}), a);
    // Without defer, the same keys are fine.
    ok(json!({"defer": false, "claims": {}, "noMatch": "defer", "rules": []}));
}
