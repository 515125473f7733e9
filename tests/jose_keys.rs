//! Key rules at load time, without a broker: `use`/`key_ops`, HMAC key lengths, shared secrets
//! never beside public keys nor from a URL, duplicate kids, RSA exponents and the ROCA fingerprint,
//! P-521, and a reason per key when none of a set is usable.
#[path = "support/mod.rs"]
mod support;

use base64::Engine as _;
use mqtt_jwt_auth::alg::Alg;
use mqtt_jwt_auth::config::Config;
use mqtt_jwt_auth::keys::{parse_jwk_set, Origin};
use mqtt_jwt_auth::loaded::Loaded;
use mqtt_jwt_auth::refusal::Reason;
use serde_json::{json, Value};
use support::broker::keys_dir;
use support::tokens::{self, claims, key_file, sign_with, signer};

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> f64 {
    tokens::now() as f64
}

fn fixture_jwk(kid: &str) -> Value {
    let set: Value = serde_json::from_slice(&key_file("jwks.json")).unwrap();
    set["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid).unwrap().clone()
}

/// The fixture rsa-1 JWK (signed by tests/keys/rsa.key) with members replaced or removed (null).
fn rsa1(kid: &str, changes: Value) -> Value {
    let mut k = fixture_jwk("rsa-1");
    k["kid"] = json!(kid);
    for (name, v) in changes.as_object().unwrap() {
        if v.is_null() {
            k.as_object_mut().unwrap().remove(name);
        } else {
            k[name] = v.clone();
        }
    }
    k
}

/// A set file with `keys`, loaded as `mode: jwks` for `algs`: the engine and its warnings, or the
/// load error.
fn load_set(algs: Value, keys: Value) -> Result<(Loaded, Vec<String>), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("set.json");
    std::fs::write(&path, json!({ "keys": keys }).to_string()).unwrap();
    let cfg = json!({"version": 1, "algorithm": algs, "mode": "jwks",
                     "options": {"modes": {"jwks": {"filePath": path.display().to_string()}}}});
    Loaded::new(Config::parse(&cfg.to_string()).unwrap()).map_err(|e| e.to_string())
}

#[track_caller]
fn load_error(algs: Value, keys: Value) -> String {
    match load_set(algs, keys) {
        Ok((_, w)) => panic!("loaded (warnings {w:?})"),
        Err(e) => e,
    }
}

fn rs256(kid: Option<&str>) -> String {
    sign_with(&signer(Alg::RS256), kid, &claims("alice", json!({})))
}

#[test]
fn key_ops_without_verify_is_not_used() {
    let (e, w) = load_set(
        json!("RS256"),
        json!([
            rsa1("ops-verify", json!({"use": null, "key_ops": ["verify"]})),
            rsa1("ops-encrypt", json!({"use": null, "key_ops": ["encrypt", "wrapKey"]}))
        ]),
    )
    .unwrap();
    assert!(w.is_empty(), "a key for other operations is not an error: {w:?}");
    e.authenticate(&rs256(Some("ops-verify")), now()).unwrap();
    let r = e.authenticate(&rs256(Some("ops-encrypt")), now()).unwrap_err();
    assert_eq!(r.reason, Reason::UnknownKid, "{r}");
    // Alone, it makes the set unusable, and the error says why.
    let err = load_error(json!("RS256"), json!([rsa1("ops-sign", json!({"use": null, "key_ops": ["sign"]}))]));
    assert!(err.contains("keys[0] (kid ops-sign)") && err.contains("does not allow \"verify\""), "{err}");
}

#[test]
fn use_and_key_ops_that_disagree_are_skipped_with_a_warning() {
    let cases = [
        json!({"use": "sig", "key_ops": ["encrypt"]}),
        json!({"use": "sig", "key_ops": ["verify", "decrypt"]}),
        json!({"use": "enc", "key_ops": ["verify"]}),
        json!({"key_ops": "verify"}),
        json!({"key_ops": [1]}),
        json!({"use": 1}),
    ];
    for change in cases {
        let (e, w) = load_set(json!("RS256"), json!([rsa1("odd", change.clone()), rsa1("good", json!({}))])).unwrap();
        assert_eq!(w.len(), 1, "{change}: {w:?}");
        assert!(w[0].contains("keys[0] (kid odd) skipped"), "{change}: {w:?}");
        assert_eq!(e.authenticate(&rs256(Some("odd")), now()).unwrap_err().reason, Reason::UnknownKid, "{change}");
    }
    // Consistent members are fine.
    let (e, w) = load_set(json!("RS256"), json!([rsa1("both", json!({"use": "sig", "key_ops": ["verify"]}))])).unwrap();
    assert!(w.is_empty(), "{w:?}");
    e.authenticate(&rs256(Some("both")), now()).unwrap();
}

