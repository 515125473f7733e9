//! Shared by the fuzz targets: the test fixtures' JWK set and a verifier that allows every algorithm.
#![allow(dead_code)]
use mqtt_jwt_auth::keys::{parse_jwk_set, KeySet, Origin};
use mqtt_jwt_auth::pattern::Pattern;
use mqtt_jwt_auth::verify::Verifier;

/// tests/keys/jwks.json: RSA, EC P-256/P-384/P-521, Ed25519.
pub const JWKS: &str = include_str!("../../tests/keys/jwks.json");
/// tests/keys/jwks-oct.json: HMAC keys (kid "hs-1", "hs-512"); a file cannot hold both kinds.
pub const JWKS_OCT: &str = include_str!("../../tests/keys/jwks-oct.json");
/// The secret of the JWK "hs-1" in tests/keys/jwks-oct.json.
pub const HS_SECRET: &[u8] = b"jwks-shared-secret-for-tests-0123456789";

/// Both fixture sets in one key set, so every algorithm has a key.
pub fn keys() -> KeySet {
    let mut keys = parse_jwk_set(JWKS, Origin::File).expect("fixture JWK set").0;
    keys.extend(parse_jwk_set(JWKS_OCT, Origin::File).expect("fixture oct JWK set").0);
    KeySet { keys }
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
        last_header: Default::default(),
        issuers_seen: Default::default(),
    }
}
