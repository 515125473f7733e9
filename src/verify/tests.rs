//! The header memo: it saves parsing, never a check.
use super::*;
use crate::keys::{encode_jws_with_header, parse_jwk_set, Origin, Signer};
use base64::Engine;
use serde_json::json;

const SECRET: &[u8] = b"verify-memo-test-secret-0123456789abcdef";

fn setup() -> (Verifier, KeySet) {
    let jwks = json!({"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256",
        "k": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET)}]});
    let keys = KeySet { keys: parse_jwk_set(&jwks.to_string(), Origin::File).expect("jwks").0 };
    let v = Verifier {
        algorithms: vec![Alg::HS256],
        issuers: Vec::new(),
        audiences: Vec::new(),
        required_scopes: Vec::new(),
        validate_expiration: true,
        leeway: 0.0,
        max_token_bytes: 8192,
        last_header: Default::default(),
        issuers_seen: Default::default(),
    };
    (v, keys)
}

fn token(header: Value) -> String {
    let signer = Signer::new(Alg::HS256, SECRET).expect("signer");
    encode_jws_with_header(&signer, &header, &json!({"sub": "dev-1", "exp": 2e9})).expect("sign")
}

/// A token whose header is exactly `header` (json! cannot repeat a key).
fn token_raw(header: &str) -> String {
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let msg = format!("{}.{}", e.encode(header), e.encode(r#"{"sub":"dev-1","exp":2000000000}"#));
    let sig = Signer::new(Alg::HS256, SECRET).expect("signer").sign(msg.as_bytes()).expect("sign");
    format!("{msg}.{}", e.encode(sig))
}

#[test]
fn a_remembered_header_skips_no_check_of_the_next_one() {
    let (v, keys) = setup();
    let good = token(json!({"alg": "HS256", "typ": "JWT", "kid": "k1"}));
    assert_eq!(v.verify(&good, &keys, 1e9).expect("accepted").sub.as_deref(), Some("dev-1"));
    // The same header again, from the memo: still verified (a bad signature is refused).
    let tampered = format!("{}x", &good[..good.len() - 1]);
    assert!(v.verify(&good, &keys, 1e9).is_ok());
    assert!(v.verify(&tampered, &keys, 1e9).is_err());
    let refused = |h: Value| v.verify(&token(h), &keys, 1e9).expect_err("refused").reason;
    assert_eq!(refused(json!({"alg": "HS384", "kid": "k1"})), Reason::AlgorithmNotAllowed);
    assert_eq!(refused(json!({"alg": "HS256", "kid": "k1", "crit": ["exp"]})), Reason::CritHeader);
    assert_eq!(refused(json!({"alg": "HS256", "kid": "k2"})), Reason::UnknownKid);
    assert_eq!(refused(json!({"alg": "HS256", "kid": null})), Reason::Malformed);
    let twice = token_raw(r#"{"alg":"HS256","kid":"k1","x":1,"x":2}"#);
    assert_eq!(v.verify(&twice, &keys, 1e9).expect_err("duplicate").reason, Reason::Malformed);
    assert!(v.verify(&token_raw(r#"{"alg":"HS256","kid":"k1","x":1}"#), &keys, 1e9).is_ok());
    // And the first header is good again after the others replaced it.
    assert!(v.verify(&good, &keys, 1e9).is_ok());
}

#[test]
fn characters_outside_base64url_are_named_whatever_else_fails() {
    let (v, keys) = setup();
    let good = token(json!({"alg": "HS256", "kid": "k1"}));
    let dot = good.find('.').expect("dot") + 1;
    for bad in [format!("{}!{}", &good[..dot], &good[dot..]), format!("{good}="), good.replacen('.', "é.", 1)] {
        let r = v.verify(&bad, &keys, 1e9).expect_err("refused");
        assert_eq!(
            (r.reason, r.detail.as_str()),
            (Reason::Malformed, "not a compact JWS (characters outside base64url)")
        );
    }
}

/// Claims sets around and beyond the 1,024 bytes decoded on the stack verify and keep the same
/// claims.
#[test]
fn claims_sets_on_either_side_of_the_stack_buffer_read_the_same() {
    let (v, keys) = setup();
    let signer = Signer::new(Alg::HS256, SECRET).expect("signer");
    let keep = ["pad".to_string()];
    for len in (980..1060).chain([4000]) {
        let pad = "p".repeat(len);
        let t = crate::keys::encode_jws(&signer, None, &json!({"sub": "dev-1", "exp": 2e9, "pad": pad})).expect("sign");
        let got = v.verify_signed_keeping(&t, &keys, Some(&keep)).unwrap_or_else(|e| panic!("{len}: {e}"));
        assert_eq!(got.claims.get("pad"), Some(&json!(pad)), "{len}");
    }
}

/// The SIMD decoder accepts and refuses exactly what the `base64` crate's URL_SAFE_NO_PAD does, with
/// the same bytes, on the stack and spilled: encodings of random bytes, with their last character
/// changed (non-canonical trailing bits), padded, and random strings over a wider alphabet.
#[test]
fn decodes_like_the_base64_crate() {
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.\0 \xff";
    let mut cases: Vec<Vec<u8>> = Vec::new();
    for len in 0..120 {
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let good = e.encode(&bytes).into_bytes();
        for _ in 0..4 {
            let mut bad = good.clone();
            if let Some(last) = bad.last_mut() {
                *last = alphabet[next() as usize % 64];
            }
            cases.push(bad);
        }
        cases.push([&good[..], b"="].concat());
        cases.push([&good[..], b"=="].concat());
        cases.push(good);
        let random: Vec<u8> = (0..len).map(|_| alphabet[next() as usize % alphabet.len()]).collect();
        cases.push(random);
    }
    for case in &cases {
        let Ok(text) = std::str::from_utf8(case) else { continue };
        let want = e.decode(text).ok();
        for size in [16, 4096] {
            let (mut buf, mut spill) = (vec![0u8; size], Vec::new());
            let got = b64url_into(text, &mut buf, &mut spill).map(<[u8]>::to_vec);
            assert_eq!(got, want, "{text:?} with a {size}-byte buffer");
        }
    }
    assert!(cases.len() > 900);
}
