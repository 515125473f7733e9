//! Compiled permissions: sources, their order, placeholders and injection, EMQX formats, conditions.
use super::*;
use crate::config::Config;
use crate::token::Token;
use serde_json::{json, Value};
use Access::{Read as R, Subscribe as S, Unsubscribe as U, Write as W};
use Decision::{Allow, Defer, Deny};

fn token(claims: Value) -> Token {
    let claims = claims.as_object().expect("claims object").clone();
    let sub = claims.get("sub").and_then(Value::as_str).map(Into::into);
    Token {
        sub,
        iss: None,
        exp: crate::token::Time::NONE,
        nbf: crate::token::Time::NONE,
        iat: crate::token::Time::NONE,
        claims: claims.into(),
    }
}

/// Client ids in these tests are trusted (as with a client id binding): they test the templates.
fn cfg(mut auth: Value) -> AuthorizationConfig {
    if auth.get("defer").is_none() {
        auth["trustClientId"] = json!(true);
    }
    let text = json!({
        "version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": "secret"}, "authorization": auth}
    });
    Config::parse(&text.to_string()).unwrap_or_else(|e| panic!("{e}")).authorization.expect("authorization")
}

/// Compiled twice: from all claims, and from only those [`AuthorizationConfig::claims_read`] names
/// (what a verified token keeps), which must give the same permissions.
fn perms(auth: Value, claims: Value, client_id: Option<&str>, username: Option<&str>) -> Permissions {
    let cfg = cfg(auth);
    let full = token(claims);
    let p = compile(&cfg, &full, client_id, username);
    let names = cfg.claims_read();
    let mut kept = full.clone();
    kept.claims = full.claims.only(|k| names.iter().any(|n| n == k));
    assert_eq!(compile(&cfg, &kept, client_id, username), p, "kept {names:?} of {:?}", full.claims);
    p
}

/// Runs (access, topic, qos, retain, expected) rows.
fn table(p: &Permissions, rows: &[(Access, &str, u8, bool, Decision)]) {
    for &(access, topic, qos, retain, want) in rows {
        assert_eq!(p.check(access, topic, qos, retain), want, "{access:?} {topic:?} qos {qos} retain {retain}\n{p:#?}");
    }
}

fn warned(p: &Permissions, words: &[&str]) {
    assert!(
        p.warnings().iter().any(|w| words.iter().all(|x| w.contains(x))),
        "no warning with {words:?} in {:?}",
        p.warnings()
    );
}

#[test]
fn default_claim_lists() {
    let p = perms(json!({}), json!({"publ": ["up/a"], "subs": ["down/#"], "topics": ["both/+"]}), None, None);
    table(
        &p,
        &[
            (W, "up/a", 1, false, Allow),
            (S, "up/a", 0, false, Deny),
            (R, "up/a", 0, false, Deny),
            (S, "down/x/#", 2, false, Allow),
            (R, "down/x/y", 1, true, Allow),
            (W, "down/x", 0, false, Deny),
            (W, "both/1", 0, true, Allow),
            (S, "both/+", 0, false, Allow),
            (S, "both/#", 0, false, Deny),
            (W, "other", 0, false, Deny),
            (U, "anything/#", 0, false, Allow),
        ],
    );
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
}

#[test]
fn configured_claim_names_replace_defaults_per_key() {
    let auth = json!({"claims": {"publish": ["perm.pub", "extra"], "both": []}});
    let p = perms(auth, json!({"perm": {"pub": ["a"]}, "extra": "b", "subs": ["c"], "topics": ["d"]}), None, None);
    table(
        &p,
        &[(W, "a", 0, false, Allow), (W, "b", 0, false, Allow), (R, "c", 0, false, Allow), (W, "d", 0, false, Deny)],
    );
}

#[test]
fn a_namespaced_claim_with_dots_is_found_by_its_full_name() {
    let auth = json!({"claims": {"both": ["https://example.com/topics"]}});
    let p = perms(auth, json!({"https://example.com/topics": ["x/#"]}), None, None);
    table(&p, &[(W, "x/1", 0, false, Allow)]);
}

