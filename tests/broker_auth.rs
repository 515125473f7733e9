//! End to end: a real mosquitto loads the freshly built plugin; raw MQTT clients connect with tokens.
mod support;

use mqtt_jwt_auth::alg::Alg;
use mqtt_jwt_auth::keys::Signer;
use serde_json::json;
use std::time::Duration;
use support::broker::{keys_dir, Broker, Options};
use support::mqtt::{self, Connect, Outcome};
use support::tokens::{self, claims, raw, sign_with, signer, token};

const ACCEPTED: Outcome = Outcome::Connack(0);
const NOT_AUTHORISED: Outcome = Outcome::Connack(5);

fn key(name: &str) -> String {
    keys_dir().join(name).display().to_string()
}

/// Over a JWK set file: tests/keys/jwks.json (public keys) or jwks-oct.json (shared secrets; a file
/// cannot hold both).
fn jwks_broker_over(file: &str, common: serde_json::Value) -> Broker {
    let cfg = json!({
        "version": 1,
        "algorithm": ["HS256","HS384","HS512","RS256","RS384","RS512","PS256","PS384","PS512","ES256","ES384","ES512","EdDSA"],
        "mode": "jwks",
        "options": {"modes": {"jwks": {"filePath": key(file)}}, "common": common}
    });
    Broker::start(&cfg.to_string())
}

fn jwks_broker(common: serde_json::Value) -> Broker {
    jwks_broker_over("jwks.json", common)
}

fn local_broker(alg: &str, local: serde_json::Value, common: serde_json::Value) -> Broker {
    let cfg = json!({"version":1,"algorithm":alg,"mode":"local","options":{"modes":{"local":local},"common":common}});
    Broker::start(&cfg.to_string())
}

/// The broker still accepts a good client and answers a ping.
fn assert_alive(b: &mut Broker, good: &str) {
    assert!(b.is_alive(), "broker died:\n{}", b.log());
    let c = Connect { version: 4, client_id: "alive-check", password: Some(good.as_bytes()), ..Default::default() };
    let (s, out) = mqtt::connect(b.port, &c);
    assert_eq!(out, ACCEPTED, "{}", b.log());
    let mut s = s.unwrap();
    assert!(mqtt::ping(&mut s));
    mqtt::disconnect(s);
}

fn jwks_token(alg: Alg, kid: &str, sub: &str) -> String {
    let k = match kid {
        "rsa-2" => Signer::new(alg, &tokens::key_file("rsa2.key")).unwrap(),
        "hs-1" => Signer::new(alg, b"jwks-shared-secret-for-tests-0123456789").unwrap(),
        "hs-512" => Signer::new(alg, b"jwks-hs512-secret-for-tests-0123456789-abcdefghijklmnopqrstuvwxyz").unwrap(),
        _ => signer(alg),
    };
    sign_with(&k, Some(kid), &claims(sub, json!({})))
}

#[test]
fn every_algorithm_is_accepted_through_mosquitto() {
    let mut oct = jwks_broker_over("jwks-oct.json", json!({}));
    for (alg, kid) in [(Alg::HS256, "hs-1"), (Alg::HS384, "hs-512"), (Alg::HS512, "hs-512")] {
        let t = jwks_token(alg, kid, "device-1");
        assert_eq!(mqtt::connect_with_password(oct.port, "c1", None, &t), ACCEPTED, "{alg:?}\n{}", oct.log());
    }
    // hs-1 is 39 bytes: too short for HS512 (RFC 7518 §3.2).
    let short = jwks_token(Alg::HS512, "hs-1", "device-1");
    assert_eq!(mqtt::connect_with_password(oct.port, "short", None, &short), NOT_AUTHORISED);
    assert!(oct.wait_log("refused client short from 127.0.0.1: no-key-for-algorithm", Duration::from_secs(5)));
    assert_alive(&mut oct, &jwks_token(Alg::HS256, "hs-1", "device-1"));
    drop(oct);

    let mut b = jwks_broker(json!({}));
    let es512 = tokens::sign_with(&tokens::signer(Alg::ES512), Some("ec-521"), &claims("device-1", json!({})));
    assert_eq!(mqtt::connect_with_password(b.port, "c1", None, &es512), ACCEPTED, "ES512\n{}", b.log());
    let cases = [
        (Alg::RS256, "rsa-1"),
        (Alg::RS384, "rsa-2"),
        (Alg::RS512, "rsa-2"),
        (Alg::PS256, "rsa-2"),
        (Alg::PS384, "rsa-2"),
        (Alg::PS512, "rsa-2"),
        (Alg::ES256, "ec-256"),
        (Alg::ES384, "ec-384"),
        (Alg::EdDSA, "ed-1"),
    ];
    for (alg, kid) in cases {
        let t = jwks_token(alg, kid, "device-1");
        assert_eq!(mqtt::connect_with_password(b.port, "c1", None, &t), ACCEPTED, "{alg:?}\n{}", b.log());
    }
    // rsa-1 is pinned to RS256 by its JWK "alg": an RS512 token naming it is refused.
    let pinned = jwks_token(Alg::RS512, "rsa-1", "device-1");
    assert_eq!(mqtt::connect_with_password(b.port, "c2", None, &pinned), NOT_AUTHORISED);
    // HMAC keyed with an RSA public key: the key's kind decides, so no key can check it.
    let public_pem = tokens::key_file("rsa.pub.pem");
    for kid in [Some("rsa-1"), None] {
        let mut header = json!({"alg": "HS256"});
        if let Some(k) = kid {
            header["kid"] = json!(k);
        }
        let c = claims("device-1", json!({}));
        let unsigned = raw(&header, &c, b"");
        let input = &unsigned[..unsigned.len() - 1];
        let forged = raw(&header, &c, &tokens::hmac_sha256(&public_pem, input.as_bytes()));
        assert_eq!(mqtt::connect_with_password(b.port, "forged", None, &forged), NOT_AUTHORISED, "{kid:?}");
    }
    assert!(
        b.wait_log("refused client forged from 127.0.0.1: no-key-for-algorithm", Duration::from_secs(5)),
        "{}",
        b.log()
    );
    // Both forgeries (with and without the RSA key's kid): a set of public keys holds no HMAC key.
    let good = jwks_token(Alg::ES256, "ec-256", "device-1");
    assert_alive(&mut b, &good);
}

