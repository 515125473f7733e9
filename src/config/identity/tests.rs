//! `clientIdTakeover`, `nonJwtCredentials`, and the combinations refused at load.
use super::*;
use serde_json::{json, Value};

fn parse(common: Value, extra: Value) -> std::result::Result<Config, ConfigError> {
    let mut v = json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": "s"}, "common": common}});
    for (k, x) in extra.as_object().unwrap() {
        v["options"][k] = x.clone();
    }
    Config::parse(&v.to_string())
}

fn err(common: Value, extra: Value) -> ConfigError {
    parse(common.clone(), extra).err().unwrap_or_else(|| panic!("should not load: {common}"))
}

#[test]
fn defaults_are_the_safe_ones() {
    let c = parse(json!({}), json!({})).unwrap().common;
    assert_eq!(c.client_id_takeover, ClientIdTakeover::SameIdentity);
    assert_eq!(c.non_jwt_credentials, NonJwtCredentials::Refuse);
    let c = parse(json!({"clientIdTakeover": "allow", "nonJwtCredentials": "defer"}), json!({})).unwrap().common;
    assert_eq!((c.client_id_takeover, c.non_jwt_credentials), (ClientIdTakeover::Allow, NonJwtCredentials::Defer));
    let c = parse(json!({"clientIdTakeover": "sameIdentity", "nonJwtCredentials": "refuse"}), json!({})).unwrap();
    assert_eq!(c.common.client_id_takeover, ClientIdTakeover::SameIdentity);
}

#[test]
fn bad_values_name_their_keys() {
    let e = err(json!({"clientIdTakeover": "always"}), json!({}));
    assert_eq!(e.path, "options.common.clientIdTakeover");
    assert!(e.problem.contains("\"sameIdentity\" or \"allow\""), "{e}");
    let e = err(json!({"nonJwtCredentials": true}), json!({}));
    assert_eq!(e.path, "options.common.nonJwtCredentials");
    let e = err(json!({"nonJwtCredentials": "pass"}), json!({}));
    assert!(e.problem.contains("\"refuse\" or \"defer\""), "{e}");
}

#[test]
fn defer_and_credentials_exchange_exclude_each_other() {
    let exchange = json!({"credentialsExchange": {"tokenEndpoint": "https://idp/token"}});
    let e = err(json!({"nonJwtCredentials": "defer"}), exchange.clone());
    assert_eq!(e.path, "options.common.nonJwtCredentials");
    assert!(e.problem.contains("options.credentialsExchange"), "{e}");
    parse(json!({"nonJwtCredentials": "refuse"}), exchange).unwrap();
    // A disabled exchange is no conflict.
    let off = json!({"credentialsExchange": {"enabled": false, "tokenEndpoint": "https://idp/token"}});
    parse(json!({"nonJwtCredentials": "defer"}), off).unwrap();
}

#[test]
fn a_token_in_the_username_needs_a_username_binding() {
    let e = err(json!({"tokenSource": "username"}), json!({}));
    assert_eq!(e.path, "options.common.tokenSource");
    for w in ["matchUsernameToSubject", "matchUsernameToClaim", "logs", "token itself"] {
        assert!(e.problem.contains(w), "{e} should mention {w}");
    }
    parse(json!({"tokenSource": "username", "matchUsernameToSubject": true}), json!({})).unwrap();
    parse(json!({"tokenSource": "username", "matchUsernameToClaim": "client_id"}), json!({})).unwrap();
    parse(json!({"tokenSource": "password"}), json!({})).unwrap();
    // A misspelt binding is reported as the typo.
    let e = err(json!({"tokenSource": "username", "matchUsernameToSubjet": true}), json!({}));
    assert_eq!(e.path, "options.common.matchUsernameToSubjet");
}
