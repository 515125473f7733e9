//! Header and claims parsing behind a valid signature: the input is split at the first NUL into a
//! header and a payload (JSON text, anything really), both are base64url-encoded and signed with the
//! fixture HMAC key, so the fuzzer reaches everything after the signature check: duplicate keys,
//! deep nesting, odd numbers in exp/nbf/iat, sub, iss and aud.
#![no_main]
#[path = "common.rs"]
mod common;

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static STATE: OnceLock<(mqtt_jwt_auth::verify::Verifier, mqtt_jwt_auth::keys::KeySet)> = OnceLock::new();
    let (v, keys) = STATE.get_or_init(|| (common::verifier(), common::keys()));
    let (header, payload) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&br#"{"alg":"HS256","kid":"hs-1"}"#[..], data),
    };
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signed = format!("{}.{}", e.encode(header), e.encode(payload));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, common::HS_SECRET);
    let sig = aws_lc_rs::hmac::sign(&key, signed.as_bytes());
    let token = format!("{signed}.{}", e.encode(sig.as_ref()));
    let _ = mqtt_jwt_auth::verify::unverified_issuer(&token);
    if let Ok(t) = v.verify(&token, keys, 1_700_000_000.0) {
        // Accepted: the claims the plugin relies on must be what the checks say.
        let exp = t.exp.get().expect("accepted without exp");
        assert!(exp.is_finite() && 1_700_000_000.0 < exp + 5.0, "accepted an expired token");
        if let Some(sub) = &t.sub {
            assert!(!sub.is_empty() && !sub.chars().any(char::is_control), "accepted a bad sub");
        }
        let h: serde_json::Value = serde_json::from_slice(header).expect("accepted an unparsable header");
        assert_eq!(h["alg"], "HS256", "accepted under another alg");
        assert!(h.get("crit").is_none(), "accepted a crit header");
    }
});