#[test]
fn static_keys_pem_and_secret() {
    let mut rsa = local_broker("RS256", json!({"filePath": key("rsa.pub.pem")}), json!({}));
    let t = token(Alg::RS256, "d1", json!({}));
    assert_eq!(mqtt::connect_with_password(rsa.port, "c", None, &t), ACCEPTED);
    assert_alive(&mut rsa, &t);
    let pkcs1 = local_broker("RS256", json!({"filePath": key("rsa.pkcs1.pem")}), json!({}));
    assert_eq!(mqtt::connect_with_password(pkcs1.port, "c", None, &t), ACCEPTED);
    let hs = local_broker("HS256", json!(tokens::HS_SECRET), json!({}));
    let t = token(Alg::HS256, "d1", json!({}));
    assert_eq!(mqtt::connect_with_password(hs.port, "c", None, &t), ACCEPTED);
    let hs_file = local_broker("HS256", json!({"filePath": key("hs.secret")}), json!({}));
    assert_eq!(mqtt::connect_with_password(hs_file.port, "c", None, &t), ACCEPTED);
}

#[test]
fn bad_tokens_are_refused_and_the_broker_survives() {
    let common = json!({"issuer": "https://idp.example/realms/a", "audience": "mqtt"});
    let mut b = local_broker("RS256", json!({"filePath": key("rsa.pub.pem")}), common);
    let ok_claims = json!({"iss": "https://idp.example/realms/a", "aud": "mqtt"});
    let good = token(Alg::RS256, "d1", ok_claims.clone());
    assert_eq!(mqtt::connect_with_password(b.port, "good", None, &good), ACCEPTED, "{}", b.log());

    let with = |extra: serde_json::Value| {
        let mut c = ok_claims.clone();
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        token(Alg::RS256, "d1", c)
    };
    let rsa2 = Signer::new(Alg::RS256, &tokens::key_file("rsa2.key")).unwrap();
    let public_pem = tokens::key_file("rsa.pub.pem");
    let hs_header = json!({"alg": "HS256", "typ": "JWT"});
    let hs_claims = claims("d1", ok_claims.clone());
    let hs_unsigned = raw(&hs_header, &hs_claims, b"");
    let signing_input = &hs_unsigned[..hs_unsigned.len() - 1];
    let hs_with_public_key = raw(&hs_header, &hs_claims, &tokens::hmac_sha256(&public_pem, signing_input.as_bytes()));
    let cases: Vec<(&str, String, &str)> = vec![
        ("expired", with(json!({"exp": tokens::now() - 60})), "expired"),
        ("not yet valid", with(json!({"nbf": tokens::now() + 600})), "not-yet-valid"),
        ("wrong issuer", with(json!({"iss": "https://evil.example"})), "wrong-issuer"),
        ("wrong audience", with(json!({"aud": "other"})), "wrong-audience"),
        ("wrong key", sign_with(&rsa2, None, &claims("d1", ok_claims.clone())), "bad-signature"),
        ("alg none", raw(&json!({"alg": "none"}), &claims("d1", ok_claims.clone()), b""), "algorithm-not-allowed"),
        ("alg None", raw(&json!({"alg": "None"}), &claims("d1", ok_claims.clone()), b""), "algorithm-not-allowed"),
        ("HS256 keyed with the public key", hs_with_public_key, "algorithm-not-allowed"),
        ("garbage", "not-a-token".into(), "malformed-token"),
        ("oversized", "a".repeat(20_000), "token-too-large"),
    ];
    for (name, t, category) in &cases {
        assert_eq!(mqtt::connect_with_password(b.port, name, None, t), NOT_AUTHORISED, "{name}\n{}", b.log());
        assert!(
            b.wait_log(&format!("refused client {name} from 127.0.0.1: {category}"), Duration::from_secs(5)),
            "{name}: {}",
            b.log()
        );
        assert!(b.is_alive(), "broker died after {name}");
    }
    // No password at all, and an empty one.
    let c = Connect { version: 4, client_id: "nopass", ..Default::default() };
    assert_eq!(mqtt::connect(b.port, &c).1, NOT_AUTHORISED);
    let c =
        Connect { version: 4, client_id: "emptypass", username: Some(b"u"), password: Some(b""), ..Default::default() };
    assert_eq!(mqtt::connect(b.port, &c).1, NOT_AUTHORISED);
    assert!(b.wait_log("refused client nopass from 127.0.0.1: no-token", Duration::from_secs(5)));
    // MQTT 5 clients get reason 0x87 (not authorized).
    let c = Connect { version: 5, client_id: "v5", password: Some(b"x.y.z"), ..Default::default() };
    assert_eq!(mqtt::connect(b.port, &c).1, Outcome::Connack(0x87));
    let log = b.log();
    for (name, t, _) in &cases {
        if t.len() > 20 {
            assert!(!log.contains(t.as_str()), "{name}: token leaked into the log");
        }
    }
    assert_alive(&mut b, &good);
}