#[test]
fn claim_values_of_the_wrong_type_are_ignored_with_a_reason() {
    let claims = json!({"publ": 5, "subs": ["ok/#", 7, "bad/#/x", "$share/g/x", ""], "topics": {"a": 1}, "acl": "x"});
    let p = perms(json!({}), claims, None, None);
    table(&p, &[(S, "ok/#", 0, false, Allow), (S, "x", 0, false, Deny), (W, "5", 0, false, Deny)]);
    warned(&p, &["claim publ", "not a list"]);
    warned(&p, &["claim subs[1]"]);
    warned(&p, &["claim subs[2]"]);
    warned(&p, &["claim subs[3]"]);
    warned(&p, &["claim subs[4]"]);
    warned(&p, &["claim topics"]);
    warned(&p, &["claim acl"]);
    // Warnings name claims, never their values.
    assert!(p.warnings().iter().all(|w| !w.contains("bad/#/x")), "{:?}", p.warnings());
}

#[test]
fn rules_with_placeholders() {
    let auth = json!({"rules": [
        {"permission": "allow", "action": "all", "topic": "tenants/%{tenant}/%{device_type}/%c/#"},
        {"permission": "allow", "action": "publish", "topic": "users/%u/out"},
        {"permission": "allow", "action": "subscribe", "topic": "org/%{org.id}/%%/+"}
    ]});
    let claims = json!({"tenant": "acme", "device_type": "sensor", "org": {"id": "o1"}});
    let p = perms(auth, claims, Some("dev-1"), Some("alice"));
    table(
        &p,
        &[
            (W, "tenants/acme/sensor/dev-1/temp", 1, false, Allow),
            (S, "tenants/acme/sensor/dev-1/#", 1, false, Allow),
            (S, "tenants/acme/sensor/#", 1, false, Deny),
            (W, "tenants/acme/sensor/dev-2/temp", 1, false, Deny),
            (W, "tenants/other/sensor/dev-1/temp", 1, false, Deny),
            (W, "users/alice/out", 0, false, Allow),
            (R, "users/alice/out", 0, false, Deny),
            (S, "org/o1/%/x", 0, false, Allow),
        ],
    );
}

/// A subject, client id or claim such as `#` must not become a wildcard, a `/` not a new level.
#[test]
fn placeholder_injection_makes_an_allow_match_nothing() {
    let auth = json!({"rules": [
        {"permission": "allow", "action": "all", "topic": "devices/%c/#"},
        {"permission": "allow", "action": "all", "topic": "users/%u"},
        {"permission": "allow", "action": "all", "topic": "t/%{tenant}/data"},
        {"permission": "allow", "action": "all", "topic": "%c/status"}
    ]});
    for evil in ["#", "+", "a/b", "x/#", "+/+", "", "a\0b", "$SYS"] {
        let claims = json!({"sub": evil, "tenant": evil});
        let p = perms(auth.clone(), claims, Some(evil), Some(evil));
        table(
            &p,
            &[
                (W, "devices/x/y", 0, false, Deny),
                (S, "devices/#", 0, false, Deny),
                (S, "devices/+/#", 0, false, Deny),
                (R, "devices/a/b/c", 0, false, Deny),
                (W, "users/x", 0, false, Deny),
                (S, "users/+", 0, false, Deny),
                (S, "t/#", 0, false, Deny),
                (W, "t/x/data", 0, false, Deny),
                (R, "$SYS/status", 0, false, Deny),
                (S, "$SYS/#", 0, false, Deny),
            ],
        );
        // `devices/$SYS/#` is harmless; `$SYS/status` (rule 3) is not.
        let rule = if evil == "$SYS" { "rules[3]" } else { "rules[0]" };
        warned(&p, &[rule, "client id", "matches nothing"]);
    }
    // The same rules with honest values.
    let p = perms(auth, json!({"tenant": "acme"}), Some("d1"), Some("bob"));
    table(
        &p,
        &[
            (W, "devices/d1/y", 0, false, Allow),
            (W, "users/bob", 0, false, Allow),
            (W, "t/acme/data", 0, false, Allow),
            (W, "d1/status", 0, false, Allow),
        ],
    );
}

