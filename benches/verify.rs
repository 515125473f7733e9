//! Cost of one token verification per algorithm (signature + claims + time), and of a reconnect
//! that hits the verified-token cache.
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mqtt_jwt_auth::config::Config;
use mqtt_jwt_auth::engine::Engine;
use serde_json::json;
use std::path::PathBuf;

const HS_SECRET: &str = "dev-secret-change-me-0123456789abcdef";
/// A fixed clock: tokens are issued at NOW and valid for an hour.
const NOW: i64 = 1_750_000_000;

fn key_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/keys").join(name)
}

fn key_bytes(name: &str) -> Vec<u8> {
    std::fs::read(key_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The verifying engine for `alg` (fixture public key or secret) and the signing key.
fn setup(alg: Algorithm, cache: bool) -> (Engine, EncodingKey) {
    let (name, local, enc) = match alg {
        Algorithm::HS256 => ("HS256", json!(HS_SECRET), EncodingKey::from_secret(HS_SECRET.as_bytes())),
        Algorithm::RS256 | Algorithm::PS256 => (
            if alg == Algorithm::RS256 { "RS256" } else { "PS256" },
            json!({"filePath": key_path("rsa.pub.pem")}),
            EncodingKey::from_rsa_pem(&key_bytes("rsa.key")).unwrap(),
        ),
        Algorithm::ES256 => (
            "ES256",
            json!({"filePath": key_path("ec256.pub.pem")}),
            EncodingKey::from_ec_pem(&key_bytes("ec256.key")).unwrap(),
        ),
        Algorithm::ES384 => (
            "ES384",
            json!({"filePath": key_path("ec384.pub.pem")}),
            EncodingKey::from_ec_pem(&key_bytes("ec384.key")).unwrap(),
        ),
        Algorithm::EdDSA => (
            "EdDSA",
            json!({"filePath": key_path("ed25519.pub.pem")}),
            EncodingKey::from_ed_pem(&key_bytes("ed25519.key")).unwrap(),
        ),
        other => panic!("no fixture for {other:?}"),
    };
    let cfg = json!({
        "version": 1,
        "algorithm": name,
        "mode": "local",
        "options": {
            "modes": {"local": local},
            "common": {
                "issuer": "https://idp.example.com/realms/*",
                "audience": ["mqtt", "/broker-(eu|us)/"],
                "matchUsernameToSubject": true
            },
            "verifiedTokenCache": {"enabled": cache}
        }
    });
    let engine = Engine::new(Config::parse(&cfg.to_string()).unwrap()).unwrap().0;
    (engine, enc)
}

/// A realistic access token: ten claims, issuer and audience checked.
fn token(alg: Algorithm, key: &EncodingKey) -> String {
    let claims = json!({
        "iss": "https://idp.example.com/realms/iot",
        "sub": "7f9c2a1e-5b3d-4c8e-9a10-2b6f4d8e1c3a",
        "aud": ["account", "mqtt"],
        "exp": NOW + 3600,
        "iat": NOW,
        "nbf": NOW,
        "jti": "b1d0f8c2-2a7e-4f61-8d55-0c9e3a7b4f12",
        "azp": "device-fleet",
        "scope": "openid mqtt:publish mqtt:subscribe",
        "device": {"id": "sensor-0042", "site": "plant-3"}
    });
    let mut h = Header::new(alg);
    h.kid = Some("bench-key".into());
    jsonwebtoken::encode(&h, &claims, key).unwrap()
}

fn verify_per_algorithm(c: &mut Criterion) {
    let mut g = c.benchmark_group("Verifier::verify");
    for (label, alg) in [
        ("HS256", Algorithm::HS256),
        ("RS256", Algorithm::RS256),
        ("PS256", Algorithm::PS256),
        ("ES256", Algorithm::ES256),
        ("ES384", Algorithm::ES384),
        ("EdDSA", Algorithm::EdDSA),
    ] {
        let (engine, key) = setup(alg, false);
        let t = token(alg, &key);
        let now = (NOW + 60) as f64;
        engine.verify_uncached(&t, now).expect("the benchmark token verifies");
        g.bench_function(label, |b| b.iter(|| engine.verify_uncached(black_box(&t), black_box(now)).unwrap()));
    }
    g.finish();
}

fn authenticate_cached(c: &mut Criterion) {
    let mut g = c.benchmark_group("Engine::authenticate");
    let (engine, key) = setup(Algorithm::RS256, true);
    let t = token(Algorithm::RS256, &key);
    let now = (NOW + 60) as f64;
    engine.authenticate(&t, now).expect("the benchmark token verifies");
    assert_eq!(engine.cached_tokens(), 1);
    g.bench_function("RS256 cache hit", |b| b.iter(|| engine.authenticate(black_box(&t), black_box(now)).unwrap()));

    let (uncached, _) = setup(Algorithm::RS256, false);
    g.bench_function("RS256 cache off", |b| b.iter(|| uncached.authenticate(black_box(&t), black_box(now)).unwrap()));
    g.finish();
}

criterion_group!(benches, verify_per_algorithm, authenticate_cached);
criterion_main!(benches);