fn oct(kid: &str, secret: &[u8], alg: Option<&str>) -> Value {
    let mut k = json!({"kty": "oct", "kid": kid, "k": b64(secret)});
    if let Some(a) = alg {
        k["alg"] = json!(a);
    }
    k
}

#[test]
fn short_hmac_jwks_are_skipped_naming_the_key_and_its_length() {
    let (e, w) = load_set(
        json!(["HS256", "HS512"]),
        json!([oct("tiny", b"abc", None), oct("hs512-40", &[7u8; 40], Some("HS512")), oct("ok", &[9u8; 64], None)]),
    )
    .unwrap();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].contains("kid tiny") && w[0].contains("3 bytes (24 bits)") && w[0].contains("HS256"), "{w:?}");
    assert!(w[1].contains("kid hs512-40") && w[1].contains("40 bytes") && w[1].contains("HS512"), "{w:?}");
    let ok = mqtt_jwt_auth::keys::Signer::new(Alg::HS512, &[9u8; 64]).unwrap();
    e.authenticate(&sign_with(&ok, Some("ok"), &claims("alice", json!({}))), now()).unwrap();
    let tiny = mqtt_jwt_auth::keys::Signer::new(Alg::HS256, b"abc").unwrap();
    let r = e.authenticate(&sign_with(&tiny, Some("tiny"), &claims("alice", json!({}))), now()).unwrap_err();
    assert_eq!(r.reason, Reason::UnknownKid, "{r}");
    // Only short keys: the load error lists each.
    let err = load_error(json!("HS256"), json!([oct("a", &[1u8; 16], None), oct("b", &[1u8; 31], None)]));
    assert!(
        err.contains("kid a): the HMAC key is 16 bytes") && err.contains("kid b): the HMAC key is 31 bytes"),
        "{err}"
    );
    // A 32-byte key without alg serves HS256 only; HS384 naming it is refused with the lengths.
    let (e, _) = load_set(json!(["HS256", "HS384"]), json!([oct("k32", &[5u8; 32], None)])).unwrap();
    let s384 = mqtt_jwt_auth::keys::Signer::new(Alg::HS384, &[5u8; 32]).unwrap();
    let r = e.authenticate(&sign_with(&s384, Some("k32"), &claims("alice", json!({}))), now()).unwrap_err();
    assert_eq!(r.reason, Reason::NoKeyForAlgorithm);
    assert!(r.detail.contains("32 bytes") && r.detail.contains("HS384 needs at least 48"), "{r}");
}

#[test]
fn shared_secrets_never_sit_beside_public_keys() {
    let err = load_error(json!(["RS256", "HS256"]), json!([rsa1("rsa", json!({})), oct("hs", &[1u8; 32], None)]));
    assert!(
        err.contains("options.modes.jwks.filePath") && err.contains("keys[1]") && err.contains("beside public keys"),
        "{err}"
    );
    // Even when the secret is not for signatures.
    let mut enc = oct("hs", &[1u8; 32], None);
    enc["use"] = json!("enc");
    assert!(load_error(json!("RS256"), json!([rsa1("rsa", json!({})), enc])).contains("beside public keys"));
    // A file of only secrets, or only public keys, is fine.
    load_set(json!("HS256"), json!([oct("a", &[1u8; 32], None), oct("b", &[2u8; 32], None)])).unwrap();
    load_set(json!(["RS256", "ES256"]), json!([rsa1("rsa", json!({})), fixture_jwk("ec-256")])).unwrap();
}