/// "Deny everything under my own id" must still deny when the id is unusable: it widens instead.
#[test]
fn placeholder_injection_cannot_switch_a_deny_off() {
    let auth = json!({"rules": [
        {"permission": "deny", "action": "publish", "topic": "devices/%c/admin"},
        {"permission": "deny", "action": "subscribe", "topic": "t/%{tenant}-private/#"},
        {"permission": "allow", "action": "all", "topic": "devices/#"},
        {"permission": "allow", "action": "all", "topic": "t/#"}
    ]});
    let p = perms(auth.clone(), json!({"tenant": "#"}), Some("+"), None);
    table(
        &p,
        &[
            (W, "devices/anyone/admin", 0, false, Deny),
            (W, "devices/anyone/other", 0, false, Allow),
            (S, "t/x-private/#", 0, false, Deny),
            // The hole widened the whole level: every `t/<level>/...` delivery is denied.
            (R, "t/x/y", 0, false, Deny),
            (R, "devices/x", 0, false, Allow),
        ],
    );
    warned(&p, &["rules[0]", "deny covers every value"]);
    let p = perms(auth, json!({"tenant": "acme"}), Some("d1"), None);
    table(
        &p,
        &[
            (W, "devices/d1/admin", 0, false, Deny),
            (W, "devices/d2/admin", 0, false, Allow),
            (S, "t/acme-private/#", 0, false, Deny),
            (S, "t/other-private/#", 0, false, Allow),
        ],
    );
}

#[test]
fn missing_or_non_string_placeholder_claims() {
    let auth = json!({"rules": [{"permission": "allow", "action": "all", "topic": "t/%{tenant}/#"}]});
    let p = perms(auth.clone(), json!({}), None, None);
    assert_eq!(p.check(W, "t/x/y", 0, false), Deny);
    assert!(p.warnings().is_empty(), "a missing claim is ordinary: {:?}", p.warnings());
    let p = perms(auth, json!({"tenant": 42}), None, None);
    assert_eq!(p.check(W, "t/42/y", 0, false), Deny);
    warned(&p, &["claim tenant", "not a string"]);
}

#[test]
fn scope_string_condition() {
    let auth = json!({"rules": [
        {"permission": "allow", "action": "publish", "topic": "data/%c", "if": {"claim": "scope", "contains": "mqtt:write"}},
        {"permission": "allow", "action": "subscribe", "topic": "data/#", "if": {"claim": "scope", "contains": "mqtt:read"}}
    ]});
    let p = perms(auth.clone(), json!({"scope": "openid mqtt:write profile"}), Some("c1"), None);
    table(&p, &[(W, "data/c1", 0, false, Allow), (S, "data/#", 0, false, Deny)]);
    // A prefix of a word is not the word.
    let p = perms(auth.clone(), json!({"scope": "mqtt:writer mqtt:read"}), Some("c1"), None);
    table(&p, &[(W, "data/c1", 0, false, Deny), (S, "data/#", 0, false, Allow)]);
    // Azure-style list, and a missing claim.
    let p = perms(auth.clone(), json!({"scope": ["mqtt:write"]}), Some("c1"), None);
    assert_eq!(p.check(W, "data/c1", 0, false), Allow);
    let p = perms(auth.clone(), json!({}), Some("c1"), None);
    assert_eq!(p.check(W, "data/c1", 0, false), Deny);
    let p = perms(auth, json!({"scope": {"mqtt:write": true}}), Some("c1"), None);
    assert_eq!(p.check(W, "data/c1", 0, false), Deny);
    warned(&p, &["claim scope", "neither a list nor a string"]);
}

