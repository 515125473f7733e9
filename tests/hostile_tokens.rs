//! A corpus of known JWT attacks, each sent as the password of a CONNECT to a real mosquitto with the
//! plugin: every one is refused (CONNACK 5) with a refusal log line naming the client, and after each
//! one the broker still accepts a good client and answers a ping. The verifier-level reasons are
//! pinned in tests/verify_matrix.rs; this is the same ground through the C boundary.
mod support;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::Engine;
use mqtt_jwt_auth::alg::Alg;
use mqtt_jwt_auth::keys::Signer;
use serde_json::{json, Value};
use std::time::Duration;
use support::broker::{keys_dir, Broker};
use support::mqtt::{self, Connect, Outcome};
use support::tokens::{self, claims, ecdsa_der, hmac_sha256, raw, sign_with, signer};

const ACCEPTED: Outcome = Outcome::Connack(0);
const NOT_AUTHORISED: Outcome = Outcome::Connack(5);
/// The secret of the JWK "hs-1" in tests/keys/jwks-oct.json.
const JWKS_HS_SECRET: &[u8] = b"jwks-shared-secret-for-tests-0123456789";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// Header and payload as given (any bytes), signed with `key`.
fn forge(header: &str, payload: &str, key: &Signer) -> String {
    let msg = format!("{}.{}", b64(header), b64(payload));
    format!("{msg}.{}", b64(key.sign(msg.as_bytes()).unwrap()))
}

/// Signed with the real HMAC key of the set (kid hs-1): only the content is hostile.
fn forge_hs(header: &str, payload: &str) -> String {
    forge(header, payload, &Signer::new(Alg::HS256, JWKS_HS_SECRET).unwrap())
}

fn good_claims(sub: &str) -> String {
    claims(sub, json!({})).to_string()
}

/// An attacker's own P-256 key (in no configured set): header → token signed by it, and its JWK.
struct Attacker {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Attacker {
    fn new() -> Attacker {
        Attacker { pair: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(), rng: SystemRandom::new() }
    }

    fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
    }

    fn sign(&self, header: &Value, payload: &str) -> String {
        let msg = format!("{}.{}", b64(header.to_string()), b64(payload));
        let sig = self.pair.sign(&self.rng, msg.as_bytes()).unwrap();
        format!("{msg}.{}", b64(sig.as_ref()))
    }
}