#[test]
fn a_fetched_set_never_provides_a_shared_secret() {
    let mixed = json!({"keys": [fixture_jwk("ec-256"), oct("hs", &[1u8; 64], None)]}).to_string();
    let (keys, w) = parse_jwk_set(&mixed, Origin::Remote).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid.as_deref(), Some("ec-256"));
    assert!(w.len() == 1 && w[0].contains("kid hs") && w[0].contains("from a URL is never used"), "{w:?}");
    let only = json!({"keys": [oct("hs", &[1u8; 64], None)]}).to_string();
    let err = parse_jwk_set(&only, Origin::Remote).unwrap_err();
    assert!(err.contains("no usable key in the set: keys[0] (kid hs)") && err.contains("never used"), "{err}");
    // The same text from a file is refused as mixed, not quietly trimmed.
    assert!(parse_jwk_set(&mixed, Origin::File).unwrap_err().contains("beside public keys"));
}

#[test]
fn a_kid_shared_by_two_keys_is_refused_never_first_wins() {
    // Two different RSA keys under one kid: tokens naming it are refused, whichever key signed.
    let rsa2 = fixture_jwk("rsa-2");
    let twin = json!({"kty": "RSA", "kid": "twin", "n": rsa2["n"], "e": rsa2["e"]});
    let (e, w) = load_set(json!("RS256"), json!([rsa1("twin", json!({})), twin, fixture_jwk("rsa-2")])).unwrap();
    assert!(w.len() == 1 && w[0].contains("kid twin is shared by 2 keys"), "{w:?}");
    let r = e.authenticate(&rs256(Some("twin")), now()).unwrap_err();
    assert_eq!(r.reason, Reason::UnknownKid);
    assert!(r.detail.contains("names 2 keys") && r.detail.contains("ambiguous"), "{r}");
    // Also across key types.
    let ec = json!({"kty": "EC", "kid": "twin", "crv": "P-256", "x": fixture_jwk("ec-256")["x"], "y": fixture_jwk("ec-256")["y"]});
    let (e, _) = load_set(json!(["RS256", "ES256"]), json!([rsa1("twin", json!({})), ec])).unwrap();
    assert_eq!(e.authenticate(&rs256(Some("twin")), now()).unwrap_err().reason, Reason::UnknownKid);
    let es = sign_with(&signer(Alg::ES256), Some("twin"), &claims("alice", json!({})));
    assert_eq!(e.authenticate(&es, now()).unwrap_err().reason, Reason::UnknownKid);
    // A token without kid is checked against every key, so the genuine signer is still found.
    e.authenticate(&rs256(None), now()).unwrap();
}

/// 2048 bits, ≡ 65537 modulo each of the odd primes up to 167: the ROCA fingerprint (built here,
/// not taken from a vulnerable device).
fn roca_modulus() -> Vec<u8> {
    let primes = (3u32..=167).filter(|p| (2..*p).all(|d| p % d != 0));
    let mut m = vec![1u8];
    for p in primes {
        let mut carry = 0u32;
        for b in m.iter_mut().rev() {
            let v = *b as u32 * p + carry;
            *b = v as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            m.insert(0, carry as u8);
            carry >>= 8;
        }
    }
    while m[0] < 0x80 {
        let mut carry = 0u8;
        for b in m.iter_mut().rev() {
            let v = *b;
            *b = (v << 1) | carry;
            carry = v >> 7;
        }
    }
    m.resize(256, 0);
    m[253..].copy_from_slice(&[1, 0, 1]);
    m
}

/// PKCS#1 RSAPublicKey PEM for `n` and `e`.
fn pkcs1_pem(n: &[u8], e: &[u8]) -> String {
    fn int(x: &[u8]) -> Vec<u8> {
        let mut v = x.to_vec();
        if v[0] & 0x80 != 0 {
            v.insert(0, 0);
        }
        let mut out = vec![0x02];
        out.extend(len(v.len()));
        out.extend(v);
        out
    }
    fn len(l: usize) -> Vec<u8> {
        if l < 0x80 {
            vec![l as u8]
        } else {
            vec![0x82, (l >> 8) as u8, l as u8]
        }
    }
    let body = [int(n), int(e)].concat();
    let mut der = vec![0x30];
    der.extend(len(body.len()));
    der.extend(body);
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n", lines.join("\n"))
}