#[test]
fn keycloak_realm_roles_condition() {
    let auth = json!({"rules": [
        {"permission": "allow", "action": "all", "topic": "sensors/%{preferred_username}/#",
         "if": {"claim": "realm_access.roles", "contains": "sensor"}},
        {"permission": "allow", "action": "subscribe", "topic": "sensors/#",
         "if": [{"claim": "realm_access.roles", "contains": "operator"},
                {"claim": "resource_access.mqtt.roles", "contains": "read-all"}]}
    ]});
    let sensor = json!({"preferred_username": "s1", "realm_access": {"roles": ["offline_access", "sensor"]}});
    let p = perms(auth.clone(), sensor, None, None);
    table(&p, &[(W, "sensors/s1/t", 0, false, Allow), (S, "sensors/#", 0, false, Deny)]);
    let operator =
        json!({"realm_access": {"roles": ["operator"]}, "resource_access": {"mqtt": {"roles": ["read-all"]}}});
    let p = perms(auth.clone(), operator, None, None);
    table(
        &p,
        &[(S, "sensors/#", 0, false, Allow), (R, "sensors/s1/t", 0, false, Allow), (W, "sensors/s1/t", 0, false, Deny)],
    );
    // Every condition of a rule must hold.
    let half = json!({"realm_access": {"roles": ["operator"]}});
    assert_eq!(perms(auth, half, None, None).check(S, "sensors/#", 0, false), Deny);
}

#[test]
fn emqx_rule_list() {
    let acl = json!([
        {"permission": "allow", "action": "publish", "topic": "t/${clientid}"},
        {"permission": "allow", "action": "subscribe", "topic": "eq t/1/#", "qos": [1]},
        {"permission": "deny", "action": "publish", "topic": "t/2", "retain": true},
        {"permission": "deny", "action": "all", "topic": "t/3"},
        {"permission": "allow", "action": "all", "topic": "t/#"},
        {"permission": "allow", "action": "publish", "topic": "u/%u/%c", "qos": 0}
    ]);
    let p = perms(json!({}), json!({"acl": acl}), Some("c1"), Some("alice"));
    table(
        &p,
        &[
            (W, "t/c1", 2, true, Allow),
            // `eq`: only that exact filter, at QoS 1; later `t/#` still grants other subscriptions.
            (S, "eq t/1/#", 1, false, Deny),
            (S, "t/1/#", 1, false, Allow),
            (S, "t/1/#", 0, false, Allow),
            (R, "t/1/x", 0, false, Allow),
            (W, "t/2", 0, true, Deny),
            (W, "t/2", 0, false, Allow),
            (R, "t/2", 0, true, Allow),
            (W, "t/3", 0, false, Deny),
            (S, "t/3", 0, false, Deny),
            (R, "t/3", 0, false, Deny),
            // A deny does not cover a broader subscription; READ then filters what it delivers.
            (S, "t/#", 0, false, Allow),
            (W, "u/alice/c1", 0, false, Allow),
            (W, "u/alice/c1", 1, false, Deny),
            (W, "x", 0, false, Deny),
        ],
    );
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
}

#[test]
fn emqx_exact_filter_alone() {
    let acl = json!([{"permission": "allow", "action": "subscribe", "topic": "eq t/1/#", "qos": [1]}]);
    let p = perms(json!({}), json!({"acl": acl}), None, None);
    table(
        &p,
        &[
            (S, "t/1/#", 1, false, Allow),
            (S, "t/1/#", 0, false, Deny),
            (S, "t/1/x", 1, false, Deny),
            (S, "$share/g/t/1/#", 1, false, Allow),
            // What the exact subscription delivers may be read.
            (R, "t/1/x", 0, false, Allow),
        ],
    );
}

#[test]
fn emqx_old_format() {
    let acl = json!({"pub": ["up/%c", "up/${username}/x"], "sub": ["down/#", "eq raw/#"], "all": "both/+"});
    let p = perms(json!({}), json!({"acl": acl}), Some("c1"), Some("alice"));
    table(
        &p,
        &[
            (W, "up/c1", 0, false, Allow),
            (W, "up/alice/x", 0, false, Allow),
            (W, "up/c2", 0, false, Deny),
            (S, "up/c1", 0, false, Deny),
            (S, "down/a/#", 0, false, Allow),
            (R, "down/a", 0, false, Allow),
            (W, "down/a", 0, false, Deny),
            (S, "raw/#", 0, false, Allow),
            (S, "raw/x", 0, false, Deny),
            (W, "both/x", 0, false, Allow),
            (S, "both/+", 0, false, Allow),
        ],
    );
    // Injection through the client id in the old format too.
    let acl = json!({"pub": ["up/%c"], "sub": ["down/${clientid}/#"]});
    let p = perms(json!({}), json!({"acl": acl}), Some("#"), None);
    table(&p, &[(W, "up/x", 0, false, Deny), (S, "down/#", 0, false, Deny), (S, "down/x/#", 0, false, Deny)]);
    warned(&p, &["claim acl.pub[0]", "client id"]);
}

