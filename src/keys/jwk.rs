//! JWK sets (RFC 7517): RSA, EC P-256/P-384/P-521, OKP Ed25519, oct. Unusable keys are skipped
//! with a warning rather than failing the whole set; `use`, `key_ops` and `alg` are honoured.
//! Shared secrets never mix with public keys: a file holds one or the other, and a set fetched
//! over HTTP(S) never provides a secret (anyone who can read the endpoint could sign).
use super::{der, KeyBytes, SigKey, VerifyKey};
use crate::alg::{Alg, KeyKind};
use base64::Engine;
use serde_json::{Map, Value};

/// Where a set comes from decides whether `oct` keys may be in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A file the operator configured: only `oct` keys, or no `oct` key at all.
    File,
    /// Fetched over HTTP(S), directly or by discovery: `oct` keys are skipped.
    Remote,
}

/// Why one JWK is not used: silently for keys not meant for signatures, with a warning otherwise.
enum Unused {
    NotForVerifying(String),
    Skipped(String),
}

/// At most this many per-key reasons in one error (a set can be large).
const MAX_REASONS: usize = 12;

/// Parses `{"keys": [...]}`; returns the usable keys and one warning per skipped key (and per
/// `kid` that several keys share: tokens naming it are refused, see [`super::KeySet::candidates`]).
pub fn parse_jwk_set(text: &str, origin: Origin) -> Result<(Vec<VerifyKey>, Vec<String>), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let keys = v.get("keys").and_then(Value::as_array).ok_or("expected an object with a \"keys\" array")?;
    if origin == Origin::File {
        check_not_mixed(keys)?;
    }
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut reasons = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let name = || {
            let kid = k.get("kid").and_then(Value::as_str).unwrap_or("-");
            format!("keys[{i}] (kid {})", crate::logsafe::clean(kid, 64))
        };
        let parsed = match k.as_object() {
            Some(obj) => parse_jwk(obj, origin),
            None => Err(Unused::Skipped("not an object".into())),
        };
        match parsed {
            Ok(key) => out.push(key),
            Err(Unused::NotForVerifying(why)) => reasons.push(format!("{}: {why}", name())),
            Err(Unused::Skipped(why)) => {
                warnings.push(format!("{} skipped: {why}", name()));
                reasons.push(format!("{}: {why}", name()));
            }
        }
    }
    if out.is_empty() {
        if reasons.is_empty() {
            return Err("no usable key in the set: it is empty".into());
        }
        let more = reasons.len().saturating_sub(MAX_REASONS);
        reasons.truncate(MAX_REASONS);
        let tail = if more > 0 { format!("; and {more} more") } else { String::new() };
        return Err(format!("no usable key in the set: {}{tail}", reasons.join("; ")));
    }
    warnings.extend(shared_kids(&out));
    Ok((out, warnings))
}

fn is_public_kty(k: &Value) -> bool {
    matches!(k.get("kty").and_then(Value::as_str), Some("RSA" | "EC" | "OKP"))
}

fn check_not_mixed(keys: &[Value]) -> Result<(), String> {
    let oct: Vec<usize> =
        (0..keys.len()).filter(|i| keys[*i].get("kty").and_then(Value::as_str) == Some("oct")).collect();
    if oct.is_empty() || !keys.iter().any(is_public_kty) {
        return Ok(());
    }
    let at: Vec<String> = oct.iter().take(MAX_REASONS).map(|i| format!("keys[{i}]")).collect();
    Err(format!(
        "the set holds shared secrets (kty \"oct\": {}) beside public keys: one file must hold either \
         public keys or shared secrets; put the oct keys in a file of their own",
        at.join(", ")
    ))
}

/// One warning per kid that more than one usable key carries.
fn shared_kids(keys: &[VerifyKey]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let Some(kid) = k.kid.as_deref() else { continue };
        let first = keys.iter().position(|o| o.kid.as_deref() == Some(kid)) == Some(i);
        let count = keys.iter().filter(|o| o.kid.as_deref() == Some(kid)).count();
        if first && count > 1 {
            out.push(format!(
                "kid {} is shared by {count} keys of the set: tokens naming it are refused (unknown-kid) \
                 until the set names each key once",
                crate::logsafe::clean(kid, 64)
            ));
        }
    }
    out
}

fn field<'a>(k: &'a Map<String, Value>, name: &str) -> Result<&'a str, Unused> {
    k.get(name).and_then(Value::as_str).ok_or_else(|| Unused::Skipped(format!("missing \"{name}\"")))
}

fn skip<T>(why: impl Into<String>) -> Result<T, Unused> {
    Err(Unused::Skipped(why.into()))
}