fn local_pem_error(pem: &str) -> String {
    let cfg = json!({"version": 1, "algorithm": "RS256", "mode": "local", "options": {"modes": {"local": pem}}});
    match Loaded::new(Config::parse(&cfg.to_string()).unwrap()) {
        Ok(_) => panic!("loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn rsa_keys_with_the_roca_fingerprint_are_refused() {
    let n = roca_modulus();
    assert!(mqtt_jwt_auth::keys::has_roca_fingerprint(&n));
    let err = load_error(json!("RS256"), json!([rsa1("roca", json!({"n": b64(&n)}))]));
    assert!(err.contains("kid roca") && err.contains("ROCA") && err.contains("CVE-2017-15361"), "{err}");
    let (_, w) = load_set(json!("RS256"), json!([rsa1("roca", json!({"n": b64(&n)})), rsa1("ok", json!({}))])).unwrap();
    assert!(w.len() == 1 && w[0].contains("ROCA"), "{w:?}");
    let err = local_pem_error(&pkcs1_pem(&n, &[1, 0, 1]));
    assert!(err.contains("options.modes.local") && err.contains("ROCA"), "{err}");
    // The fixture keys and keys openssl makes do not have it.
    for name in ["rsa-1", "rsa-2"] {
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(fixture_jwk(name)["n"].as_str().unwrap());
        assert!(!mqtt_jwt_auth::keys::has_roca_fingerprint(&n.unwrap()), "{name}");
    }
}

#[test]
fn rsa_exponent_rules_give_their_reason() {
    for (e, why) in [
        (vec![1u8], "exponent 1 is below 3"),
        (vec![2], "exponent 2 is below 3"),
        (vec![1, 0, 0], "exponent 65536 is even"),
    ] {
        let err = load_error(json!("RS256"), json!([rsa1("bad-e", json!({"e": b64(&e)}))]));
        assert!(err.contains("kid bad-e") && err.contains(why), "{err}");
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(fixture_jwk("rsa-1")["n"].as_str().unwrap());
        let err = local_pem_error(&pkcs1_pem(&n.unwrap(), &e));
        assert!(err.contains(why), "{err}");
    }
    // e = 3 is odd and allowed.
    let (_, w) = load_set(json!("RS256"), json!([rsa1("e3", json!({"e": "Aw"}))])).unwrap();
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn an_unusable_set_names_each_keys_reason() {
    // Today's main said "no usable key in the set (1 skipped)" and "(0 skipped)" for `use: enc`.
    let err = load_error(
        json!("RS256"),
        json!([
            rsa1("enc", json!({"use": "enc"})),
            rsa1("small", json!({"n": b64([0xc1u8; 128])})),
            json!({"kty": "EC", "kid": "k1", "crv": "secp256k1", "x": "AA", "y": "AA"}),
            json!("nope")
        ]),
    );
    for part in [
        "keys[0] (kid enc): not a signature key (\"use\": \"enc\")",
        "keys[1] (kid small): RSA modulus of 1024 bits is too small",
        "keys[2] (kid k1): unsupported curve \"secp256k1\"",
        "keys[3] (kid -): not an object",
    ] {
        assert!(err.contains(part), "{part}\n{err}");
    }
    // Usable keys, but none for the allowed algorithms: each key with its reason.
    let err = load_error(json!(["PS256", "ES384"]), json!([rsa1("pinned", json!({})), fixture_jwk("ec-256")]));
    assert!(err.contains("key pinned: pinned to RS256 by its JWK \"alg\""), "{err}");
    assert!(err.contains("key ec-256 (EC P-256 public key) verifies none of them"), "{err}");
}

#[test]
fn es512_everywhere_es256_works() {
    let c = claims("alice", json!({}));
    let t = sign_with(&signer(Alg::ES512), None, &c);
    // Static PEM, SPKI.
    let pem = keys_dir().join("ec521.pub.pem").display().to_string();
    let cfg = json!({"version": 1, "algorithm": "ES512", "mode": "local", "options": {"modes": {"local": {"filePath": pem}}}});
    let (e, _) = Loaded::new(Config::parse(&cfg.to_string()).unwrap()).unwrap();
    e.authenticate(&t, now()).unwrap();
    // JWK crv P-521, in a set with the other curves.
    let (e, w) = load_set(
        json!(["ES256", "ES384", "ES512"]),
        json!([fixture_jwk("ec-256"), fixture_jwk("ec-384"), fixture_jwk("ec-521")]),
    )
    .unwrap();
    assert!(w.is_empty(), "{w:?}");
    e.authenticate(&sign_with(&signer(Alg::ES512), Some("ec-521"), &c), now()).unwrap();
    // Not in the allow-list: refused as such, whatever the key.
    let (only256, _) = load_set(json!("ES256"), json!([fixture_jwk("ec-256"), fixture_jwk("ec-521")])).unwrap();
    assert_eq!(only256.authenticate(&t, now()).unwrap_err().reason, Reason::AlgorithmNotAllowed);
    // A P-384 key cannot check ES512, nor a P-521 key ES384.
    let (e, _) = load_set(json!(["ES384", "ES512"]), json!([fixture_jwk("ec-384")])).unwrap();
    assert_eq!(e.authenticate(&t, now()).unwrap_err().reason, Reason::NoKeyForAlgorithm);
    // Wrong coordinate sizes for P-521 are skipped.
    let mut bad = fixture_jwk("ec-521");
    bad["x"] = fixture_jwk("ec-384")["x"].clone();
    assert!(load_error(json!("ES512"), json!([bad])).contains("coordinate is 48 bytes, expected 66"));
}

/// Serves `body` as JSON on a loopback port for up to `requests` requests or ten seconds.
fn serve_json(body: String, requests: usize) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut served = 0;
        while served < requests && std::time::Instant::now() < deadline {
            let Ok((mut s, _)) = listener.accept() else {
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            };
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).and_then(|_| s.write_all(body.as_bytes()));
            served += 1;
        }
    });
    url
}