#[test]
fn identity_is_tied_to_the_token() {
    let mut b = local_broker(
        "ES256",
        json!({"filePath": key("ec256.pub.pem")}),
        json!({"matchUsernameToSubject": true, "matchClientIdToSubject": true}),
    );
    let t = token(Alg::ES256, "sensor-7", json!({}));
    // Any username is replaced by the subject; mosquitto logs the connection's username.
    assert_eq!(mqtt::connect_with_password(b.port, "sensor-7", Some("whatever"), &t), ACCEPTED);
    assert!(b.wait_connected("sensor-7", "c1, k30, u'sensor-7')", Duration::from_secs(5)), "{}", b.log());
    assert_eq!(mqtt::connect_with_password(b.port, "sensor-8", Some("x"), &t), NOT_AUTHORISED);
    assert!(b.wait_log("refused client sensor-8 from 127.0.0.1: client-id-mismatch", Duration::from_secs(5)));
    assert_alive_as(&mut b, "sensor-7", &t);

    let strict = local_broker(
        "ES256",
        json!({"filePath": key("ec256.pub.pem")}),
        json!({"matchUsernameToSubject": true, "refuseUsernameMismatch": true}),
    );
    assert_eq!(mqtt::connect_with_password(strict.port, "a", Some("other"), &t), NOT_AUTHORISED);
    assert_eq!(mqtt::connect_with_password(strict.port, "b", Some("sensor-7"), &t), ACCEPTED);
    assert!(strict.wait_log("refused client a from 127.0.0.1: username-mismatch", Duration::from_secs(5)));

    let by_claim = local_broker(
        "ES256",
        json!({"filePath": key("ec256.pub.pem")}),
        json!({"matchUsernameToClaim": "preferred_username", "matchClientIdToClaim": "device.id"}),
    );
    let t = token(Alg::ES256, "s", json!({"preferred_username": "alice", "device": {"id": "dev-1"}}));
    assert_eq!(mqtt::connect_with_password(by_claim.port, "dev-1", None, &t), ACCEPTED);
    assert!(by_claim.wait_connected("dev-1", "c1, k30, u'alice')", Duration::from_secs(5)), "{}", by_claim.log());
    assert_eq!(mqtt::connect_with_password(by_claim.port, "dev-2", None, &t), NOT_AUTHORISED);
}

fn assert_alive_as(b: &mut Broker, id: &str, t: &str) {
    let c = Connect { version: 4, client_id: id, password: Some(t.as_bytes()), ..Default::default() };
    let (s, out) = mqtt::connect(b.port, &c);
    assert_eq!(out, ACCEPTED);
    let mut s = s.unwrap();
    assert!(mqtt::ping(&mut s));
}

