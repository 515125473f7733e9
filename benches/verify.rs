//! Cost of one token verification per algorithm (signature + claims + time), and of a reconnect
//! that hits the verified-token cache.
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use mqtt_jwt_auth::alg::{Alg, KeyKind, ALL};
use mqtt_jwt_auth::config::Config;
use mqtt_jwt_auth::keys::{encode_jws, Signer};
use mqtt_jwt_auth::loaded::Loaded;
use serde_json::json;
use std::path::PathBuf;

const HS_SECRET: &str = "dev-secret-change-me-0123456789abcdef";
/// HS384 and HS512 need at least 48 and 64 bytes (RFC 7518 §3.2).
const HS512_SECRET: &str = "dev-secret-for-hs384-and-hs512-change-me-0123456789abcdefghijklmn";
/// A fixed clock: tokens are issued at NOW and valid for an hour.
const NOW: i64 = 1_750_000_000;

fn key_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/keys").join(name)
}

fn key_bytes(name: &str) -> Vec<u8> {
    std::fs::read(key_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The verifying engine for `alg` (fixture public key or secret) and the signer.
fn setup(alg: Alg, cache: bool) -> (Loaded, Signer) {
    let (local, signing) = match alg.key_kind() {
        KeyKind::Hmac => {
            let secret = if alg == Alg::HS256 { HS_SECRET } else { HS512_SECRET };
            (json!(secret), secret.as_bytes().to_vec())
        }
        kind => {
            let (public, private) = match kind {
                KeyKind::Rsa => ("rsa.pub.pem", "rsa.key"),
                KeyKind::EcP256 => ("ec256.pub.pem", "ec256.key"),
                KeyKind::EcP384 => ("ec384.pub.pem", "ec384.key"),
                KeyKind::EcP521 => ("ec521.pub.pem", "ec521.key"),
                _ => ("ed25519.pub.pem", "ed25519.key"),
            };
            (json!({"filePath": key_path(public)}), key_bytes(private))
        }
    };
    let cfg = json!({
        "version": 1,
        "algorithm": alg.name(),
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
    let engine = Loaded::new(Config::parse(&cfg.to_string()).unwrap()).unwrap().0;
    (engine, Signer::new(alg, &signing).unwrap())
}

/// A realistic access token: ten claims, issuer and audience checked.
fn token(signer: &Signer) -> String {
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
    encode_jws(signer, Some("bench-key"), &claims).unwrap()
}

fn verify_per_algorithm(c: &mut Criterion) {
    let mut g = c.benchmark_group("Verifier::verify");
    for alg in ALL {
        let (engine, signer) = setup(alg, false);
        let t = token(&signer);
        let now = (NOW + 60) as f64;
        engine.verify_uncached(&t, now).expect("the benchmark token verifies");
        g.bench_function(alg.name(), |b| b.iter(|| engine.verify_uncached(black_box(&t), black_box(now)).unwrap()));
    }
    g.finish();
}

fn authenticate_cached(c: &mut Criterion) {
    let mut g = c.benchmark_group("Loaded::authenticate");
    let (engine, signer) = setup(Alg::RS256, true);
    let t = token(&signer);
    let now = (NOW + 60) as f64;
    engine.authenticate(&t, now).expect("the benchmark token verifies");
    assert_eq!(engine.cached_tokens(), 1);
    g.bench_function("RS256 cache hit", |b| b.iter(|| engine.authenticate(black_box(&t), black_box(now)).unwrap()));

    let (uncached, _) = setup(Alg::RS256, false);
    g.bench_function("RS256 cache off", |b| b.iter(|| uncached.authenticate(black_box(&t), black_box(now)).unwrap()));
    g.finish();
}

criterion_group!(benches, verify_per_algorithm, authenticate_cached);
criterion_main!(benches);
