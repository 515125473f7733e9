//! Table-driven JOSE vectors in the style of the public conformance suites (hand-made here, none
//! copied): key sets that must load, warn or fail, and tokens that must be accepted or refused
//! with one exact reason. A new case is one line in a table.
#[path = "support/mod.rs"]
mod support;

use base64::Engine as _;
use mqtt_jwt_auth::alg::Alg;
use mqtt_jwt_auth::config::Config;
use mqtt_jwt_auth::loaded::Loaded;
use mqtt_jwt_auth::refusal::Reason;
use serde_json::{json, Value};
use std::process::Command;
use support::broker::keys_dir;
use support::tokens::{self, claims, key_file, signer};

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

fn fixture_jwk(kid: &str) -> Value {
    let set: Value = serde_json::from_slice(&key_file("jwks.json")).unwrap();
    set["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid).unwrap().clone()
}

fn with(mut k: Value, changes: Value) -> Value {
    for (name, v) in changes.as_object().unwrap() {
        if v.is_null() {
            k.as_object_mut().unwrap().remove(name);
        } else {
            k[name] = v.clone();
        }
    }
    k
}

// =============================================================================================
// Key sets

enum Loads {
    /// Loads, with this many warnings, each containing the text.
    Warns(usize, &'static str),
    /// Refused at load; the error contains the text.
    Fails(&'static str),
}

fn load(algs: &Value, keys: &Value) -> Result<Vec<String>, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("set.json");
    std::fs::write(&path, json!({ "keys": keys }).to_string()).unwrap();
    let cfg = json!({"version": 1, "algorithm": algs, "mode": "jwks",
                     "options": {"modes": {"jwks": {"filePath": path.display().to_string()}}}});
    Loaded::new(Config::parse(&cfg.to_string()).unwrap()).map(|(_, w)| w).map_err(|e| e.to_string())
}

#[test]
fn key_set_vectors() {
    let rsa = fixture_jwk("rsa-2");
    let p521 = fixture_jwk("ec-521");
    let ed = fixture_jwk("ed-1");
    let oct = |len: usize, alg: Option<&str>| {
        let mut k = json!({"kty": "oct", "kid": format!("oct-{len}"), "k": b64(vec![0x5a; len])});
        if let Some(a) = alg {
            k["alg"] = json!(a);
        }
        k
    };
    let mut off_curve = p521.clone();
    let mut y = unb64(p521["y"].as_str().unwrap());
    y[65] ^= 1;
    off_curve["y"] = json!(b64(&y));
    let all = json!(["HS256", "HS384", "HS512", "RS256", "PS256", "ES512", "EdDSA"]);
    let cases: Vec<(&str, Value, Loads)> = vec![
        ("use enc only", json!([with(rsa.clone(), json!({"use": "enc"}))]), Loads::Fails("not a signature key")),
        ("use unknown", json!([with(rsa.clone(), json!({"use": "sign"}))]), Loads::Fails("not a signature key")),
        (
            "key_ops encrypt",
            json!([with(rsa.clone(), json!({"key_ops": ["encrypt"]}))]),
            Loads::Fails("does not allow"),
        ),
        ("key_ops empty", json!([with(rsa.clone(), json!({"key_ops": []}))]), Loads::Fails("does not allow")),
        (
            "use sig, key_ops wrapKey",
            json!([with(rsa.clone(), json!({"use": "sig", "key_ops": ["wrapKey"]})), ed.clone()]),
            Loads::Warns(1, "disagree"),
        ),
        (
            "use enc, key_ops verify",
            json!([with(rsa.clone(), json!({"use": "enc", "key_ops": ["verify"]})), ed.clone()]),
            Loads::Warns(1, "disagree"),
        ),
        (
            "use sig, key_ops verify",
            json!([with(rsa.clone(), json!({"use": "sig", "key_ops": ["verify"]}))]),
            Loads::Warns(0, ""),
        ),
        ("oct of 3 bytes", json!([oct(3, None)]), Loads::Fails("3 bytes (24 bits)")),
        ("oct of 31 bytes", json!([oct(31, None)]), Loads::Fails("31 bytes")),
        ("oct of 32 bytes", json!([oct(32, None)]), Loads::Warns(0, "")),
        (
            "oct of 47 bytes pinned HS384",
            json!([oct(47, Some("HS384")), oct(64, None)]),
            Loads::Warns(1, "HS384 needs at least 48"),
        ),
        ("oct of 63 bytes pinned HS512", json!([oct(63, Some("HS512"))]), Loads::Fails("HS512 needs at least 64")),
        ("oct of 64 bytes pinned HS512", json!([oct(64, Some("HS512"))]), Loads::Warns(0, "")),
        ("empty oct", json!([json!({"kty": "oct", "k": ""})]), Loads::Fails("0 bytes")),
        ("oct beside RSA", json!([rsa.clone(), oct(64, None)]), Loads::Fails("beside public keys")),
        ("oct beside OKP", json!([oct(64, None), ed.clone()]), Loads::Fails("beside public keys")),
        ("oct beside P-521", json!([p521.clone(), oct(32, Some("HS256"))]), Loads::Fails("beside public keys")),
        (
            "duplicate kid",
            json!([rsa.clone(), with(ed.clone(), json!({"kid": "rsa-2"}))]),
            Loads::Warns(1, "kid rsa-2 is shared by 2 keys"),
        ),
        (
            "kid not a string",
            json!([with(rsa.clone(), json!({"kid": 7})), ed.clone()]),
            Loads::Warns(1, "\"kid\" is not a string"),
        ),
        ("P-521", json!([p521.clone()]), Loads::Warns(0, "")),
        ("P-521 point off the curve", json!([off_curve]), Loads::Fails("rejected")),
        (
            "P-521 with 65-byte x",
            json!([with(p521.clone(), json!({"x": b64([1u8; 65])}))]),
            Loads::Fails("65 bytes, expected 66"),
        ),
        (
            "P-521 labelled P-384",
            json!([with(p521.clone(), json!({"crv": "P-384"}))]),
            Loads::Fails("66 bytes, expected 48"),
        ),
        ("P-521 pinned ES256", json!([with(p521.clone(), json!({"alg": "ES256"}))]), Loads::Fails("does not fit")),
        ("RSA with e = 1", json!([with(rsa.clone(), json!({"e": "AQ"}))]), Loads::Fails("exponent 1 is below 3")),
        ("RSA with e = 0", json!([with(rsa.clone(), json!({"e": "AA"}))]), Loads::Fails("exponent 0 is below 3")),
        (
            "RSA with e = 65538",
            json!([with(rsa.clone(), json!({"e": "AQAC"}))]),
            Loads::Fails("exponent 65538 is even"),
        ),
        (
            "RSA of 2047 bits",
            json!([with(rsa.clone(), json!({"n": b64([&[0x7fu8][..], &[0xff; 255]].concat())}))]),
            Loads::Fails("2047 bits is too small"),
        ),
        ("RSA pinned ES256", json!([with(rsa.clone(), json!({"alg": "ES256"}))]), Loads::Fails("does not fit")),
        (
            "JWK alg none",
            json!([with(rsa.clone(), json!({"alg": "none"})), ed.clone()]),
            Loads::Warns(1, "never allowed"),
        ),
        (
            "JWK alg RSA-OAEP",
            json!([with(rsa.clone(), json!({"alg": "RSA-OAEP"})), ed.clone()]),
            Loads::Warns(1, "unsupported algorithm"),
        ),
        ("no kty", json!([with(rsa.clone(), json!({"kty": null}))]), Loads::Fails("missing \"kty\"")),
        ("OKP X25519", json!([with(ed.clone(), json!({"crv": "X25519"}))]), Loads::Fails("unsupported OKP curve")),
        ("empty set", json!([]), Loads::Fails("it is empty")),
    ];
    let mut failures = Vec::new();
    for (name, keys, want) in &cases {
        let got = load(&all, keys);
        let ok = match (want, &got) {
            (Loads::Warns(n, text), Ok(w)) => w.len() == *n && w.iter().all(|w| w.contains(text)),
            (Loads::Fails(text), Err(e)) => e.contains(text),
            _ => false,
        };
        if !ok {
            failures.push(format!("{name}: got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} key-set vectors failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// =============================================================================================
// Tokens

/// The fixture public keys (tests/keys/jwks.json) for every asymmetric algorithm.
fn public_engine() -> Loaded {
    let algs = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256"];
    let cfg = json!({"version": 1, "algorithm": algs, "mode": "jwks",
                     "options": {"modes": {"jwks": {"filePath": keys_dir().join("jwks.json").display().to_string()}}}});
    Loaded::new(Config::parse(&cfg.to_string()).unwrap()).unwrap().0
}

/// The fixture shared secrets (tests/keys/jwks-oct.json: hs-1 of 39 bytes, hs-512 of 65).
fn oct_engine() -> Loaded {
    let cfg = json!({"version": 1, "algorithm": ["HS256", "HS384", "HS512", "ES256"], "mode": "jwks",
                     "options": {"modes": {"jwks": {"filePath": keys_dir().join("jwks-oct.json").display().to_string()}}}});
    Loaded::new(Config::parse(&cfg.to_string()).unwrap()).unwrap().0
}

const HS1: &[u8] = b"jwks-shared-secret-for-tests-0123456789";
const HS512: &[u8] = b"jwks-hs512-secret-for-tests-0123456789-abcdefghijklmnopqrstuvwxyz";

fn header(alg: &str, kid: Option<&str>) -> String {
    let mut h = json!({"alg": alg, "typ": "JWT"});
    if let Some(k) = kid {
        h["kid"] = json!(k);
    }
    b64(h.to_string())
}

fn payload() -> String {
    b64(claims("alice", json!({})).to_string())
}

/// `header.payload` signed by the fixture key of `alg` (with its own signer).
fn signed(alg: Alg, kid: Option<&str>) -> (String, Vec<u8>) {
    let msg = format!("{}.{}", header(alg.name(), kid), payload());
    let sig = signer(alg).sign(msg.as_bytes()).unwrap();
    (msg, sig)
}

fn join(msg: &str, sig: &[u8]) -> String {
    format!("{msg}.{}", b64(sig))
}

fn hmac(secret: &[u8], alg: Alg, msg: &str) -> Vec<u8> {
    mqtt_jwt_auth::keys::Signer::new(alg, secret).unwrap().sign(msg.as_bytes()).unwrap()
}

/// ECDSA fixed r‖s → DER `SEQUENCE { INTEGER r, INTEGER s }` (long-form length for P-521).
fn der(fixed: &[u8]) -> Vec<u8> {
    fn len(l: usize) -> Vec<u8> {
        if l < 0x80 {
            vec![l as u8]
        } else {
            vec![0x81, l as u8]
        }
    }
    let int = |x: &[u8]| {
        let mut v: Vec<u8> = x.iter().copied().skip_while(|b| *b == 0).collect();
        if v.first().is_none_or(|b| b & 0x80 != 0) {
            v.insert(0, 0);
        }
        [vec![0x02], len(v.len()), v].concat()
    };
    let (r, s) = fixed.split_at(fixed.len() / 2);
    let body = [int(r), int(s)].concat();
    [vec![0x30], len(body.len()), body].concat()
}

enum Want {
    Accept,
    Refuse(Reason),
}

#[test]
fn token_vectors() {
    let public = public_engine();
    let oct = oct_engine();
    let (es512, es512_sig) = signed(Alg::ES512, Some("ec-521"));
    let (es256, es256_sig) = signed(Alg::ES256, Some("ec-256"));
    let (rs, rs_sig) = signed(Alg::RS256, Some("rsa-1"));
    let (ed, ed_sig) = signed(Alg::EdDSA, Some("ed-1"));
    let flip = |sig: &[u8], i: usize| {
        let mut s = sig.to_vec();
        s[i] ^= 0x01;
        s
    };
    let swapped = |sig: &[u8]| {
        let (r, s) = sig.split_at(sig.len() / 2);
        [s, r].concat()
    };
    // RSA-PSS over a PS256 header with kid rsa-2 (not pinned), made by openssl.
    let ps256 = format!("{}.{}", header("PS256", Some("rsa-2")), payload());
    let ps256_by = |hash: &str, salt: usize| openssl_pss(&ps256, hash, salt);
    let hs = format!("{}.{}", header("HS256", Some("hs-1")), payload());
    let hs_mac = hmac(HS1, Alg::HS256, &hs);
    let (h64, p64) = hs.split_once('.').unwrap();
    // The last character of a 32-byte MAC carries 2 unused bits: set one (same bytes, other text).
    let mac64 = b64(&hs_mac);
    let last = mac64.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let noncanonical = alphabet.chars().nth(alphabet.find(last).unwrap() + 1).unwrap();
    let mac64_odd = format!("{}{noncanonical}", &mac64[..mac64.len() - 1]);
    let jwe_header = b64(r#"{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"rsa-2"}"#);

    let t = |e: &'static str, name: &'static str, token: String, want: Want| (e, name, token, want);
    use Reason::*;
    use Want::*;
    let cases = vec![
        // P-521
        t("public", "ES512 valid", join(&es512, &es512_sig), Accept),
        t(
            "public",
            "ES512 without kid",
            {
                let (m, s) = signed(Alg::ES512, None);
                join(&m, &s)
            },
            Accept,
        ),
        t("public", "ES512 one bit flipped in r", join(&es512, &flip(&es512_sig, 10)), Refuse(BadSignature)),
        t("public", "ES512 one bit flipped in s", join(&es512, &flip(&es512_sig, 100)), Refuse(BadSignature)),
        t("public", "ES512 r and s swapped", join(&es512, &swapped(&es512_sig)), Refuse(BadSignature)),
        t("public", "ES512 truncated to 131 bytes", join(&es512, &es512_sig[..131]), Refuse(BadSignature)),
        t(
            "public",
            "ES512 with a zero byte appended",
            join(&es512, &[&es512_sig[..], &[0]].concat()),
            Refuse(BadSignature),
        ),
        t("public", "ES512 DER-encoded", join(&es512, &der(&es512_sig)), Refuse(BadSignature)),
        t("public", "ES512 all zero", join(&es512, &[0u8; 132]), Refuse(BadSignature)),
        t(
            "public",
            "ES512 header, ES256 signature",
            join(&es512, &signer(Alg::ES256).sign(es512.as_bytes()).unwrap()),
            Refuse(BadSignature),
        ),
        t(
            "public",
            "ES384 naming the P-521 key",
            {
                let (m, s) = signed(Alg::ES384, Some("ec-521"));
                join(&m, &s)
            },
            Refuse(NoKeyForAlgorithm),
        ),
        t(
            "public",
            "ES512 naming the P-256 key",
            {
                let (m, s) = signed(Alg::ES512, Some("ec-256"));
                join(&m, &s)
            },
            Refuse(NoKeyForAlgorithm),
        ),
        // P-256, RSA, EdDSA signature forms
        t("public", "ES256 valid", join(&es256, &es256_sig), Accept),
        t("public", "ES256 DER-encoded", join(&es256, &der(&es256_sig)), Refuse(BadSignature)),
        t("public", "ES256 truncated", join(&es256, &es256_sig[..63]), Refuse(BadSignature)),
        t("public", "ES256 empty signature", join(&es256, b""), Refuse(BadSignature)),
        t("public", "RS256 valid", join(&rs, &rs_sig), Accept),
        t("public", "RS256 truncated", join(&rs, &rs_sig[..255]), Refuse(BadSignature)),
        t("public", "RS256 with a leading zero", join(&rs, &[&[0u8][..], &rs_sig].concat()), Refuse(BadSignature)),
        t("public", "EdDSA valid", join(&ed, &ed_sig), Accept),
        t("public", "EdDSA flipped", join(&ed, &flip(&ed_sig, 40)), Refuse(BadSignature)),
        // RSA-PSS: salt and hash must match the algorithm (RFC 7518 §3.5)
        t("public", "PS256 salt 32 (openssl)", join(&ps256, &ps256_by("sha256", 32)), Accept),
        t("public", "PS256 salt 0", join(&ps256, &ps256_by("sha256", 0)), Refuse(BadSignature)),
        t("public", "PS256 salt 20", join(&ps256, &ps256_by("sha256", 20)), Refuse(BadSignature)),
        t("public", "PS256 salt 64", join(&ps256, &ps256_by("sha256", 64)), Refuse(BadSignature)),
        t("public", "PS256 header, SHA-384 PSS", join(&ps256, &ps256_by("sha384", 48)), Refuse(BadSignature)),
        t(
            "public",
            "PS256 header, RS256 signature",
            join(&ps256, &signer_rsa2(Alg::RS256).sign(ps256.as_bytes()).unwrap()),
            Refuse(BadSignature),
        ),
        // The JWK's own alg pins the key (rsa-1 says RS256)
        t(
            "public",
            "PS256 naming RS256-pinned rsa-1",
            {
                let (m, s) = signed(Alg::PS256, Some("rsa-1"));
                join(&m, &s)
            },
            Refuse(NoKeyForAlgorithm),
        ),
        t(
            "public",
            "RS384 naming RS256-pinned rsa-1",
            {
                let (m, s) = signed(Alg::RS384, Some("rsa-1"));
                join(&m, &s)
            },
            Refuse(NoKeyForAlgorithm),
        ),
        // Shared secrets: sets of their own, lengths per hash
        t("oct", "HS256 valid", join(&hs, &hs_mac), Accept),
        t(
            "oct",
            "HS512 valid with the 65-byte key",
            {
                let m = format!("{}.{}", header("HS512", Some("hs-512")), payload());
                join(&m, &hmac(HS512, Alg::HS512, &m))
            },
            Accept,
        ),
        t(
            "oct",
            "HS384 naming the 39-byte key",
            {
                let m = format!("{}.{}", header("HS384", Some("hs-1")), payload());
                join(&m, &hmac(HS1, Alg::HS384, &m))
            },
            Refuse(NoKeyForAlgorithm),
        ),
        t(
            "oct",
            "HS256 with the other key's kid",
            {
                let m = format!("{}.{}", header("HS256", Some("hs-512")), payload());
                join(&m, &hmac(HS1, Alg::HS256, &m))
            },
            Refuse(BadSignature),
        ),
        t("oct", "HS256 truncated MAC", join(&hs, &hs_mac[..16]), Refuse(BadSignature)),
        t("oct", "HS256 empty MAC", join(&hs, b""), Refuse(BadSignature)),
        t("oct", "ES256 against a set of secrets", join(&es256, &es256_sig), Refuse(UnknownKid)),
        t("public", "HS256 against a set of public keys", join(&hs, &hs_mac), Refuse(UnknownKid)),
        t(
            "public",
            "HS256 without kid against public keys",
            {
                let m = format!("{}.{p64}", header("HS256", None));
                join(&m, &hmac(&key_file("rsa.pub.pem"), Alg::HS256, &m))
            },
            Refuse(NoKeyForAlgorithm),
        ),
        // Base64url and structure
        t("oct", "non-canonical last signature character", format!("{hs}.{mac64_odd}"), Refuse(Malformed)),
        t("oct", "header with one extra character", format!("{h64}A.{p64}.{mac64}"), Refuse(Malformed)),
        t("oct", "header with two extra characters", format!("{h64}AA.{p64}.{mac64}"), Refuse(Malformed)),
        t("oct", "payload with two extra characters", format!("{h64}.{p64}AA.{mac64}"), Refuse(BadSignature)),
        t("oct", "header padded", format!("{h64}=.{p64}.{mac64}"), Refuse(Malformed)),
        t("oct", "space inside the payload", format!("{h64}.{} {}.{mac64}", &p64[..4], &p64[4..]), Refuse(Malformed)),
        t(
            "oct",
            "standard base64 alphabet",
            format!("{hs}.{}", base64::engine::general_purpose::STANDARD.encode(&hs_mac)),
            Refuse(Malformed),
        ),
        t(
            "oct",
            "JSON serialization",
            json!({"protected": h64, "payload": p64, "signature": mac64}).to_string(),
            Refuse(Malformed),
        ),
        // alg "none" in its spellings, with and without a MAC
        t("oct", "alg none", format!("{}.{p64}.", header("none", None)), Refuse(AlgorithmNotAllowed)),
        t("oct", "alg None", format!("{}.{p64}.", header("None", None)), Refuse(AlgorithmNotAllowed)),
        t("oct", "alg NONE", format!("{}.{p64}.", header("NONE", None)), Refuse(AlgorithmNotAllowed)),
        t(
            "oct",
            "alg nOnE with a valid HS256 MAC",
            {
                let m = format!("{}.{p64}", header("nOnE", Some("hs-1")));
                join(&m, &hmac(HS1, Alg::HS256, &m))
            },
            Refuse(AlgorithmNotAllowed),
        ),
        t("oct", "alg none, no signature part", format!("{}.{p64}", header("none", None)), Refuse(Malformed)),
        // JWE
        t(
            "oct",
            "JWE compact",
            format!("{jwe_header}.{}.{}.{}.{}", b64([1u8; 256]), b64([2u8; 12]), b64(b"ciphertext"), b64([3u8; 16])),
            Refuse(EncryptedToken),
        ),
        t(
            "public",
            "JWE direct (empty key part)",
            format!("{}..{}.{}.{}", b64(r#"{"alg":"dir","enc":"A128GCM"}"#), b64([2u8; 12]), b64(b"c"), b64([3u8; 16])),
            Refuse(EncryptedToken),
        ),
        // The claims set behind a valid signature
        t(
            "oct",
            "payload not JSON",
            {
                let m = format!("{h64}.{}", b64("alice"));
                join(&m, &hmac(HS1, Alg::HS256, &m))
            },
            Refuse(BadClaimsSet),
        ),
        t(
            "oct",
            "payload a JSON array",
            {
                let m = format!("{h64}.{}", b64("[]"));
                join(&m, &hmac(HS1, Alg::HS256, &m))
            },
            Refuse(BadClaimsSet),
        ),
        t(
            "oct",
            "payload with a BOM",
            {
                let m = format!("{h64}.{}", b64(format!("\u{feff}{}", claims("a", json!({})))));
                join(&m, &hmac(HS1, Alg::HS256, &m))
            },
            Refuse(BadClaimsSet),
        ),
        t(
            "oct",
            "payload with a repeated claim",
            {
                let m = format!("{h64}.{}", b64(r#"{"sub":"a","sub":"admin","exp":9999999999}"#));
                join(&m, &hmac(HS1, Alg::HS256, &m))
            },
            Refuse(BadClaimsSet),
        ),
        t(
            "oct",
            "header with a repeated alg",
            {
                let m = format!("{}.{p64}", b64(r#"{"alg":"HS256","alg":"HS256","kid":"hs-1"}"#));
                join(&m, &hmac(HS1, Alg::HS256, &m))
            },
            Refuse(Malformed),
        ),
    ];
    let engines = [("public", &public), ("oct", &oct)];
    let mut failures = Vec::new();
    let now = tokens::now() as f64;
    for (which, name, token, want) in &cases {
        let e = engines.iter().find(|(n, _)| n == which).unwrap().1;
        let got = e.authenticate(token, now);
        let ok = match (want, &got) {
            (Accept, Ok(t)) => t.sub.as_deref() == Some("alice"),
            (Refuse(r), Err(refusal)) => refusal.reason == *r && !refusal.to_string().contains(token.as_str()),
            _ => false,
        };
        if !ok {
            failures.push(format!("{name}: got {:?}", got.map(|_| "accepted").map_err(|r| r.to_string())));
        }
    }
    assert!(cases.len() >= 55, "{}", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} token vectors failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn signer_rsa2(alg: Alg) -> mqtt_jwt_auth::keys::Signer {
    mqtt_jwt_auth::keys::Signer::new(alg, &key_file("rsa2.key")).unwrap()
}

/// RSA-PSS by openssl with rsa2.key, the given hash and salt length (RFC 7518 §3.5 wants the
/// salt as long as the hash).
fn openssl_pss(msg: &str, hash: &str, salt_len: usize) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("msg");
    std::fs::write(&input, msg).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", &format!("-{hash}"), "-sign"])
        .arg(keys_dir().join("rsa2.key"))
        .args(["-sigopt", "rsa_padding_mode:pss", "-sigopt", &format!("rsa_pss_saltlen:{salt_len}")])
        .args(["-sigopt", &format!("rsa_mgf1_md:{hash}")])
        .arg(&input)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}