#[test]
fn emqx_old_format_bad_items_are_skipped_alone() {
    let acl = json!({"pub": ["ok", 3, "a/#/b", "x/${cert_common_name}"], "sub": 1, "deny": ["x"]});
    let p = perms(json!({}), json!({"acl": acl}), None, None);
    assert_eq!(p.check(W, "ok", 0, false), Allow);
    warned(&p, &["acl.pub[1]"]);
    warned(&p, &["acl.pub[2]"]);
    warned(&p, &["acl.pub[3]", "cert_common_name"]);
    warned(&p, &["acl.sub"]);
    warned(&p, &["unknown key", "deny"]);
}

/// One entry that cannot be understood rejects the whole rule list: a dropped deny must not leave
/// the allows after it standing.
#[test]
fn emqx_rule_list_with_a_bad_entry_is_ignored_whole() {
    let bad_entries = [
        json!({"permission": "deny", "action": "publish", "topic": 5}),
        json!({"permission": "refuse", "action": "publish", "topic": "t/secret"}),
        json!({"permission": "deny", "action": "pub", "topic": "t/secret"}),
        json!({"permission": "deny", "action": "publish", "topic": "t/#/x"}),
        json!({"permission": "deny", "action": "publish", "topic": "t/secret", "qos": [3]}),
        json!({"permission": "deny", "action": "publish", "topic": "t/secret", "retain": "yes"}),
        json!({"permission": "deny", "action": "publish", "topic": "t/${cert_common_name}"}),
        json!({"permission": "allow", "action": "publish", "topic": "t/secret", "clientid_re": "^x$"}),
        json!("t/secret"),
    ];
    for bad in bad_entries {
        let acl = json!([bad, {"permission": "allow", "action": "all", "topic": "t/#"}]);
        let p = perms(json!({}), json!({"acl": acl}), None, None);
        assert_eq!(p.check(W, "t/secret", 0, false), Deny, "{bad}");
        assert_eq!(p.check(W, "t/other", 0, false), Deny, "{bad}");
        warned(&p, &["claim acl", "[0]", "whole claim is ignored"]);
    }
}

#[test]
fn emqx_rule_list_deny_widens_on_injection() {
    let acl = json!([
        {"permission": "deny", "action": "publish", "topic": "eq t/${clientid}/admin"},
        {"permission": "allow", "action": "all", "topic": "t/#"}
    ]);
    let p = perms(json!({}), json!({"acl": acl}), Some("a/b"), None);
    table(&p, &[(W, "t/x/admin", 0, false, Deny), (W, "t/x/data", 0, false, Allow)]);
}

#[test]
fn acl_claim_name_and_off() {
    let claims = json!({"perm": {"pub": ["a"]}, "acl": {"pub": ["b"]}});
    let p = perms(json!({"aclClaim": "perm"}), claims.clone(), None, None);
    table(&p, &[(W, "a", 0, false, Allow), (W, "b", 0, false, Deny)]);
    let p = perms(json!({"aclClaim": false}), claims, None, None);
    table(&p, &[(W, "a", 0, false, Deny), (W, "b", 0, false, Deny)]);
}

#[test]
fn order_of_sources() {
    let auth = json!({"rules": [
        {"permission": "allow", "action": "all", "topic": "cfg/open/#"},
        {"permission": "deny", "action": "all", "topic": "cfg/#"},
        {"permission": "allow", "action": "all", "topic": "shared/#"}
    ]});
    let claims = json!({
        "topics": ["cfg/#", "claimed/#"],
        "acl": [
            {"permission": "deny", "action": "all", "topic": "shared/locked"},
            {"permission": "deny", "action": "publish", "topic": "claimed/ro"},
            {"permission": "allow", "action": "all", "topic": "acl/#"}
        ]
    });
    let p = perms(auth, claims, None, None);
    table(
        &p,
        &[
            // jwt.json: first match wins, and its deny beats every grant from the token.
            (W, "cfg/open/x", 0, false, Allow),
            (W, "cfg/closed", 0, false, Deny),
            // The acl claim's deny beats a jwt.json allow and the claim lists.
            (W, "shared/locked", 0, false, Deny),
            (W, "shared/other", 0, false, Allow),
            (W, "claimed/ro", 0, false, Deny),
            (R, "claimed/ro", 0, false, Allow),
            (W, "claimed/rw", 0, false, Allow),
            (W, "acl/x", 0, false, Allow),
            (W, "nowhere", 0, false, Deny),
        ],
    );
}

