//! `options.issuerKeys` without a broker: the token's `iss` picks the key source; an unknown or
//! missing issuer is refused before any key is looked at.
#[path = "support/mod.rs"]
mod support;

use mqtt_jwt_auth::alg::Alg;
use mqtt_jwt_auth::config::Config;
use mqtt_jwt_auth::loaded::Loaded;
use mqtt_jwt_auth::refusal::Reason;
use serde_json::json;
use support::broker::keys_dir;
use support::tokens::{self, claims, sign_with, signer};

fn engine() -> Loaded {
    let jwks = keys_dir().join("jwks.json").display().to_string();
    let cfg = json!({"version": 1, "algorithm": ["RS256", "ES256"], "mode": "jwks", "options": {"issuerKeys": [
        {"issuer": "https://a.example", "filePath": jwks},
        {"issuer": "tenant-b", "filePath": jwks}
    ]}});
    Loaded::new(Config::parse(&cfg.to_string()).unwrap()).unwrap().0
}

fn now() -> f64 {
    tokens::now() as f64
}

fn token(iss: serde_json::Value) -> String {
    sign_with(&signer(Alg::ES256), Some("ec-256"), &claims("d", json!({ "iss": iss })))
}

#[test]
fn the_tokens_issuer_picks_its_keys() {
    let e = engine();
    assert!(!e.keys.has_remote());
    for iss in ["https://a.example", "tenant-b"] {
        e.authenticate(&token(json!(iss)), now()).unwrap_or_else(|r| panic!("{iss}: {r}"));
    }
    let r = e.authenticate(&token(json!("https://c.example")), now()).unwrap_err();
    assert_eq!(r.reason, Reason::WrongIssuer);
    assert!(r.detail.contains("not a configured issuer"), "{r}");
    // Exact match only: no prefix, no trailing slash.
    for iss in ["https://a.example/", "tenant-b2", "TENANT-B"] {
        assert_eq!(e.authenticate(&token(json!(iss)), now()).unwrap_err().reason, Reason::WrongIssuer, "{iss}");
    }
    assert_eq!(e.authenticate(&token(json!(5)), now()).unwrap_err().reason, Reason::WrongIssuer);
    let no_iss = sign_with(&signer(Alg::ES256), Some("ec-256"), &claims("d", json!({})));
    assert_eq!(e.authenticate(&no_iss, now()).unwrap_err().reason, Reason::WrongIssuer);
    assert_eq!(e.authenticate("a.b.c", now()).unwrap_err().reason, Reason::Malformed);
    assert_eq!(e.authenticate("nodots", now()).unwrap_err().reason, Reason::Malformed);
}
