//! JWK sets (RFC 7517): RSA, EC P-256/P-384, OKP Ed25519, oct. Unusable keys are skipped with a
//! warning rather than failing the whole set; `use` and `alg` are honoured.
use super::{der, KeyBytes, SigKey, VerifyKey};
use crate::alg::{Alg, KeyKind};
use base64::Engine;
use serde_json::{Map, Value};

/// Parses `{"keys": [...]}`; returns the usable keys and one warning per skipped key.
pub fn parse_jwk_set(text: &str) -> Result<(Vec<VerifyKey>, Vec<String>), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let keys = v.get("keys").and_then(Value::as_array).ok_or("expected an object with a \"keys\" array")?;
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        match k.as_object().ok_or_else(|| "not an object".to_string()).and_then(parse_jwk) {
            Ok(Some(key)) => out.push(key),
            Ok(None) => {}
            Err(e) => {
                let kid = k.get("kid").and_then(Value::as_str).unwrap_or("-");
                warnings.push(format!("keys[{i}] (kid {}) skipped: {e}", crate::logsafe::clean(kid, 64)));
            }
        }
    }
    if out.is_empty() {
        return Err(format!("no usable key in the set ({} skipped)", warnings.len()));
    }
    Ok((out, warnings))
}

fn field<'a>(k: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    k.get(name).and_then(Value::as_str).ok_or_else(|| format!("missing \"{name}\""))
}

/// `Ok(None)` for keys that are not for signatures (`use: enc`).
fn parse_jwk(k: &Map<String, Value>) -> Result<Option<VerifyKey>, String> {
    if let Some(u) = k.get("use") {
        if u.as_str() != Some("sig") {
            return Ok(None);
        }
    }
    let kid = k.get("kid").and_then(Value::as_str).map(str::to_string);
    let alg = match k.get("alg").and_then(Value::as_str) {
        None => None,
        Some(name) => Some(Alg::parse(name)?),
    };
    let (kind, key) = match field(k, "kty")? {
        "RSA" => (KeyKind::Rsa, rsa(field(k, "n")?, field(k, "e")?)?),
        "EC" => {
            let (kind, len) = match field(k, "crv")? {
                "P-256" => (KeyKind::EcP256, 32),
                "P-384" => (KeyKind::EcP384, 48),
                other => return Err(format!("unsupported curve {other:?}")),
            };
            let mut point = vec![0x04];
            point.extend(coordinate(field(k, "x")?, len)?);
            point.extend(coordinate(field(k, "y")?, len)?);
            (kind, SigKey::new(kind, KeyBytes::Ec(&point))?)
        }
        "OKP" => {
            if field(k, "crv")? != "Ed25519" {
                return Err("unsupported OKP curve (supported: Ed25519)".into());
            }
            let x = coordinate(field(k, "x")?, 32)?;
            (KeyKind::Ed25519, SigKey::new(KeyKind::Ed25519, KeyBytes::Ed25519(&x))?)
        }
        "oct" => {
            let secret = b64(field(k, "k")?)?;
            if secret.is_empty() {
                return Err("empty oct key".into());
            }
            (KeyKind::Hmac, SigKey::new(KeyKind::Hmac, KeyBytes::Secret(&secret))?)
        }
        other => return Err(format!("unsupported kty {other:?}")),
    };
    if let Some(a) = alg {
        if a.key_kind() != kind {
            return Err(format!("alg {} does not fit a {}", a.name(), kind.name()));
        }
    }
    Ok(Some(VerifyKey { kid, kind, alg, key }))
}

fn b64(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).map_err(|e| format!("invalid base64url: {e}"))
}

fn coordinate(s: &str, want: usize) -> Result<Vec<u8>, String> {
    let bytes = b64(s)?;
    if bytes.len() != want {
        return Err(format!("coordinate is {} bytes, expected {want}", bytes.len()));
    }
    Ok(bytes)
}

fn rsa(n: &str, e: &str) -> Result<SigKey, String> {
    let n = b64(n)?;
    let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
    if bits < 2048 {
        return Err(format!("RSA modulus of about {bits} bits is too small (minimum 2048)"));
    }
    SigKey::new(KeyKind::Rsa, KeyBytes::Rsa(&der::rsa_public_key(&n, &b64(e)?)))
}