#[test]
fn shared_secrets_over_http_are_skipped_end_to_end() {
    let secret = [0x42u8; 64];
    let set = json!({"keys": [fixture_jwk("ec-256"), oct("hs-remote", &secret, None)]}).to_string();
    let cfg = json!({"version": 1, "algorithm": ["ES256", "HS256"], "mode": "jwks",
                     "options": {"modes": {"jwks": {"uri": serve_json(set, 3), "timeoutMs": 2000}}}});
    let (e, _) = Loaded::new(Config::parse(&cfg.to_string()).unwrap()).unwrap();
    e.keys.start().unwrap();
    e.keys.wait().unwrap();
    let log: Vec<String> = e.notices.drain().into_iter().map(|(_, l)| l).collect();
    assert!(log.iter().any(|l| l.contains("kid hs-remote") && l.contains("from a URL is never used")), "{log:?}");
    // Anyone who read the endpoint could sign with the secret: such a token is refused.
    let hs = mqtt_jwt_auth::keys::Signer::new(Alg::HS256, &secret).unwrap();
    let forged = sign_with(&hs, Some("hs-remote"), &claims("admin", json!({})));
    assert_eq!(e.authenticate(&forged, now()).unwrap_err().reason, Reason::UnknownKid);
    let forged = sign_with(&hs, None, &claims("admin", json!({})));
    assert_eq!(e.authenticate(&forged, now()).unwrap_err().reason, Reason::NoKeyForAlgorithm);
    e.authenticate(&sign_with(&signer(Alg::ES256), Some("ec-256"), &claims("alice", json!({}))), now()).unwrap();
}

#[test]
fn a_jwk_alg_pins_the_key_and_the_refusal_says_so() {
    // As the RFC 7520 example key: "alg": "PS256" must not verify PS384, though both are RSA-PSS.
    let rsa2 = with_kid(fixture_jwk("rsa-2"), "pss-key");
    let mut pinned = rsa2.clone();
    pinned["alg"] = json!("PS256");
    let (e, _) = load_set(json!(["PS256", "PS384"]), json!([pinned])).unwrap();
    let key = key_file("rsa2.key");
    let t = |alg: Alg| {
        let s = mqtt_jwt_auth::keys::Signer::new(alg, &key).unwrap();
        sign_with(&s, Some("pss-key"), &claims("alice", json!({})))
    };
    e.authenticate(&t(Alg::PS256), now()).unwrap();
    let r = e.authenticate(&t(Alg::PS384), now()).unwrap_err();
    assert_eq!(r.reason, Reason::NoKeyForAlgorithm);
    assert!(r.detail.contains("key pss-key: pinned to PS256 by its JWK \"alg\""), "{r}");
    // Without the pin the same key verifies both.
    let (e, _) = load_set(json!(["PS256", "PS384"]), json!([rsa2])).unwrap();
    e.authenticate(&t(Alg::PS384), now()).unwrap();
}

fn with_kid(mut k: Value, kid: &str) -> Value {
    k["kid"] = json!(kid);
    k
}
