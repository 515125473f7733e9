//! Token minting with the fixture keys in tests/keys.
use super::broker::keys_dir;
use mqtt_jwt_auth::alg::Alg;
use mqtt_jwt_auth::keys::Signer;
use serde_json::{json, Value};

pub const HS_SECRET: &str = "dev-secret-change-me-0123456789abcdef";
/// Long enough for HS384 and HS512 (RFC 7518 §3.2: at least the hash size); tests/keys/hs512.secret.
pub const HS512_SECRET: &str = "dev-secret-for-hs384-and-hs512-change-me-0123456789abcdefghijklmn";

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

pub fn key_file(name: &str) -> Vec<u8> {
    std::fs::read(keys_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The plugin's own signer with the fixture key of `alg` (every algorithm, ES512 included).
pub fn signer(alg: Alg) -> Signer {
    use mqtt_jwt_auth::alg::KeyKind;
    let key = match alg {
        Alg::HS256 => HS_SECRET.as_bytes().to_vec(),
        Alg::HS384 | Alg::HS512 => HS512_SECRET.as_bytes().to_vec(),
        _ => key_file(match alg.key_kind() {
            KeyKind::EcP256 => "ec256.key",
            KeyKind::EcP384 => "ec384.key",
            KeyKind::EcP521 => "ec521.key",
            KeyKind::Ed25519 => "ed25519.key",
            _ => "rsa.key",
        }),
    };
    Signer::new(alg, &key).unwrap()
}

/// Signed by the plugin's own signer (see [`signer`]).
pub fn sign_with(signer: &Signer, kid: Option<&str>, claims: &Value) -> String {
    mqtt_jwt_auth::keys::encode_jws(signer, kid, claims).unwrap()
}

/// Under `header` as given (its alg is not checked against the signer's: for forgeries).
pub fn sign_header(signer: &Signer, header: &Value, claims: &Value) -> String {
    mqtt_jwt_auth::keys::encode_jws_with_header(signer, header, claims).unwrap()
}

/// HS256 with `secret` (header `{"typ":"JWT","alg":"HS256"}`).
pub fn hs256(secret: &str, claims: &Value) -> String {
    sign_with(&Signer::new(Alg::HS256, secret.as_bytes()).unwrap(), None, claims)
}

/// Standard claims valid for an hour, merged with `extra` (null values remove a claim).
pub fn claims(sub: &str, extra: Value) -> Value {
    let mut c = json!({"sub": sub, "iat": now(), "exp": now() + 3600});
    if let (Some(m), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            if v.is_null() {
                m.remove(k);
            } else {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    c
}

/// A token for `sub`, signed by the fixture key of `alg`.
pub fn token(alg: Alg, sub: &str, extra: Value) -> String {
    sign_with(&signer(alg), None, &claims(sub, extra))
}

/// Hand-built token: any header JSON, any claims, any signature bytes (for attacks).
pub fn raw(header: &Value, claims: &Value, signature: &[u8]) -> String {
    use base64::Engine;
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("{}.{}.{}", e.encode(header.to_string()), e.encode(claims.to_string()), e.encode(signature))
}

/// HMAC-SHA256 over arbitrary bytes (the "public key as HMAC secret" attack).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    aws_lc_rs::hmac::sign(&k, msg).as_ref().to_vec()
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` from the fixed-width JOSE form.
pub fn ecdsa_der(fixed: &[u8]) -> Vec<u8> {
    fn int(x: &[u8]) -> Vec<u8> {
        let mut v: Vec<u8> = x.iter().copied().skip_while(|b| *b == 0).collect();
        if v.first().is_none_or(|b| b & 0x80 != 0) {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    }
    let (r, s) = fixed.split_at(fixed.len() / 2);
    let body = [int(r), int(s)].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

/// A jwt.json with the HS256 test secret and `matchUsernameToSubject`, plus `options` (keys of
/// `options.common` merge into it; the others replace).
pub fn hs256_config(options: &Value) -> String {
    let mut o = json!({"modes": {"local": HS_SECRET}, "common": {"matchUsernameToSubject": true}});
    for (k, v) in options.as_object().unwrap() {
        if k == "common" {
            o["common"].as_object_mut().unwrap().extend(v.as_object().unwrap().clone());
        } else {
            o[k] = v.clone();
        }
    }
    json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": o}).to_string()
}