#[test]
fn token_in_the_username_field() {
    let b = local_broker(
        "HS256",
        json!(tokens::HS_SECRET),
        json!({"tokenSource": "username", "matchUsernameToSubject": true}),
    );
    let t = token(Alg::HS256, "dev-9", json!({}));
    let c = Connect { version: 4, client_id: "u1", username: Some(t.as_bytes()), ..Default::default() };
    assert_eq!(mqtt::connect(b.port, &c).1, ACCEPTED, "{}", b.log());
    assert!(b.wait_connected("u1", "c1, k10, u'dev-9')", Duration::from_secs(5)), "{}", b.log());
    let c = Connect { version: 4, client_id: "u2", password: Some(t.as_bytes()), ..Default::default() };
    assert_eq!(mqtt::connect(b.port, &c).1, NOT_AUTHORISED);
}

#[test]
fn invalid_configuration_stops_the_broker_with_a_precise_message() {
    let cases = [
        (
            r#"{"version":1,"algorithm":"RS256","mode":"local","options":{"common":{"matchUsernameToSubjet":true}}}"#,
            "options.common.matchUsernameToSubjet: unknown key",
        ),
        (
            r#"{"version":1,"algorithm":"none","mode":"local","options":{"modes":{"local":"x"}}}"#,
            "algorithm: \"none\" is never allowed",
        ),
        (r#"{"version":1,"algorithm":"HS256","mode":"local""#, "invalid JSON"),
        (
            r#"{"version":1,"algorithm":"RS256","mode":"local","options":{"modes":{"local":{"filePath":"/nonexistent/key.pem"}}}}"#,
            "options.modes.local.filePath: cannot read /nonexistent/key.pem",
        ),
        // The Pro plugin's documented example without an introspection uri and without discovery.
        (
            r#"{"version":1,"algorithm":"RS256","mode":"jwks","options":{"lazyConnect":false,"modes":{"jwks":{"uri":"http://127.0.0.1:1/certs","timeoutMs":5000,"cache":{"enabled":true,"ttlMs":30000,"respectCacheHeaders":false}}},"common":{"validateExpiration":true,"matchUsernameToSubject":true,"matchClientIdToSubject":false,"kickExpiredClients":true,"kickExpiredClientsWithWill":true},"revocation":{"introspection":{"clientId":"client-id","clientSecret":"secret","includeTokenTypehint":false},"timeoutMs":5000}}}"#,
            "options.revocation.introspection.uri: missing",
        ),
    ];
    for (cfg, expect) in cases {
        match Broker::start_with(cfg, Options::default()) {
            Ok(b) => panic!("broker started with a bad config ({expect}):\n{}", b.log()),
            Err(log) => {
                assert!(log.contains("jwt-auth: cannot start:") && log.contains("jwt.json: "), "{log}");
                assert!(log.contains(expect), "expected {expect:?} in:\n{log}");
            }
        }
    }
}

#[test]
fn reload_keeps_running_config_when_the_new_file_is_broken() {
    let mut b = local_broker("HS256", json!(tokens::HS_SECRET), json!({}));
    let t = token(Alg::HS256, "d", json!({}));
    std::fs::write(b.dir.path().join("jwt.json"), "{broken").unwrap();
    b.signal("HUP");
    assert!(b.wait_log("reload failed, keeping the running configuration", Duration::from_secs(5)), "{}", b.log());
    assert_alive(&mut b, &t);
    // A valid new file takes effect: now only RS256 tokens pass.
    let cfg = json!({"version":1,"algorithm":"RS256","mode":"local","options":{"modes":{"local":{"filePath":key("rsa.pub.pem")}}}});
    std::fs::write(b.dir.path().join("jwt.json"), cfg.to_string()).unwrap();
    b.signal("HUP");
    assert!(b.wait_log("jwt-auth: reloaded", Duration::from_secs(5)));
    assert_eq!(mqtt::connect_with_password(b.port, "after", None, &t), NOT_AUTHORISED);
    let rs = token(Alg::RS256, "d", json!({}));
    assert_eq!(mqtt::connect_with_password(b.port, "after2", None, &rs), ACCEPTED);
}

#[test]
fn a_panic_inside_a_callback_refuses_and_the_broker_lives() {
    let cfg = json!({"version":1,"algorithm":"HS256","mode":"local","options":{"modes":{"local":tokens::HS_SECRET}}});
    let opts = Options { extra_conf: "plugin_opt_test_panic_username boom\n".into(), ..Default::default() };
    let mut b = Broker::start_with(&cfg.to_string(), opts).expect("broker");
    let t = token(Alg::HS256, "d", json!({}));
    for _ in 0..3 {
        assert_eq!(mqtt::connect_with_password(b.port, "p", Some("boom"), &t), NOT_AUTHORISED);
    }
    assert!(
        b.wait_log("jwt-auth: internal error in basic auth: fault injection", Duration::from_secs(3)),
        "{}",
        b.log()
    );
    assert_alive(&mut b, &t);
}