#[test]
fn conditions_on_qos_and_retain() {
    let auth = json!({"rules": [
        {"permission": "deny", "action": "all", "topic": "#", "qos": [2]},
        {"permission": "deny", "action": "all", "topic": "#", "retain": true},
        {"permission": "allow", "action": "all", "topic": "a/#", "qos": [0, 1], "retain": false}
    ]});
    let p = perms(auth, json!({}), None, None);
    table(
        &p,
        &[
            (W, "a/x", 1, false, Allow),
            (W, "a/x", 2, false, Deny),
            (W, "a/x", 0, true, Deny),
            (S, "a/#", 1, false, Allow),
            (S, "a/#", 2, false, Deny),
            // Deliveries are not blocked by what the client may send: a QoS 2 or retained message
            // still reaches a subscription the client was allowed to make.
            (R, "a/x", 2, true, Allow),
            (R, "b/x", 0, false, Deny),
        ],
    );
}

#[test]
fn shared_subscriptions_and_dollar_topics() {
    let p = perms(json!({}), json!({"subs": ["a/#", "#"], "publ": ["#"]}), None, None);
    table(
        &p,
        &[
            (S, "$share/g/a/+/b", 0, false, Allow),
            (S, "$share/g/#", 0, false, Allow),
            (S, "$share//a", 0, false, Deny),
            (S, "$share/g/", 0, false, Deny),
            (S, "$share/+/a", 0, false, Deny),
            (S, "$SYS/#", 0, false, Deny),
            (S, "$share/g/$SYS/#", 0, false, Deny),
            (R, "$SYS/broker/uptime", 0, false, Deny),
            (W, "$CONTROL/x/v1", 0, false, Deny),
            (R, "a//b", 0, false, Allow),
        ],
    );
    let p = perms(json!({}), json!({"subs": ["$SYS/#"], "publ": ["$CONTROL/jwt/v1"]}), None, None);
    table(
        &p,
        &[
            (S, "$SYS/broker/+", 0, false, Allow),
            (R, "$SYS/x", 0, false, Allow),
            (W, "$CONTROL/jwt/v1", 0, false, Allow),
        ],
    );
}

#[test]
fn malformed_requests_are_denied() {
    let p = perms(json!({}), json!({"topics": ["#"]}), None, None);
    table(
        &p,
        &[
            (W, "a/+", 0, false, Deny),
            (W, "a/#", 0, false, Deny),
            (W, "", 0, false, Deny),
            (R, "a/+", 0, false, Deny),
            (S, "a/#/b", 0, false, Deny),
            (S, "a+", 0, false, Deny),
            (S, "", 0, false, Deny),
            (W, "a", 3, false, Allow),
        ],
    );
}

#[test]
fn no_match_and_defer() {
    let p = perms(
        json!({"noMatch": "defer"}),
        json!({"publ": ["a"], "acl": [{"permission": "deny", "action": "all", "topic": "b"}]}),
        None,
        None,
    );
    table(
        &p,
        &[(W, "a", 0, false, Allow), (W, "b", 0, false, Deny), (W, "c", 0, false, Defer), (U, "c", 0, false, Allow)],
    );
    assert!(!p.defers_everything());
    let p = perms(json!({"defer": true}), json!({"publ": ["a"]}), None, None);
    assert!(p.defers_everything());
    for access in [R, W, S, U] {
        assert_eq!(p.check(access, "a", 0, false), Defer);
    }
}