/// Every case: (client id, password bytes). The client id names the case in the broker's log.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut cases: Vec<(String, String)> = Vec::new();
    let c = good_claims("admin");
    let mut add = |name: &str, token: String| cases.push((format!("hostile-{name}"), token));

    // alg "none" in every spelling, with and without a signature part.
    for alg in ["none", "None", "NONE", "nOnE", "none ", " none", "none\u{0}"] {
        let h = json!({"alg": alg, "typ": "JWT"});
        add(&format!("alg-{}", b64(alg)), raw(&h, &json!({"sub": "admin", "exp": tokens::now() + 3600}), b""));
        add(&format!("alg-sig-{}", b64(alg)), raw(&h, &claims("admin", json!({})), b"sig"));
    }
    add("alg-missing", raw(&json!({"typ": "JWT"}), &claims("admin", json!({})), b"x"));
    add("alg-array", raw(&json!({"alg": ["HS256"]}), &claims("admin", json!({})), b"x"));
    add("alg-unsupported", forge_hs(r#"{"alg":"HS1"}"#, &c));
    // A duplicated alg: one parser reads "none", another "HS256".
    add("alg-duplicate", forge_hs(r#"{"alg":"none","alg":"HS256","kid":"hs-1"}"#, &c));

    // HMAC keyed with the public key (PEM text, DER, the JWK's n), with the kid of the RSA key and without.
    let pem = tokens::key_file("rsa.pub.pem");
    let spki_der = {
        let text = String::from_utf8(pem.clone()).unwrap();
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD.decode(body).unwrap()
    };
    let jwks: Value = serde_json::from_slice(&tokens::key_file("jwks.json")).unwrap();
    let n = unb64(jwks["keys"][0]["n"].as_str().unwrap());
    for (what, key) in [("pem", &pem), ("der", &spki_der), ("n", &n)] {
        for kid in [Some("rsa-1"), None] {
            let mut h = json!({"alg": "HS256"});
            if let Some(k) = kid {
                h["kid"] = json!(k);
            }
            let msg = format!("{}.{}", b64(h.to_string()), b64(&c));
            let sig = hmac_sha256(key, msg.as_bytes());
            add(&format!("hmac-pubkey-{what}-{}", kid.unwrap_or("nokid")), format!("{msg}.{}", b64(sig)));
        }
    }

    // Embedded keys and key URLs: jwk, jku, x5u, x5c, signed by a key in no configured set.
    let attacker = Attacker::new();
    let jwk = attacker.jwk();
    let headers = [
        ("jwk", json!({"alg": "ES256", "jwk": jwk})),
        ("jwk-kid", json!({"alg": "ES256", "jwk": jwk, "kid": "ec-256"})),
        ("jku", json!({"alg": "ES256", "jku": "http://127.0.0.1:1/jwks.json", "kid": "attacker"})),
        ("jku-known-kid", json!({"alg": "ES256", "jku": "http://127.0.0.1:1/jwks.json", "kid": "ec-256"})),
        ("x5u", json!({"alg": "ES256", "x5u": "http://127.0.0.1:1/cert.pem"})),
        ("x5c", json!({"alg": "ES256", "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]})),
    ];
    for (name, h) in headers {
        add(&format!("embedded-{name}"), attacker.sign(&h, &c));
    }

    // kid tricks: paths, injection, empty, NUL, non-strings, a kid naming a key of another kind,
    // and a kid naming another key of the same kind than the one that signed.
    for (name, kid) in [
        ("path", json!("../../../../../../dev/null")),
        ("sql", json!("x' OR '1'='1")),
        ("empty", json!("")),
        ("nul", json!("hs-1\u{0}")),
        ("array", json!(["hs-1"])),
        ("number", json!(1)),
        ("object", json!({"kid": "hs-1"})),
        ("null", json!(null)),
        ("wildcard", json!("*")),
    ] {
        let h = json!({"alg": "HS256", "kid": kid}).to_string();
        add(&format!("kid-{name}"), forge_hs(&h, &c));
    }
    add("kid-rsa-key-hmac", forge_hs(r#"{"alg":"HS256","kid":"rsa-1"}"#, &c));
    let rsa2 = Signer::new(Alg::RS256, &tokens::key_file("rsa2.key")).unwrap();
    add("kid-other-rsa-key", sign_with(&rsa2, Some("rsa-1"), &claims("admin", json!({}))));
    add("kid-hmac-key-rs256", sign_with(&signer(Alg::RS256), Some("hs-1"), &claims("admin", json!({}))));

    // ECDSA: zero signatures (CVE-2022-21449), r = s = n, and a real signature in DER form.
    let ec = |alg: &str, kid: &str| json!({"alg": alg, "kid": kid});
    let cl = claims("admin", json!({}));
    add("ecdsa-zero-256", raw(&ec("ES256", "ec-256"), &cl, &[0u8; 64]));
    add("ecdsa-zero-384", raw(&ec("ES384", "ec-384"), &cl, &[0u8; 96]));
    add("ecdsa-zero-521", raw(&ec("ES512", "ec-521"), &cl, &[0u8; 132]));
    let es512 = tokens::sign_with(&tokens::signer(mqtt_jwt_auth::alg::Alg::ES512), Some("ec-521"), &cl);
    let (msg, s) = es512.rsplit_once('.').unwrap();
    add("ecdsa-truncated-521", format!("{msg}.{}", b64(&unb64(s)[..131])));
    add("ecdsa-swapped-521", {
        let sig = unb64(s);
        format!("{msg}.{}", b64([&sig[66..], &sig[..66]].concat()))
    });
    add("ecdsa-zero-nokid", raw(&json!({"alg": "ES256"}), &cl, &[0u8; 64]));
    add("ecdsa-empty", raw(&json!({"alg": "ES256"}), &cl, b""));
    let order = unb64("_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE");
    add("ecdsa-r-s-n", raw(&ec("ES256", "ec-256"), &cl, &[order.clone(), order].concat()));
    for (alg, kid) in [(Alg::ES256, "ec-256"), (Alg::ES384, "ec-384")] {
        let good = sign_with(&signer(alg), Some(kid), &claims("admin", json!({})));
        let (msg, s) = good.rsplit_once('.').unwrap();
        add(&format!("ecdsa-der-{kid}"), format!("{msg}.{}", b64(ecdsa_der(&unb64(s)))));
    }

    // crit headers, understood or not.
    for (name, crit) in [("exp", json!(["exp"])), ("b64", json!(["b64"])), ("empty", json!([])), ("str", json!("x"))] {
        let h = json!({"alg": "HS256", "kid": "hs-1", "crit": crit, "b64": false, "exp": 1}).to_string();
        add(&format!("crit-{name}"), forge_hs(&h, &c));
    }

    // Duplicate claims: parsers disagree on which copy wins.
    let exp = tokens::now() + 3600;
    let hs = r#"{"alg":"HS256","kid":"hs-1"}"#;
    add("dup-sub", forge_hs(hs, &format!(r#"{{"sub":"user","sub":"admin","exp":{exp}}}"#)));
    add("dup-exp", forge_hs(hs, &format!(r#"{{"sub":"a","exp":1,"exp":{exp}}}"#)));
    add("dup-nested", forge_hs(hs, &format!(r#"{{"sub":"a","exp":{exp},"r":{{"x":1,"x":2}}}}"#)));
    add("dup-header-kid", forge_hs(r#"{"alg":"HS256","kid":"rsa-1","kid":"hs-1"}"#, &c));

    // exp that is not a usable number.
    for (name, v) in [
        ("string", json!(exp.to_string())),
        ("negative", json!(-1)),
        ("zero", json!(0)),
        ("null", json!(null)),
        ("bool", json!(true)),
        ("array", json!([exp])),
        ("object", json!({"$numberLong": exp.to_string()})),
    ] {
        let mut p = json!({"sub": "admin", "iat": tokens::now()});
        p["exp"] = v;
        add(&format!("exp-{name}"), forge_hs(hs, &p.to_string()));
    }
    add("exp-huge", forge_hs(hs, r#"{"sub":"admin","exp":1e400}"#));
    add("exp-nan", forge_hs(hs, r#"{"sub":"admin","exp":NaN}"#));
    add("exp-missing", forge_hs(hs, r#"{"sub":"admin"}"#));
    add("nbf-future", forge_hs(hs, &format!(r#"{{"sub":"admin","exp":{exp},"nbf":{exp}}}"#)));

    // Deep nesting, in the payload and in the header.
    let deep = |d: usize| format!("{}1{}", "[".repeat(d), "]".repeat(d));
    add("deep-200", forge_hs(hs, &format!(r#"{{"sub":"admin","exp":{exp},"x":{}}}"#, deep(200))));
    add("deep-3000", forge_hs(hs, &format!(r#"{{"sub":"admin","exp":{exp},"x":{}}}"#, deep(3000))));
    add("deep-header", forge_hs(&format!(r#"{{"alg":"HS256","kid":"hs-1","x":{}}}"#, deep(500)), &c));

    // Encoding tricks on a token that is otherwise valid.
    let valid = forge_hs(hs, &good_claims("admin"));
    let (h64, rest) = valid.split_once('.').unwrap();
    let (p64, s64) = rest.split_once('.').unwrap();
    add("pad-signature", format!("{valid}=="));
    add("pad-payload", format!("{h64}.{p64}=.{s64}"));
    add("pad-header", format!("{h64}=.{p64}.{s64}"));
    // Standard base64 with padding (32 bytes of HMAC: always ends in "=").
    add("std-base64", format!("{h64}.{p64}.{}", base64::engine::general_purpose::STANDARD.encode(unb64(s64))));
    add("trailing-dot", format!("{valid}."));
    add("trailing-part", format!("{valid}.AAAA"));
    add("trailing-space", format!("{valid} "));
    add("trailing-newline", format!("{valid}\n"));
    add("trailing-bytes", format!("{valid}AA"));
    add("leading-space", format!(" {valid}"));
    add("bearer-prefix", format!("Bearer {valid}"));
    add(
        "jwe",
        format!(
            "{}.{}.{}.{}.{}",
            b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#),
            b64([1u8; 256]),
            b64([2u8; 12]),
            b64("c"),
            b64([3u8; 16])
        ),
    );
    add("json-serialization", json!({"protected": h64, "payload": p64, "signature": s64}).to_string());
    add("two-parts", format!("{h64}.{p64}"));
    add("swapped-parts", format!("{p64}.{h64}.{s64}"));
    add("payload-not-json", forge_hs(hs, "admin"));
    add("payload-array", forge_hs(hs, &format!("[{{\"sub\":\"admin\",\"exp\":{exp}}}]")));

    // Subjects that would be dangerous as an MQTT username or client id, validly signed.
    for (name, sub) in [
        ("hash", "#"),
        ("plus", "+"),
        ("trailing-hash", "devices/#"),
        ("plus-level", "devices/+/x"),
        ("nul", "dev\u{0}admin"),
        ("newline", "dev\nadmin"),
        ("empty", ""),
    ] {
        add(&format!("sub-{name}"), forge_hs(hs, &good_claims(sub)));
    }
    add("sub-number", forge_hs(hs, &format!(r#"{{"sub":7,"exp":{exp}}}"#)));
    add("sub-array", forge_hs(hs, &format!(r#"{{"sub":["admin"],"exp":{exp}}}"#)));

    let mut out: Vec<(String, Vec<u8>)> = cases.into_iter().map(|(n, t)| (n, t.into_bytes())).collect();
    // Oversized: the largest password MQTT can carry, and non-UTF-8 bytes.
    out.push(("hostile-huge".into(), vec![b'A'; 65_000]));
    out.push(("hostile-not-utf8".into(), [&valid.as_bytes()[..20], b"\xff\xfe", &valid.as_bytes()[20..]].concat()));
    out
}

/// The broker still accepts a good client and answers a ping.
fn assert_alive(b: &mut Broker, good: &str, after: &str) {
    assert!(b.is_alive(), "broker died after {after}:\n{}", b.log());
    let c = Connect { version: 4, client_id: "alive-check", password: Some(good.as_bytes()), ..Default::default() };
    let (s, out) = mqtt::connect(b.port, &c);
    assert_eq!(out, ACCEPTED, "good token refused after {after}:\n{}", b.log());
    let mut s = s.unwrap();
    assert!(mqtt::ping(&mut s), "no PINGRESP after {after}");
    mqtt::disconnect(s);
}

fn jwks_broker(file: &str) -> Broker {
    let cfg = json!({
        "version": 1,
        "algorithm": ["HS256","HS384","HS512","RS256","RS384","RS512","PS256","PS384","PS512","ES256","ES384","ES512","EdDSA"],
        "mode": "jwks",
        "options": {
            "modes": {"jwks": {"filePath": keys_dir().join(file).display().to_string()}},
            "common": {"matchUsernameToSubject": true}
        }
    });
    Broker::start(&cfg.to_string())
}

#[test]
fn the_attack_corpus_is_refused_and_the_broker_lives() {
    // A set file holds shared secrets or public keys, never both: every case meets each kind.
    let hs = forge_hs(r#"{"alg":"HS256","kid":"hs-1"}"#, &good_claims("device-1"));
    let ec = sign_with(&signer(Alg::ES256), Some("ec-256"), &claims("device-1", json!({})));
    let corpus = corpus();
    assert!(corpus.len() >= 95, "corpus shrank: {}", corpus.len());
    for (file, good) in [("jwks-oct.json", &hs), ("jwks.json", &ec)] {
        run_corpus(jwks_broker(file), good, &corpus);
    }
}

fn run_corpus(mut b: Broker, good: &str, corpus: &[(String, Vec<u8>)]) {
    assert_alive(&mut b, good, "start");
    for (id, password) in corpus {
        let c = Connect { version: 4, client_id: id, password: Some(password), ..Default::default() };
        let (_, out) = mqtt::connect(b.port, &c);
        assert_eq!(out, NOT_AUTHORISED, "{id} was not refused:\n{}", b.log());
        assert_alive(&mut b, good, id);
    }
    // Every refusal was logged by the plugin with its category, never with the token.
    for (id, password) in corpus {
        let line = format!("refused client {id} from 127.0.0.1: ");
        assert!(b.wait_log(&line, Duration::from_secs(5)), "no refusal line for {id}:\n{}", b.log());
        if password.len() > 40 {
            let text = String::from_utf8_lossy(password);
            assert!(!b.log().contains(text.trim()), "{id}: the token appears in the log");
        }
    }
    assert!(!b.log().contains("internal error"), "{}", b.log());
}

#[test]
fn hmac_with_the_public_key_of_a_local_rsa_key_is_refused() {
    // The classic confusion: RS256 and HS256 both allowed, one RSA public key configured.
    let pem = keys_dir().join("rsa.pub.pem").display().to_string();
    let cfg = json!({"version": 1, "algorithm": ["RS256", "HS256"], "mode": "local",
                     "options": {"modes": {"local": {"filePath": pem}}}});
    let mut b = Broker::start(&cfg.to_string());
    let good = tokens::token(Alg::RS256, "device-1", json!({}));
    assert_alive(&mut b, &good, "start");
    let key = tokens::key_file("rsa.pub.pem");
    let trimmed = String::from_utf8(key.clone()).unwrap().trim_end().as_bytes().to_vec();
    for (i, k) in [key, trimmed].iter().enumerate() {
        let msg = format!("{}.{}", b64(json!({"alg": "HS256"}).to_string()), b64(good_claims("admin")));
        let t = format!("{msg}.{}", b64(hmac_sha256(k, msg.as_bytes())));
        let id = format!("hmac-pem-{i}");
        assert_eq!(mqtt::connect_with_password(b.port, &id, None, &t), NOT_AUTHORISED);
        assert!(
            b.wait_log(&format!("refused client {id} from 127.0.0.1: no-key-for-algorithm"), Duration::from_secs(5))
        );
        assert_alive(&mut b, &good, &id);
    }
}
