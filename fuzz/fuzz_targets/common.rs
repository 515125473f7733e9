//! Shared by the fuzz targets: the test fixtures' JWK set and a verifier that allows every algorithm.
#![allow(dead_code)]
use mqtt_jwt_auth::keys::{parse_jwk_set, KeySet};
use mqtt_jwt_auth::pattern::Pattern;
use mqtt_jwt_auth::verify::Verifier;

/// tests/keys/jwks.json: RSA, EC P-256/P-384, Ed25519 and an HMAC key (kid "hs-1").
pub const JWKS: &str = include_str!("../../tests/keys/jwks.json");
/// The secret of the JWK "hs-1" in tests/keys/jwks.json.
pub const HS_SECRET: &[u8] = b"jwks-shared-secret-for-tests-0123456789";

pub fn keys() -> KeySet {
    KeySet { keys: parse_jwk_set(JWKS).expect("fixture JWK set").0 }
}

pub fn verifier() -> Verifier {
    Verifier {
        algorithms: mqtt_jwt_auth::alg::ALL.to_vec(),
        issuers: vec![Pattern::compile("https://idp/*").unwrap(), Pattern::compile("/tenant-[a-z]+/").unwrap()],
        audiences: vec![Pattern::compile("mqtt").unwrap()],
        required_scopes: vec!["mqtt".into()],
        validate_expiration: true,
        leeway: 5.0,
        max_token_bytes: 16 * 1024,
    }
}