#[test]
fn the_claims_read_are_those_the_configuration_names() {
    let c = cfg(json!({
    "claims": {"publish": ["p"], "subscribe": ["s"], "both": [], "resources": ["res"]},
    "aclClaim": "https://example.com/acl",
    "rules": [
        {"permission": "deny", "action": "publish", "topic": "t/%{tenant.id}/#",
         "if": [{"claim": "realm_access.roles", "contains": "x"}]},
        {"permission": "allow", "action": "subscribe", "topic": "u/%u/%c"}
    ]}));
    let want = [
        "p",
        "s",
        "res",
        "https://example.com/acl",
        "https://example",
        "realm_access.roles",
        "realm_access",
        "tenant.id",
        "tenant",
    ];
    assert_eq!(c.claims_read(), want);
    assert!(cfg(json!({"defer": true})).claims_read().is_empty());
}

/// The lists and text of one CONNECT's compilation are reused for the next: nothing of one client's
/// permissions may reach another's, whatever the first left behind (a widened deny, a dropped allow).
#[test]
fn one_compilation_leaves_nothing_to_the_next() {
    let auth = json!({"rules": [
        {"permission": "deny", "action": "publish", "topic": "x/%{tenant}/#"},
        {"permission": "allow", "action": "all", "topic": "t/%{tenant}/#"}
    ]});
    let first = perms(auth.clone(), json!({"tenant": "a/b", "publ": ["p/#"], "subs": ["s/#", 5]}), None, None);
    warned(&first, &["claim tenant"]);
    table(&first, &[(W, "x/any/1", 0, false, Deny), (W, "p/1", 0, false, Allow), (W, "t/a/b", 0, false, Deny)]);
    let second = perms(auth.clone(), json!({}), None, None);
    assert!(second.warnings().is_empty(), "{:?}", second.warnings());
    table(&second, &[(W, "p/1", 0, false, Deny), (S, "s/1", 0, false, Deny), (W, "x/any/1", 0, false, Deny)]);
    let third = perms(auth, json!({"tenant": "c"}), None, None);
    assert_eq!(
        third.describe(),
        ["rule: deny publish x/c/#", "rule: allow publish+subscribe t/c/#", "anything else: denied"]
    );
    assert_eq!(third.granted.text(), "x/c/#t/c/#", "only this compilation's filters");
}

/// The three lists keep their order of decision whatever order they were filled in (the `acl`
/// claim is read after the grants, but decides before them).
#[test]
fn lists_are_decided_in_order_whatever_order_they_are_filled() {
    let p = perms(
        json!({"aclClaim": "acl", "rules": [{"permission": "allow", "action": "publish", "topic": "r/#"}]}),
        json!({"publ": ["g/#"], "acl": [{"permission": "deny", "action": "publish", "topic": "g/no"}]}),
        None,
        None,
    );
    assert_eq!(
        p.describe(),
        [
            "rule: allow publish r/#",
            "acl claim: deny publish g/no",
            "grant: allow publish g/#",
            "anything else: denied"
        ]
    );
    table(&p, &[(W, "g/no", 0, false, Deny), (W, "g/yes", 0, false, Allow), (W, "r/1", 0, false, Allow)]);
}

/// Permissions compiled without filling `%c` or `%u` hold for any identity (a reconnect under
/// another client id may reuse them); with either, or with one found missing, only for their own.
#[test]
fn permissions_hold_for_the_identities_compiling_read() {
    let claims = json!({"publ": ["a/#"], "tenant": "t1"});
    let plain = json!({"rules": [{"permission": "allow", "action": "all", "topic": "x/%{tenant}/#"}]});
    let with = |topic: &str| json!({"rules": [{"permission": "allow", "action": "all", "topic": topic}]});
    let any = perms(plain, claims.clone(), Some("c1"), Some("alice"));
    assert!(any.granted.is_for("c2", None) && any.granted.is_for("c1", Some("alice")));
    for topic in ["u/%u", "c/%c", "missing/%u"] {
        let username = (topic != "missing/%u").then_some("alice");
        let own = perms(with(topic), claims.clone(), Some("c1"), username);
        assert!(own.granted.is_for("c1", username), "{topic}");
        assert!(!own.granted.is_for("c2", username), "{topic}: another client id");
        assert!(!own.granted.is_for("c1", Some("bob")), "{topic}: another username");
    }
    let deferred = perms(json!({"defer": true}), claims, Some("c1"), None);
    assert!(deferred.granted.is_for("c2", Some("u")));
}