/// Operations that belong to each `use` (RFC 7517 §4.3: both members, when present, must agree).
const SIG_OPS: [&str; 2] = ["sign", "verify"];

/// `use` and `key_ops`: the key must be for verifying signatures, and the two must not disagree.
fn check_usage(k: &Map<String, Value>) -> Result<(), Unused> {
    let usage = match k.get("use") {
        None => None,
        Some(Value::String(u)) => Some(u.as_str()),
        Some(_) => return skip("\"use\" is not a string"),
    };
    let ops = match k.get("key_ops") {
        None => None,
        Some(Value::Array(items)) => {
            let ops: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            Some(ops.ok_or_else(|| Unused::Skipped("\"key_ops\" is not an array of strings".into()))?)
        }
        Some(_) => return skip("\"key_ops\" is not an array of strings"),
    };
    if let (Some(u), Some(ops)) = (usage, &ops) {
        let for_sig = u == "sig";
        if ops.iter().any(|op| SIG_OPS.contains(op) != for_sig) {
            return skip(format!("\"use\": {u:?} and \"key_ops\": {ops:?} disagree"));
        }
    }
    if let Some(u) = usage.filter(|u| *u != "sig") {
        return Err(Unused::NotForVerifying(format!(
            "not a signature key (\"use\": {:?})",
            crate::logsafe::clean(u, 16)
        )));
    }
    if let Some(ops) = ops.filter(|ops| !ops.contains(&"verify")) {
        return Err(Unused::NotForVerifying(format!("\"key_ops\" {ops:?} does not allow \"verify\"")));
    }
    Ok(())
}

fn parse_jwk(k: &Map<String, Value>, origin: Origin) -> Result<VerifyKey, Unused> {
    check_usage(k)?;
    let kid = match k.get("kid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        // Not "no kid": that would make the key a candidate for every token.
        Some(_) => return skip("\"kid\" is not a string"),
    };
    let alg = match k.get("alg").and_then(Value::as_str) {
        None => None,
        Some(name) => Some(Alg::parse(name).map_err(Unused::Skipped)?),
    };
    let bad = |e: String| Unused::Skipped(e);
    let (kind, key) = match field(k, "kty")? {
        "RSA" => (KeyKind::Rsa, rsa(field(k, "n")?, field(k, "e")?).map_err(bad)?),
        "EC" => {
            let (kind, len) = match field(k, "crv")? {
                "P-256" => (KeyKind::EcP256, 32),
                "P-384" => (KeyKind::EcP384, 48),
                "P-521" => (KeyKind::EcP521, 66),
                other => return skip(format!("unsupported curve {:?}", crate::logsafe::clean(other, 16))),
            };
            let mut point = vec![0x04];
            point.extend(coordinate(field(k, "x")?, len).map_err(bad)?);
            point.extend(coordinate(field(k, "y")?, len).map_err(bad)?);
            (kind, SigKey::new(kind, KeyBytes::Ec(&point)).map_err(bad)?)
        }
        "OKP" => {
            if field(k, "crv")? != "Ed25519" {
                return skip("unsupported OKP curve (supported: Ed25519)");
            }
            let x = coordinate(field(k, "x")?, 32).map_err(bad)?;
            (KeyKind::Ed25519, SigKey::new(KeyKind::Ed25519, KeyBytes::Ed25519(&x)).map_err(bad)?)
        }
        "oct" if origin == Origin::Remote => {
            return skip(
                "a shared secret (kty \"oct\") from a URL is never used: anyone who can read the endpoint could \
                 sign tokens; configure secrets in a local file",
            )
        }
        "oct" => {
            let secret = b64(field(k, "k")?).map_err(bad)?;
            let key = SigKey::new(KeyKind::Hmac, KeyBytes::Secret(&secret)).map_err(bad)?;
            if let Some(a) = alg.filter(|a| !key.supports(*a) && a.key_kind() == KeyKind::Hmac) {
                return skip(super::sig::short_secret(secret.len(), a));
            }
            (KeyKind::Hmac, key)
        }
        other => return skip(format!("unsupported kty {:?}", crate::logsafe::clean(other, 16))),
    };
    if let Some(a) = alg {
        if a.key_kind() != kind {
            return skip(format!("alg {} does not fit a {}", a.name(), kind.name()));
        }
    }
    Ok(VerifyKey { kid, kind, alg, key })
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
    let (n, e) = (b64(n)?, b64(e)?);
    super::rsa::check_rsa(&n, &e)?;
    SigKey::new(KeyKind::Rsa, KeyBytes::Rsa(&der::rsa_public_key(&n, &e)))
}
