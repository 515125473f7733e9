//! Verification without a broker: every algorithm with the right key, every refusal reason, the
//! known JWT attacks, identity binding and the verified-token cache.
#[path = "support/mod.rs"]
mod support;

use base64::Engine as _;
use mqtt_jwt_auth::alg::Alg;
use mqtt_jwt_auth::config::Config;
use mqtt_jwt_auth::keys::Signer;
use mqtt_jwt_auth::loaded::Loaded;
use mqtt_jwt_auth::refusal::Reason;
use serde_json::{json, Value};
use support::broker::keys_dir;
use support::tokens::{
    self, claims, ecdsa_der, hmac_sha256, key_file, raw, sign_with, signer, token, HS512_SECRET, HS_SECRET,
};

const JWKS_HS_SECRET: &str = "jwks-shared-secret-for-tests-0123456789";

fn key(name: &str) -> String {
    keys_dir().join(name).display().to_string()
}

fn now() -> f64 {
    tokens::now() as f64
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

fn engine(cfg: Value) -> Loaded {
    let text = cfg.to_string();
    let config = Config::parse(&text).unwrap_or_else(|e| panic!("config: {e}\n{text}"));
    Loaded::new(config).unwrap_or_else(|e| panic!("engine: {e}\n{text}")).0
}

/// `mode: local` with the given algorithm(s), key and common options.
fn local(alg: Value, local: Value, common: Value) -> Loaded {
    engine(json!({"version": 1, "algorithm": alg, "mode": "local",
                  "options": {"modes": {"local": local}, "common": common}}))
}

fn local_file(alg: &str, file: &str) -> Loaded {
    local(json!(alg), json!({"filePath": key(file)}), json!({}))
}

/// `mode: jwks` over tests/keys/jwks.json.
fn jwks(alg: Value, common: Value) -> Loaded {
    engine(json!({"version": 1, "algorithm": alg, "mode": "jwks",
                  "options": {"modes": {"jwks": {"filePath": key("jwks.json")}}, "common": common}}))
}

fn hs256(common: Value) -> Loaded {
    local(json!("HS256"), json!(HS_SECRET), common)
}

fn rs256() -> Loaded {
    local_file("RS256", "rsa.pub.pem")
}

#[track_caller]
fn accepted(e: &Loaded, token: &str) -> std::sync::Arc<mqtt_jwt_auth::token::Token> {
    match e.authenticate(token, now()) {
        Ok(t) => t,
        Err(r) => panic!("refused ({r}): {token}"),
    }
}

#[track_caller]
fn refused(e: &Loaded, token: &str) -> Reason {
    let by_engine = match e.authenticate(token, now()) {
        Ok(t) => panic!("accepted {t:?}: {token}"),
        Err(r) => r,
    };
    // The verifier alone (no cache) agrees.
    let by_verifier = e.verify_uncached(token, now()).expect_err("verifier accepted what the engine refused");
    assert_eq!(by_engine.reason, by_verifier.reason, "{by_engine} vs {by_verifier}");
    assert!(token.is_empty() || !by_engine.to_string().contains(token), "a refusal must never quote the token");
    by_engine.reason
}

/// Signs arbitrary header and payload bytes (not necessarily JSON) with `key`.
fn forge(header: &[u8], payload: &[u8], key: &Signer) -> String {
    let msg = format!("{}.{}", b64(header), b64(payload));
    format!("{msg}.{}", b64(key.sign(msg.as_bytes()).unwrap()))
}

fn forge_hs256(header: &str, payload: &str) -> String {
    forge(header.as_bytes(), payload.as_bytes(), &Signer::new(Alg::HS256, HS_SECRET.as_bytes()).unwrap())
}

fn valid_claims() -> String {
    claims("alice", json!({})).to_string()
}

fn rsa2() -> Signer {
    Signer::new(Alg::RS256, &key_file("rsa2.key")).unwrap()
}

/// The public half of rsa2 as JWK members (an attacker's key).
fn rsa2_jwk() -> Value {
    let set: Value = serde_json::from_slice(&key_file("jwks.json")).unwrap();
    let k = set["keys"].as_array().unwrap().iter().find(|k| k["kid"] == "rsa-2").unwrap();
    json!({"kty": "RSA", "n": k["n"], "e": k["e"]})
}

// =============================================================================================
// Accepted: every algorithm with its key

#[test]
fn hmac_algorithms() {
    let cases = [
        (Alg::HS256, "HS256", HS_SECRET, "hs.secret"),
        (Alg::HS384, "HS384", HS512_SECRET, "hs512.secret"),
        (Alg::HS512, "HS512", HS512_SECRET, "hs512.secret"),
    ];
    for (alg, name, secret, file) in cases {
        for e in [
            local(json!(name), json!(secret), json!({})),
            local(json!(name), json!({"plain": secret}), json!({})),
            local_file(name, file),
        ] {
            let t = accepted(&e, &token(alg, "alice", json!({})));
            assert_eq!(t.sub.as_deref(), Some("alice"));
        }
    }
}

/// Load errors of `mode: local` (the engine refuses to start).
fn local_error(alg: Value, local: Value) -> String {
    let text = json!({"version": 1, "algorithm": alg, "mode": "local", "options": {"modes": {"local": local}}});
    match Loaded::new(Config::parse(&text.to_string()).unwrap()) {
        Ok(_) => panic!("loaded: {text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn short_hmac_secrets_are_load_errors() {
    // RFC 7518 §3.2: at least the hash size. Today's main took a 3-byte secret.
    let e = local_error(json!("HS256"), json!("abc"));
    assert!(e.contains("options.modes.local") && e.contains("3 bytes (24 bits)") && e.contains("HS256"), "{e}");
    let e = local_error(json!("HS256"), json!({"plain": "x".repeat(31)}));
    assert!(e.contains("31 bytes") && e.contains("at least 32 bytes"), "{e}");
    accepted(&local(json!("HS256"), json!("x".repeat(32)), json!({})), &{
        let k = Signer::new(Alg::HS256, "x".repeat(32).as_bytes()).unwrap();
        sign_with(&k, None, &claims("alice", json!({})))
    });
    // 37 bytes serve HS256 but not HS384 or HS512: allowing either is a load error naming it.
    for (algs, named) in [(json!(["HS256", "HS384"]), "HS384"), (json!(["HS512"]), "HS512")] {
        let e = local_error(algs, json!(HS_SECRET));
        assert!(e.contains("37 bytes") && e.contains(&format!("drop {named}")), "{e}");
    }
    let e = local_error(json!("HS512"), json!({"filePath": key("hs.secret")}));
    assert!(e.contains("options.modes.local.filePath") && e.contains("37 bytes"), "{e}");
    std::env::set_var("MQTT_JWT_SHORT_SECRET_TEST", "short");
    let e = local_error(json!("HS256"), json!({"env": "MQTT_JWT_SHORT_SECRET_TEST"}));
    assert!(e.contains("options.modes.local.env") && e.contains("5 bytes"), "{e}");
    // The error never quotes the secret.
    assert!(!local_error(json!("HS512"), json!(HS_SECRET)).contains(HS_SECRET));
}

#[test]
fn rsa_algorithms_spki_and_pkcs1() {
    let algs = [
        (Alg::RS256, "RS256"),
        (Alg::RS384, "RS384"),
        (Alg::RS512, "RS512"),
        (Alg::PS256, "PS256"),
        (Alg::PS384, "PS384"),
        (Alg::PS512, "PS512"),
    ];
    for (alg, name) in algs {
        for file in ["rsa.pub.pem", "rsa.pkcs1.pem"] {
            let e = local_file(name, file);
            let t = accepted(&e, &token(alg, "alice", json!({"scope": "mqtt"})));
            assert_eq!(t.sub.as_deref(), Some("alice"), "{name} {file}");
            assert!(t.exp.get().is_some(), "{name} {file}");
            // Read and checked, but not kept: no later decision reads it (no options.authorization).
            assert_eq!(t.claim("scope"), None);
        }
    }
    // One RSA key serves every RSA algorithm in the allow-list.
    let e = local(json!(["RS256", "PS384", "RS512"]), json!({"filePath": key("rsa.pub.pem")}), json!({}));
    for alg in [Alg::RS256, Alg::PS384, Alg::RS512] {
        accepted(&e, &token(alg, "alice", json!({})));
    }
}

#[test]
fn ec_and_eddsa_algorithms() {
    accepted(&local_file("ES256", "ec256.pub.pem"), &token(Alg::ES256, "alice", json!({})));
    accepted(&local_file("ES384", "ec384.pub.pem"), &token(Alg::ES384, "alice", json!({})));
    accepted(&local_file("EdDSA", "ed25519.pub.pem"), &token(Alg::EdDSA, "alice", json!({})));
    // Inline PEM text works like a file.
    let pem = String::from_utf8(key_file("ec256.pub.pem")).unwrap();
    accepted(&local(json!("ES256"), json!(pem), json!({})), &token(Alg::ES256, "alice", json!({})));
}

#[test]
fn jwks_selects_by_kid() {
    let all = json!(["RS256", "ES256", "ES384", "ES512", "EdDSA"]);
    let text = json!({"version": 1, "algorithm": all, "mode": "jwks",
                      "options": {"modes": {"jwks": {"filePath": key("jwks.json")}}}})
    .to_string();
    let (e, warnings) = Loaded::new(Config::parse(&text).unwrap()).unwrap();
    // The secp256k1 key is skipped with a warning; the `enc` key silently.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("bad-curve"), "{warnings:?}");

    let c = claims("alice", json!({}));
    let cases = [
        (Alg::RS256, "rsa-1", signer(Alg::RS256)),
        (Alg::RS256, "rsa-2", rsa2()),
        (Alg::ES256, "ec-256", signer(Alg::ES256)),
        (Alg::ES384, "ec-384", signer(Alg::ES384)),
        (Alg::EdDSA, "ed-1", signer(Alg::EdDSA)),
    ];
    for (_, kid, k) in &cases {
        let t = accepted(&e, &sign_with(k, Some(kid), &c));
        assert_eq!(t.sub.as_deref(), Some("alice"), "{kid}");
    }
    accepted(&e, &sign_with(&signer(Alg::ES512), Some("ec-521"), &c));
    accepted(&e, &sign_with(&signer(Alg::ES512), None, &c));

    // Shared secrets come from a set of their own: hs-1 (39 bytes) serves HS256 only.
    let oct = engine(json!({"version": 1, "algorithm": ["HS256", "HS384", "HS512"], "mode": "jwks",
                            "options": {"modes": {"jwks": {"filePath": key("jwks-oct.json")}}}}));
    let hs1 = Signer::new(Alg::HS256, JWKS_HS_SECRET.as_bytes()).unwrap();
    accepted(&oct, &sign_with(&hs1, Some("hs-1"), &c));
    let hs1_as_hs512 = Signer::new(Alg::HS512, JWKS_HS_SECRET.as_bytes()).unwrap();
    let r = oct.authenticate(&sign_with(&hs1_as_hs512, Some("hs-1"), &c), now()).unwrap_err();
    assert_eq!(r.reason, Reason::NoKeyForAlgorithm);
    assert!(r.detail.contains("key hs-1") && r.detail.contains("39 bytes") && r.detail.contains("64 bytes"), "{r}");
    // Without a kid, every key of the right kind is tried.
    accepted(&e, &sign_with(&signer(Alg::ES256), None, &c));
    accepted(&e, &sign_with(&rsa2(), None, &c));

    // rsa-1 is pinned to RS256 by its `alg`; rsa-2 is not. The refusal says so.
    let e = jwks(json!(["RS256", "PS256"]), json!({}));
    let pinned = sign_with(&signer(Alg::PS256), Some("rsa-1"), &c);
    assert_eq!(refused(&e, &pinned), Reason::NoKeyForAlgorithm);
    let r = e.authenticate(&pinned, now()).unwrap_err();
    assert!(r.detail.contains("rsa-1") && r.detail.contains("pinned to RS256"), "{r}");
    accepted(&e, &sign_with(&Signer::new(Alg::PS256, &key_file("rsa2.key")).unwrap(), Some("rsa-2"), &c));
    // The `enc` key is not a signature key.
    assert_eq!(refused(&e, &sign_with(&rsa2(), Some("enc-1"), &c)), Reason::UnknownKid);
}

// =============================================================================================
// Refusals

#[test]
fn no_token_and_too_large() {
    let e = hs256(json!({}));
    assert_eq!(refused(&e, ""), Reason::NoToken);

    let big = token(Alg::HS256, "alice", json!({"pad": "x".repeat(9000)}));
    assert!(big.len() > 8192);
    assert_eq!(refused(&e, &big), Reason::TooLarge);
    // Raising the limit lets it through.
    accepted(&hs256(json!({"maxTokenBytes": 16384})), &big);

    let small = hs256(json!({"maxTokenBytes": 64}));
    let t = token(Alg::HS256, "alice", json!({}));
    assert!(t.len() > 64);
    assert_eq!(refused(&small, &t), Reason::TooLarge);
    // Garbage larger than the limit is refused for its size before anything else.
    assert_eq!(refused(&small, &"!".repeat(65)), Reason::TooLarge);
}

#[test]
fn malformed_structure() {
    let e = hs256(json!({}));
    let good = token(Alg::HS256, "alice", json!({}));
    accepted(&e, &good);
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);

    let padded_header = base64::engine::general_purpose::URL_SAFE.encode(r#"{"alg":"HS256","x":12}"#);
    assert!(padded_header.ends_with('='));
    let cases: Vec<(&str, String)> = vec![
        ("one part", h.to_string()),
        ("two parts", format!("{h}.{p}")),
        ("four parts", format!("{good}.{s}")),
        ("empty parts", "..".to_string()),
        ("characters outside base64url", format!("{h}!.{p}.{s}")),
        ("standard base64 alphabet", format!("{h}.{p}.{}", s.replace('-', "+").replace('_', "/") + "+/")),
        ("impossible base64 length", format!("A.{p}.{s}")),
        ("padded header", format!("{}.{p}.{s}", padded_header)),
        ("padding appended", format!("{h}=.{p}.{s}")),
        ("padded signature", format!("{h}.{p}.{s}==")),
        ("trailing space", format!("{good} ")),
        ("trailing newline", format!("{good}\n")),
        ("leading space", format!(" {good}")),
        ("trailing NUL", format!("{good}\0")),
        ("Bearer prefix", format!("Bearer {good}")),
        ("non-JSON header", format!("{}.{p}.{s}", b64("not json"))),
        ("header is an array", format!("{}.{p}.{s}", b64(r#"["alg","HS256"]"#))),
        ("header is a string", format!("{}.{p}.{s}", b64(r#""HS256""#))),
        ("header is null", format!("{}.{p}.{s}", b64("null"))),
        ("header without alg", format!("{}.{p}.{s}", b64(r#"{"typ":"JWT"}"#))),
        ("alg not a string", format!("{}.{p}.{s}", b64(r#"{"alg":256}"#))),
        ("header with trailing bytes", format!("{}.{p}.{s}", b64(r#"{"alg":"HS256"}x"#))),
        ("two header objects", format!("{}.{p}.{s}", b64(r#"{"alg":"HS256"}{"alg":"HS256"}"#))),
        ("duplicate alg", format!("{}.{p}.{s}", b64(r#"{"alg":"HS256","alg":"none"}"#))),
        ("duplicate alg, same value", format!("{}.{p}.{s}", b64(r#"{"alg":"HS256","alg":"HS256"}"#))),
        ("kid not a string", forge_hs256(r#"{"alg":"HS256","kid":5}"#, &valid_claims())),
    ];
    for (what, t) in &cases {
        let r = e.authenticate(t, now()).expect_err(what);
        assert_eq!(r.reason, Reason::Malformed, "{what}: {r}");
        assert_eq!(e.verify_uncached(t, now()).unwrap_err().reason, Reason::Malformed, "{what}");
    }
}

#[test]
fn encrypted_tokens_have_their_own_reason() {
    let e = hs256(json!({}));
    // A JWE in compact form: protected header, encrypted key, IV, ciphertext, tag.
    let h = b64(r#"{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"rsa-1"}"#);
    let jwe = format!("{h}.{}.{}.{}.{}", b64([1u8; 256]), b64([2u8; 12]), b64(b"ciphertext"), b64([3u8; 16]));
    assert_eq!(refused(&e, &jwe), Reason::EncryptedToken);
    // Direct encryption has an empty key part; still five parts.
    let dir =
        format!("{}..{}.{}.{}", b64(r#"{"alg":"dir","enc":"A128GCM"}"#), b64([2u8; 12]), b64(b"c"), b64([3u8; 16]));
    assert_eq!(refused(&e, &dir), Reason::EncryptedToken);
    // Four or six parts are neither.
    let good = token(Alg::HS256, "alice", json!({}));
    assert_eq!(refused(&e, &format!("{good}.x")), Reason::Malformed);
    assert_eq!(refused(&e, &format!("{good}.x.y.z")), Reason::Malformed);
}

#[test]
fn malformed_payload_with_valid_signature() {
    // The payload is only read once the signature holds: sign the bad payloads properly. Today's
    // main called these malformed-token ("not a compact JWT"); the issuer signed a non-JWT.
    let e = hs256(json!({}));
    let exp = tokens::now() + 3600;
    let header = r#"{"alg":"HS256","typ":"JWT"}"#;
    accepted(&e, &forge_hs256(header, &format!(r#"{{"sub":"alice","exp":{exp}}}"#)));
    let cases = [
        ("duplicate sub", format!(r#"{{"sub":"alice","exp":{exp},"sub":"admin"}}"#)),
        ("duplicate exp", format!(r#"{{"sub":"alice","exp":1,"exp":{exp}}}"#)),
        ("nested duplicate", format!(r#"{{"sub":"alice","exp":{exp},"device":{{"id":"a","id":"b"}}}}"#)),
        ("duplicate in array", format!(r#"{{"sub":"alice","exp":{exp},"l":[{{"r":1,"r":2}}]}}"#)),
        ("trailing bytes", format!(r#"{{"sub":"alice","exp":{exp}}}garbage"#)),
        ("second object", format!(r#"{{"sub":"alice","exp":{exp}}}{{"sub":"admin"}}"#)),
        ("not JSON", "sub=alice".to_string()),
        ("array", format!(r#"[{{"sub":"alice","exp":{exp}}}]"#)),
        ("string", r#""alice""#.to_string()),
        ("empty", String::new()),
        ("truncated", format!(r#"{{"sub":"alice","exp":{exp}"#)),
    ];
    for (what, payload) in &cases {
        let t = forge_hs256(header, payload);
        let r = e.authenticate(&t, now()).expect_err(what);
        assert_eq!(r.reason, Reason::BadClaimsSet, "{what}: {r}");
        assert_eq!(refused(&e, &t), Reason::BadClaimsSet, "{what}");
    }
    // Not UTF-8 at all.
    let t = forge(header.as_bytes(), b"\xff\xfe{}", &Signer::new(Alg::HS256, HS_SECRET.as_bytes()).unwrap());
    assert_eq!(refused(&e, &t), Reason::BadClaimsSet);
    // The same payloads with a wrong signature are bad signatures: the payload is not read.
    let t = forge(header.as_bytes(), b"sub=alice", &Signer::new(Alg::HS256, &[9u8; 32]).unwrap());
    assert_eq!(refused(&e, &t), Reason::BadSignature);
    // A payload that is not base64url but passes the alphabet check, with a valid signature.
    let h = b64(header);
    let msg = format!("{h}.A");
    let sig = hmac_sha256(HS_SECRET.as_bytes(), msg.as_bytes());
    assert_eq!(refused(&e, &format!("{msg}.{}", b64(sig))), Reason::Malformed);
}

#[test]
fn algorithm_not_allowed() {
    let e = hs256(json!({}));
    let c = claims("admin", json!({}));
    for none in ["none", "NONE", "nOnE", "None"] {
        let t = raw(&json!({"alg": none, "typ": "JWT"}), &c, b"");
        assert!(t.ends_with('.'), "empty signature");
        assert_eq!(refused(&e, &t), Reason::AlgorithmNotAllowed, "{none}");
        // Even when the signature part holds a valid HS256 MAC.
        let msg = &t[..t.len() - 1];
        let mac = hmac_sha256(HS_SECRET.as_bytes(), msg.as_bytes());
        assert_eq!(refused(&e, &format!("{msg}.{}", b64(mac))), Reason::AlgorithmNotAllowed, "{none}");
    }
    for other in ["", "hs256", "HS256 ", "HS257", "ES512", "RSA-OAEP"] {
        let t = raw(&json!({"alg": other}), &c, b"sig");
        assert_eq!(refused(&e, &t), Reason::AlgorithmNotAllowed, "{other:?}");
    }

    let rs = rs256();
    // HS256 is not in the allow-list, whatever the key.
    assert_eq!(refused(&rs, &token(Alg::HS256, "alice", json!({}))), Reason::AlgorithmNotAllowed);
    // RS512 with the same RSA key, but only RS256 is allowed.
    assert_eq!(refused(&rs, &token(Alg::RS512, "alice", json!({}))), Reason::AlgorithmNotAllowed);
    assert_eq!(refused(&rs, &token(Alg::PS256, "alice", json!({}))), Reason::AlgorithmNotAllowed);
    assert_eq!(refused(&rs, &token(Alg::ES256, "alice", json!({}))), Reason::AlgorithmNotAllowed);
    accepted(&rs, &token(Alg::RS256, "alice", json!({})));
}

#[test]
fn public_key_as_hmac_secret() {
    // The classic confusion: HS256 keyed with the RSA public key's PEM bytes.
    let c = claims("admin", json!({}));
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let unsigned = raw(&header, &c, b"");
    let msg = &unsigned[..unsigned.len() - 1];
    for file in ["rsa.pub.pem", "rsa.pkcs1.pem"] {
        let pem = key_file(file);
        let mut variants = vec![pem.clone()];
        let trimmed = String::from_utf8(pem.clone()).unwrap().trim_end().as_bytes().to_vec();
        variants.push(trimmed);
        let e = local(json!(["RS256", "HS256"]), json!({"filePath": key(file)}), json!({}));
        for secret in &variants {
            let t = format!("{msg}.{}", b64(hmac_sha256(secret, msg.as_bytes())));
            let r = refused(&e, &t);
            assert!(matches!(r, Reason::NoKeyForAlgorithm | Reason::BadSignature), "{file}: {r:?}");
        }
    }
    // Over a JWK set, naming the RSA key's kid.
    let e = jwks(json!(["RS256", "HS256"]), json!({}));
    let pem = key_file("rsa.pub.pem");
    let t = raw(&json!({"alg": "HS256", "kid": "rsa-1"}), &c, b"");
    let msg = &t[..t.len() - 1];
    let t = format!("{msg}.{}", b64(hmac_sha256(&pem, msg.as_bytes())));
    let r = refused(&e, &t);
    assert!(matches!(r, Reason::NoKeyForAlgorithm | Reason::BadSignature), "{r:?}");
    // Without a kid: a set of public keys holds no HMAC key at all (a file cannot mix them).
    let t = sign_with(&Signer::new(Alg::HS256, &pem).unwrap(), None, &c);
    assert_eq!(refused(&e, &t), Reason::NoKeyForAlgorithm);
}

#[test]
fn crit_header() {
    let e = hs256(json!({}));
    // Properly signed, yet refused: no critical extension is understood.
    for h in [
        r#"{"alg":"HS256","crit":["exp"],"exp":1}"#,
        r#"{"alg":"HS256","crit":[]}"#,
        r#"{"alg":"HS256","crit":"b64","b64":false}"#,
    ] {
        assert_eq!(refused(&e, &forge_hs256(h, &valid_claims())), Reason::CritHeader, "{h}");
    }
}

#[test]
fn unknown_kid() {
    let e = jwks(json!(["RS256", "ES256", "HS256"]), json!({}));
    let c = claims("alice", json!({}));
    for kid in ["nope", "", "rsa-1 ", "RSA-1", "../../etc/passwd"] {
        let t = sign_with(&signer(Alg::RS256), Some(kid), &c);
        assert_eq!(refused(&e, &t), Reason::UnknownKid, "{kid:?}");
    }
    // A kid naming a key of another type is not a candidate for this algorithm.
    let t = sign_with(&signer(Alg::RS256), Some("ec-256"), &c);
    assert_eq!(refused(&e, &t), Reason::NoKeyForAlgorithm);
    // A kid naming a key of the right type but signed with another key.
    let t = sign_with(&signer(Alg::RS256), Some("rsa-2"), &c);
    assert_eq!(refused(&e, &t), Reason::BadSignature);
}

#[test]
fn no_key_for_algorithm() {
    // ES384 allowed, but the only key is P-256.
    let e = local(json!(["ES256", "ES384"]), json!({"filePath": key("ec256.pub.pem")}), json!({}));
    assert_eq!(refused(&e, &token(Alg::ES384, "alice", json!({}))), Reason::NoKeyForAlgorithm);
    accepted(&e, &token(Alg::ES256, "alice", json!({})));
}

#[test]
fn bad_signature() {
    let c = claims("alice", json!({}));
    let rs = rs256();

    // Signed by another RSA key.
    assert_eq!(refused(&rs, &sign_with(&rsa2(), None, &c)), Reason::BadSignature);

    // Tampered payload, original signature.
    let good = sign_with(&signer(Alg::RS256), None, &c);
    accepted(&rs, &good);
    let parts: Vec<&str> = good.split('.').collect();
    let evil = b64(claims("admin", json!({})).to_string());
    assert_eq!(refused(&rs, &format!("{}.{evil}.{}", parts[0], parts[2])), Reason::BadSignature);
    // Tampered header (typ added), original signature.
    let h2 = b64(r#"{"alg":"RS256","typ":"JWT","x":1}"#);
    assert_eq!(refused(&rs, &format!("{h2}.{}.{}", parts[1], parts[2])), Reason::BadSignature);
    // Missing, truncated or flipped signature.
    assert_eq!(refused(&rs, &format!("{}.{}.", parts[0], parts[1])), Reason::BadSignature);
    let mut sig = unb64(parts[2]);
    sig[10] ^= 1;
    assert_eq!(refused(&rs, &format!("{}.{}.{}", parts[0], parts[1], b64(&sig))), Reason::BadSignature);
    sig.truncate(128);
    assert_eq!(refused(&rs, &format!("{}.{}.{}", parts[0], parts[1], b64(&sig))), Reason::BadSignature);

    // HMAC with the wrong secret.
    let hs = hs256(json!({}));
    let t = sign_with(&Signer::new(Alg::HS256, b"not-the-secret").unwrap(), None, &c);
    assert_eq!(refused(&hs, &t), Reason::BadSignature);

    // EdDSA and ES384 signed by the wrong curve's key type cannot even be produced; flip a bit.
    for (alg, file) in [(Alg::EdDSA, "ed25519.pub.pem"), (Alg::ES384, "ec384.pub.pem")] {
        let name = format!("{alg:?}");
        let e = local_file(&name, file);
        let t = token(alg, "alice", json!({}));
        let (msg, s) = t.rsplit_once('.').unwrap();
        let mut sig = unb64(s);
        sig[0] ^= 0x80;
        assert_eq!(refused(&e, &format!("{msg}.{}", b64(&sig))), Reason::BadSignature, "{name}");
    }
}

#[test]
fn ecdsa_signature_forms() {
    let e = local_file("ES256", "ec256.pub.pem");
    let c = claims("admin", json!({}));
    // All-zero r and s (the "psychic signature", CVE-2022-21449).
    let zero = raw(&json!({"alg": "ES256", "typ": "JWT"}), &c, &[0u8; 64]);
    assert_eq!(refused(&e, &zero), Reason::BadSignature);
    // r = s = 1, and r = s = the group order n (both invalid).
    let mut ones = [0u8; 64];
    ones[31] = 1;
    ones[63] = 1;
    assert_eq!(refused(&e, &raw(&json!({"alg": "ES256"}), &c, &ones)), Reason::BadSignature);
    let n = unb64("_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE");
    let nn = [n.clone(), n].concat();
    assert_eq!(refused(&e, &raw(&json!({"alg": "ES256"}), &c, &nn)), Reason::BadSignature);

    // A real signature re-encoded as DER (JWS requires the fixed r||s form).
    let good = token(Alg::ES256, "alice", json!({}));
    accepted(&e, &good);
    let (msg, s) = good.rsplit_once('.').unwrap();
    let fixed = unb64(s);
    assert_eq!(fixed.len(), 64);
    assert_eq!(refused(&e, &format!("{msg}.{}", b64(ecdsa_der(&fixed)))), Reason::BadSignature);
    // Same for ES384 (96 bytes fixed).
    let e384 = local_file("ES384", "ec384.pub.pem");
    let good = token(Alg::ES384, "alice", json!({}));
    let (msg, s) = good.rsplit_once('.').unwrap();
    let fixed = unb64(s);
    assert_eq!(fixed.len(), 96);
    assert_eq!(refused(&e384, &format!("{msg}.{}", b64(ecdsa_der(&fixed)))), Reason::BadSignature);
    assert_eq!(refused(&e384, &raw(&json!({"alg": "ES384"}), &c, &[0u8; 96])), Reason::BadSignature);
}

#[test]
fn kid_names_one_key_only() {
    // kid rsa-1 but signed by rsa2 (which is also in the set as rsa-2): the kid decides.
    let e = jwks(json!("RS256"), json!({}));
    let t = sign_with(&rsa2(), Some("rsa-1"), &claims("alice", json!({})));
    assert_eq!(refused(&e, &t), Reason::BadSignature);
}

#[test]
fn embedded_key_headers_are_ignored() {
    let c = claims("admin", json!({}));
    let attacker = rsa2();
    let jwk = rsa2_jwk();
    let headers = [
        json!({"alg": "RS256", "jwk": jwk}),
        json!({"alg": "RS256", "jku": "https://attacker.example/jwks.json"}),
        json!({"alg": "RS256", "x5u": "https://attacker.example/cert.pem"}),
        json!({"alg": "RS256", "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
        json!({"alg": "RS256", "jwk": jwk, "jku": "https://attacker.example/jwks.json", "kid": "attacker"}),
    ];
    let rs = rs256();
    for h in &headers {
        let t = forge(h.to_string().as_bytes(), c.to_string().as_bytes(), &attacker);
        assert_eq!(refused(&rs, &t), Reason::BadSignature, "{h}");
        // The same headers on a token signed by the configured key are harmless.
        let t = forge(h.to_string().as_bytes(), c.to_string().as_bytes(), &signer(Alg::RS256));
        accepted(&rs, &t);
    }
    // Over a JWK set: the embedded key is ignored and the kid's key is used.
    let e = jwks(json!("RS256"), json!({}));
    let h = json!({"alg": "RS256", "kid": "rsa-1", "jwk": jwk});
    let t = forge(h.to_string().as_bytes(), c.to_string().as_bytes(), &attacker);
    assert_eq!(refused(&e, &t), Reason::BadSignature);
    let h = json!({"alg": "RS256", "kid": "attacker", "jku": "https://attacker.example/jwks.json"});
    let t = forge(h.to_string().as_bytes(), c.to_string().as_bytes(), &attacker);
    assert_eq!(refused(&e, &t), Reason::UnknownKid);
}

#[test]
fn expiry() {
    let e = hs256(json!({}));
    let n = tokens::now();
    assert_eq!(refused(&e, &token(Alg::HS256, "alice", json!({"exp": null}))), Reason::MissingExpiry);
    assert_eq!(refused(&e, &token(Alg::HS256, "alice", json!({"exp": n - 1}))), Reason::Expired);
    assert_eq!(refused(&e, &token(Alg::HS256, "alice", json!({"exp": n}))), Reason::Expired);
    assert_eq!(refused(&e, &token(Alg::HS256, "alice", json!({"exp": 0}))), Reason::Expired);
    assert_eq!(refused(&e, &token(Alg::HS256, "alice", json!({"exp": -1}))), Reason::Expired);
    assert_eq!(refused(&e, &token(Alg::HS256, "alice", json!({"exp": -1e300}))), Reason::Expired);
    accepted(&e, &token(Alg::HS256, "alice", json!({"exp": n + 2})));
    accepted(&e, &token(Alg::HS256, "alice", json!({"exp": (n + 60) as f64 + 0.5})));

    // Leeway: expired 5 s ago is accepted with 10 s of leeway, refused with none.
    let t = token(Alg::HS256, "alice", json!({"exp": n - 5}));
    accepted(&hs256(json!({"leewaySeconds": 10})), &t);
    assert_eq!(refused(&hs256(json!({"leewaySeconds": 0})), &t), Reason::Expired);
    assert_eq!(refused(&hs256(json!({"leewaySeconds": 4})), &t), Reason::Expired);

    // validateExpiration false: no exp needed, and an old exp is ignored.
    let lax = hs256(json!({"validateExpiration": false}));
    accepted(&lax, &token(Alg::HS256, "alice", json!({"exp": null})));
    accepted(&lax, &token(Alg::HS256, "alice", json!({"exp": n - 100})));
    // ...but exp still has to be a number.
    assert_eq!(refused(&lax, &token(Alg::HS256, "alice", json!({"exp": "soon"}))), Reason::BadClaim);
}

#[test]
fn not_before_and_issued_at() {
    let e = hs256(json!({}));
    let n = tokens::now();
    assert_eq!(refused(&e, &token(Alg::HS256, "alice", json!({"nbf": n + 100}))), Reason::NotYetValid);
    accepted(&e, &token(Alg::HS256, "alice", json!({"nbf": n - 1})));
    accepted(&e, &token(Alg::HS256, "alice", json!({"nbf": n})));
    assert_eq!(refused(&e, &token(Alg::HS256, "alice", json!({"iat": n + 100}))), Reason::IssuedInFuture);
    accepted(&e, &token(Alg::HS256, "alice", json!({"iat": n - 100})));
    // Leeway covers clock skew both ways.
    let skew = hs256(json!({"leewaySeconds": 30}));
    accepted(&skew, &token(Alg::HS256, "alice", json!({"nbf": n + 10, "iat": n + 10})));
    assert_eq!(refused(&skew, &token(Alg::HS256, "alice", json!({"nbf": n + 100}))), Reason::NotYetValid);
    assert_eq!(refused(&skew, &token(Alg::HS256, "alice", json!({"iat": n + 100}))), Reason::IssuedInFuture);
}

#[test]
fn bad_claims() {
    let e = hs256(json!({}));
    let n = tokens::now();
    for (what, extra) in [
        ("exp as string", json!({"exp": (n + 100).to_string()})),
        ("exp as bool", json!({"exp": true})),
        ("exp as object", json!({"exp": {"value": n + 100}})),
        ("exp as array", json!({"exp": [n + 100]})),
        ("nbf as string", json!({"nbf": "0"})),
        ("iat as string", json!({"iat": "0"})),
    ] {
        assert_eq!(refused(&e, &token(Alg::HS256, "alice", extra)), Reason::BadClaim, "{what}");
    }
    // exp: null in JSON is not a number either.
    let t = forge_hs256(r#"{"alg":"HS256"}"#, r#"{"sub":"alice","exp":null}"#);
    assert_eq!(refused(&e, &t), Reason::BadClaim);
    // A number too large for f64 is not finite.
    let t = forge_hs256(r#"{"alg":"HS256"}"#, r#"{"sub":"alice","exp":1e400}"#);
    let r = e.authenticate(&t, now()).unwrap_err().reason;
    assert!(matches!(r, Reason::BadClaim | Reason::BadClaimsSet), "{r:?}");
}

#[test]
fn bad_subject() {
    let e = hs256(json!({}));
    for sub in ["a\0b", "alice\n", "a\nb", "a\rb", "\u{1b}[31m", "a\u{7f}b", "a\u{85}b", "#", "+", "a/#", "a/+/b"] {
        assert_eq!(refused(&e, &token(Alg::HS256, sub, json!({}))), Reason::BadSubject, "{sub:?}");
    }
    assert_eq!(refused(&e, &token(Alg::HS256, "", json!({}))), Reason::BadSubject);
    for sub in [json!(42), json!(true), json!(["alice"]), json!({"id": "alice"})] {
        assert_eq!(refused(&e, &token(Alg::HS256, "x", json!({"sub": sub}))), Reason::BadSubject, "{sub}");
    }
    // No sub at all is fine for verification (identity rules may still need one).
    let t = accepted(&e, &token(Alg::HS256, "x", json!({"sub": null})));
    assert_eq!(t.sub, None);
    // Unicode that is not a control character is a valid subject.
    accepted(&e, &token(Alg::HS256, "jürgen 😀", json!({})));
}

#[test]
fn issuer_patterns() {
    let t = |iss: Value| token(Alg::HS256, "alice", json!({"iss": iss}));
    let exact = hs256(json!({"issuer": "https://idp.example.com/realms/mqtt"}));
    accepted(&exact, &t(json!("https://idp.example.com/realms/mqtt")));
    for bad in [
        "https://idp.example.com/realms/mqtt/",
        "https://idp.example.com/realms/mqtt2",
        "HTTPS://IDP.EXAMPLE.COM/realms/mqtt",
        "",
    ] {
        assert_eq!(refused(&exact, &t(json!(bad))), Reason::WrongIssuer, "{bad}");
    }
    assert_eq!(refused(&exact, &token(Alg::HS256, "alice", json!({}))), Reason::WrongIssuer, "no iss");
    assert_eq!(refused(&exact, &t(json!(["https://idp.example.com/realms/mqtt"]))), Reason::WrongIssuer, "array iss");
    assert_eq!(refused(&exact, &t(json!(5))), Reason::WrongIssuer);

    let glob = hs256(json!({"issuer": "https://*.example.com/realms/mqtt"}));
    accepted(&glob, &t(json!("https://idp.example.com/realms/mqtt")));
    accepted(&glob, &t(json!("https://a.b.example.com/realms/mqtt")));
    assert_eq!(refused(&glob, &t(json!("https://idp.example.com.evil/realms/mqtt"))), Reason::WrongIssuer);
    assert_eq!(refused(&glob, &t(json!("https://idp.exampleXcom/realms/mqtt"))), Reason::WrongIssuer);
    assert_eq!(refused(&glob, &t(json!("https://idp.example.com/realms/mqtt/x"))), Reason::WrongIssuer);

    let re = hs256(json!({"issuer": "/https://idp-(eu|us)\\.example\\.com/.*/"}));
    accepted(&re, &t(json!("https://idp-eu.example.com/realms/a")));
    accepted(&re, &t(json!("https://idp-us.example.com/x")));
    assert_eq!(refused(&re, &t(json!("https://idp-ap.example.com/x"))), Reason::WrongIssuer);
    assert_eq!(refused(&re, &t(json!("evil https://idp-eu.example.com/x"))), Reason::WrongIssuer, "anchored");

    let list = hs256(json!({"issuer": "https://a.example", "issuers": ["https://b.example", "https://c.*"]}));
    for ok in ["https://a.example", "https://b.example", "https://c.example"] {
        accepted(&list, &t(json!(ok)));
    }
    assert_eq!(refused(&list, &t(json!("https://d.example"))), Reason::WrongIssuer);
}

#[test]
fn audience_patterns() {
    let t = |aud: Value| token(Alg::HS256, "alice", json!({"aud": aud}));
    let one = hs256(json!({"audience": "mqtt"}));
    accepted(&one, &t(json!("mqtt")));
    accepted(&one, &t(json!(["account", "mqtt"])));
    assert_eq!(refused(&one, &t(json!("account"))), Reason::WrongAudience);
    assert_eq!(refused(&one, &t(json!(["account", "web"]))), Reason::WrongAudience);
    assert_eq!(refused(&one, &t(json!([]))), Reason::WrongAudience);
    assert_eq!(refused(&one, &t(json!("MQTT"))), Reason::WrongAudience);
    assert_eq!(refused(&one, &t(json!(7))), Reason::WrongAudience);
    assert_eq!(refused(&one, &t(json!({"aud": "mqtt"}))), Reason::WrongAudience);
    assert_eq!(refused(&one, &t(json!([["mqtt"]]))), Reason::WrongAudience);
    assert_eq!(refused(&one, &token(Alg::HS256, "alice", json!({}))), Reason::WrongAudience, "no aud");

    let many = hs256(json!({"audiences": ["mqtt", "broker-*"], "audience": "/iot-[0-9]+/"}));
    for ok in [json!("mqtt"), json!("broker-eu"), json!("iot-42"), json!(["x", "iot-7"])] {
        accepted(&many, &t(ok));
    }
    for bad in [json!("iot-x"), json!("broker"), json!(["x", "y"])] {
        assert_eq!(refused(&many, &t(bad.clone())), Reason::WrongAudience, "{bad}");
    }
    // No audience rule: any aud is fine.
    accepted(&hs256(json!({})), &t(json!("anything")));
}

// =============================================================================================
// Identity binding

/// The username the broker must be told to set.
fn id(set_username: Option<&str>) -> Option<String> {
    set_username.map(str::to_string)
}

#[test]
fn username_from_subject() {
    let e = hs256(json!({"matchUsernameToSubject": true}));
    let t = accepted(&e, &token(Alg::HS256, "alice", json!({})));
    assert_eq!(e.bind_identity(&t, Some("c1"), Some("bob")).unwrap().set_username, id(Some("alice")));
    assert_eq!(e.bind_identity(&t, Some("c1"), Some("alice")).unwrap().set_username, id(None));
    assert_eq!(e.bind_identity(&t, Some("c1"), Some("alice")).unwrap().username.as_deref(), Some("alice"));
    assert_eq!(e.bind_identity(&t, Some("c1"), None).unwrap().set_username, id(Some("alice")));
    assert_eq!(e.bind_identity(&t, Some("c1"), Some("")).unwrap().set_username, id(Some("alice")));
    // A token without sub cannot name the user.
    let t = accepted(&e, &token(Alg::HS256, "x", json!({"sub": null})));
    assert_eq!(e.bind_identity(&t, Some("c1"), Some("bob")).unwrap_err().reason, Reason::BadSubject);

    // Without any rule, the username is left alone.
    let plain = hs256(json!({}));
    let t = accepted(&plain, &token(Alg::HS256, "alice", json!({})));
    assert_eq!(plain.bind_identity(&t, Some("c1"), Some("bob")).unwrap().set_username, id(None));
}

#[test]
fn refuse_username_mismatch() {
    let e = hs256(json!({"matchUsernameToSubject": true, "refuseUsernameMismatch": true}));
    let t = accepted(&e, &token(Alg::HS256, "alice", json!({})));
    assert_eq!(e.bind_identity(&t, Some("c1"), Some("bob")).unwrap_err().reason, Reason::UsernameMismatch);
    assert_eq!(e.bind_identity(&t, Some("c1"), Some("Alice")).unwrap_err().reason, Reason::UsernameMismatch);
    assert_eq!(e.bind_identity(&t, Some("c1"), Some("alice")).unwrap().set_username, id(None));
    // No username sent: it is set, not refused.
    assert_eq!(e.bind_identity(&t, Some("c1"), None).unwrap().set_username, id(Some("alice")));
}

#[test]
fn username_from_claim() {
    let e = hs256(json!({"matchUsernameToClaim": "preferred_username"}));
    let t = accepted(&e, &token(Alg::HS256, "uuid-1", json!({"preferred_username": "alice"})));
    assert_eq!(e.bind_identity(&t, Some("c1"), Some("bob")).unwrap().set_username, id(Some("alice")));
    assert_eq!(e.bind_identity(&t, Some("c1"), Some("alice")).unwrap().set_username, id(None));
    let t = accepted(&e, &token(Alg::HS256, "uuid-1", json!({})));
    assert_eq!(e.bind_identity(&t, Some("c1"), Some("bob")).unwrap_err().reason, Reason::BadClaim);
    for bad in [json!(5), json!(""), json!("a\nb"), json!(["alice"])] {
        let t = accepted(&e, &token(Alg::HS256, "uuid-1", json!({"preferred_username": bad})));
        assert_eq!(e.bind_identity(&t, Some("c1"), Some("bob")).unwrap_err().reason, Reason::BadClaim, "{bad}");
    }
    // Dotted path into a nested claim.
    let e = hs256(json!({"matchUsernameToClaim": "user.name", "refuseUsernameMismatch": true}));
    let t = accepted(&e, &token(Alg::HS256, "uuid-1", json!({"user": {"name": "alice"}})));
    assert_eq!(e.bind_identity(&t, None, Some("alice")).unwrap().set_username, id(None));
    assert_eq!(e.bind_identity(&t, None, Some("bob")).unwrap_err().reason, Reason::UsernameMismatch);
}

#[test]
fn client_id_to_subject() {
    let e = hs256(json!({"matchClientIdToSubject": true}));
    let t = accepted(&e, &token(Alg::HS256, "dev-1", json!({})));
    assert_eq!(e.bind_identity(&t, Some("dev-1"), Some("any")).unwrap().set_username, id(None));
    for bad in [Some("dev-2"), Some("DEV-1"), Some(""), None] {
        assert_eq!(e.bind_identity(&t, bad, Some("any")).unwrap_err().reason, Reason::ClientIdMismatch, "{bad:?}");
    }
}

#[test]
fn client_id_to_claim() {
    let e = hs256(json!({"matchClientIdToClaim": "device.id"}));
    let t = accepted(&e, &token(Alg::HS256, "alice", json!({"device": {"id": "dev-7"}})));
    assert_eq!(e.bind_identity(&t, Some("dev-7"), None).unwrap().set_username, id(None));
    assert_eq!(e.bind_identity(&t, Some("dev-8"), None).unwrap_err().reason, Reason::ClientIdMismatch);
    assert_eq!(e.bind_identity(&t, None, None).unwrap_err().reason, Reason::ClientIdMismatch);
    // A literal "device.id" claim is not the nested one.
    let t = accepted(&e, &token(Alg::HS256, "alice", json!({"device.id": "dev-7"})));
    assert_eq!(e.bind_identity(&t, Some("dev-7"), None).unwrap_err().reason, Reason::BadClaim);
    let t = accepted(&e, &token(Alg::HS256, "alice", json!({"device": {"id": 7}})));
    assert_eq!(e.bind_identity(&t, Some("7"), None).unwrap_err().reason, Reason::BadClaim);

    // Both client-id rules with a username rule.
    let e =
        hs256(json!({"matchClientIdToSubject": true, "matchClientIdToClaim": "cid", "matchUsernameToSubject": true}));
    let t = accepted(&e, &token(Alg::HS256, "dev-1", json!({"cid": "dev-1"})));
    assert_eq!(e.bind_identity(&t, Some("dev-1"), Some("x")).unwrap().set_username, id(Some("dev-1")));
    let t = accepted(&e, &token(Alg::HS256, "dev-1", json!({"cid": "dev-2"})));
    assert_eq!(e.bind_identity(&t, Some("dev-1"), Some("x")).unwrap_err().reason, Reason::ClientIdMismatch);
}

#[test]
fn token_in_username_field() {
    let e = hs256(json!({"tokenSource": "username", "matchUsernameToSubject": true, "refuseUsernameMismatch": true}));
    assert_eq!(e.token_source(), mqtt_jwt_auth::config::TokenSource::Username);
    let jwt = token(Alg::HS256, "alice", json!({}));
    let t = accepted(&e, &jwt);
    // The username field holds the token: it is replaced by the subject, never compared.
    assert_eq!(e.bind_identity(&t, Some("c1"), Some(&jwt)).unwrap().set_username, id(Some("alice")));
    assert_eq!(hs256(json!({})).token_source(), mqtt_jwt_auth::config::TokenSource::Password);
}

// =============================================================================================
// Verified-token cache

#[test]
fn cache_hits_and_time_rechecks() {
    let e = rs256();
    let n = now();
    let t = sign_with(&signer(Alg::RS256), None, &claims("alice", json!({"exp": n as i64 + 60, "nbf": n as i64 + 10})));
    // Not yet valid, but the signature verified: cached and re-checked.
    assert_eq!(e.authenticate(&t, n).unwrap_err().reason, Reason::NotYetValid);
    assert_eq!(e.cached_tokens(), 1);
    let a = e.authenticate(&t, n + 11.0).unwrap();
    let b = e.authenticate(&t, n + 12.0).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b), "second use is a cache hit");
    assert_eq!(e.cached_tokens(), 1);
    // Past exp, the cached verdict does not help.
    assert_eq!(e.authenticate(&t, n + 60.0).unwrap_err().reason, Reason::Expired);
    assert_eq!(e.authenticate(&t, n + 3600.0).unwrap_err().reason, Reason::Expired);

    // A refused signature is not cached.
    let bad = sign_with(&rsa2(), None, &claims("alice", json!({})));
    assert_eq!(e.authenticate(&bad, n).unwrap_err().reason, Reason::BadSignature);
    assert_eq!(e.authenticate(&bad, n).unwrap_err().reason, Reason::BadSignature);
    assert_eq!(e.cached_tokens(), 1);

    // Any change to the token is a different cache key.
    let (msg, s) = t.rsplit_once('.').unwrap();
    let mut sig = unb64(s);
    sig[0] ^= 1;
    assert_eq!(e.authenticate(&format!("{msg}.{}", b64(&sig)), n + 11.0).unwrap_err().reason, Reason::BadSignature);
}

#[test]
fn cache_with_leeway_and_disabled() {
    let n = now();
    let t = token(Alg::HS256, "alice", json!({"exp": n as i64 + 5}));
    let e = hs256(json!({"leewaySeconds": 10}));
    e.authenticate(&t, n).unwrap();
    e.authenticate(&t, n).unwrap();
    assert_eq!(e.cached_tokens(), 1);
    // Past exp but within the leeway: the entry is gone, the token verifies again.
    e.authenticate(&t, n + 8.0).unwrap();
    assert_eq!(e.authenticate(&t, n + 16.0).unwrap_err().reason, Reason::Expired);

    let off = engine(json!({"version": 1, "algorithm": "HS256", "mode": "local",
                            "options": {"modes": {"local": HS_SECRET}, "verifiedTokenCache": {"enabled": false}}}));
    off.authenticate(&t, n).unwrap();
    off.authenticate(&t, n).unwrap();
    assert_eq!(off.cached_tokens(), 0);
    assert_eq!(off.authenticate(&t, n + 5.0).unwrap_err().reason, Reason::Expired);
}

#[test]
fn cache_is_bounded() {
    let e = engine(json!({"version": 1, "algorithm": "HS256", "mode": "local",
                          "options": {"modes": {"local": HS_SECRET}, "verifiedTokenCache": {"maxEntries": 3}}}));
    for i in 0..10 {
        accepted(&e, &token(Alg::HS256, &format!("user-{i}"), json!({})));
    }
    assert!(e.cached_tokens() <= 3, "{}", e.cached_tokens());
}

#[test]
fn required_scopes() {
    let e = hs256(json!({"requiredScopes": ["mqtt.connect", "mqtt.publish"]}));
    let t = |claims: Value| token(Alg::HS256, "s", claims);
    accepted(&e, &t(json!({"scope": "openid mqtt.connect mqtt.publish"})));
    accepted(&e, &t(json!({"scp": ["mqtt.publish", "mqtt.connect"]})));
    accepted(&e, &t(json!({"scope": "mqtt.connect", "scp": "mqtt.publish"})));
    for bad in [
        json!({}),
        json!({"scope": "mqtt.connect"}),
        json!({"scope": "mqtt.connectmqtt.publish"}),
        json!({"scope": ["mqtt.connect mqtt.publish"]}),
    ] {
        assert_eq!(refused(&e, &t(bad.clone())), Reason::MissingScope, "{bad}");
    }
}

#[test]
fn bound_claims_with_wildcards_are_refused() {
    let e = hs256(json!({"matchUsernameToClaim": "preferred_username", "matchClientIdToClaim": "device"}));
    for bad in ["a/#", "+", "x\u{0}y"] {
        let t = accepted(&e, &token(Alg::HS256, "s", json!({"preferred_username": bad, "device": "d"})));
        assert_eq!(e.bind_identity(&t, Some("d"), None).unwrap_err().reason, Reason::BadClaim, "{bad:?}");
    }
}
