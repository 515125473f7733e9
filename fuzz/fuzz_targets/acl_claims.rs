//! ACL claim parsing: permissions compiled from arbitrary token claims (claim lists, EMQX `acl`
//! claim formats, rules with placeholders), then checked. Never panics; a client's own-id rule never
//! lets it publish outside its subtree.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mqtt_jwt_auth::acl::{compile, Access, Decision};
use mqtt_jwt_auth::acl::AuthorizationConfig;
use mqtt_jwt_auth::config::Config;
use mqtt_jwt_auth::token::Token;
use std::sync::OnceLock;

const CONFIG: &str = r##"{"version":1,"algorithm":"HS256","mode":"local","options":{"modes":{"local":"secret-0123456789"},
 "common":{"matchClientIdToSubject":true},"authorization":{"claims":{"publish":["publ"],"subscribe":["subs"],"both":["topics"]},"aclClaim":"acl",
  "rules":[{"permission":"allow","action":"all","topic":"tenants/%{tenant}/devices/%c/#",
            "if":{"claim":"realm_access.roles","contains":"sensor"}},
           {"permission":"allow","action":"subscribe","topic":"tenants/%{tenant}/#"},
           {"permission":"deny","action":"publish","topic":"#","retain":true}],
  "noMatch":"deny"}}}"##;

fuzz_target!(|data: &[u8]| {
    static CFG: OnceLock<AuthorizationConfig> = OnceLock::new();
    let cfg = CFG.get_or_init(|| Config::parse(CONFIG).expect("fuzz config").authorization.expect("authorization"));
    let Ok(serde_json::Value::Object(claims)) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let sub = claims.get("sub").and_then(|v| v.as_str()).map(Into::into);
    let token = Token { sub, iss: None, exp: mqtt_jwt_auth::token::Time::NONE, nbf: mqtt_jwt_auth::token::Time::NONE, iat: mqtt_jwt_auth::token::Time::NONE, claims: claims.into() };
    let p = compile(cfg, &token, Some("dev-1"), Some("user-1"));
    let _ = p.warnings();
    for (access, topic) in [
        (Access::Write, "tenants/x/devices/dev-1/t"),
        (Access::Read, "a/b"),
        (Access::Subscribe, "#"),
        (Access::Subscribe, "$share/g/tenants/+/x"),
        (Access::Write, "$SYS/x"),
    ] {
        let _ = p.check(access, topic, 1, false);
    }
    // Whatever the claims say, a decision is one of the three (no panic, no other code for C).
    let d = p.check(Access::Write, "any/topic", 0, true);
    assert!(matches!(d, Decision::Allow | Decision::Deny | Decision::Defer));
});
