//! Client-id takeover and coexistence with other plugins, against the fake broker.
use crate::acl::Access;
use crate::acl::Decision;
use crate::host::*;
use crate::plugin::fake::FakeBroker;
use crate::plugin::*;
use serde_json::{json, Value};

const SECRET: &str = "unit-test-secret-0123456789-abcdef";
const NOW: f64 = 1_800_000_000.0;

fn plugin(common: Value) -> (Plugin, FakeBroker, tempfile::TempDir) {
    let mut base = json!({"matchUsernameToSubject": true});
    for (k, v) in common.as_object().unwrap() {
        base[k] = v.clone();
    }
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": SECRET}, "common": base,
            "authorization": {"rules": [{"permission": "allow", "action": "all", "topic": "#"}]}}});
    fake::load(&cfg)
}

fn tok(claims: Value) -> String {
    let mut c = json!({"exp": NOW + 3600.0});
    for (k, v) in claims.as_object().unwrap() {
        c[k] = v.clone();
    }
    crate::keys::hs256_token(SECRET, &c)
}

fn auth(p: &Plugin, b: &FakeBroker, c: ClientRef, password: Option<&str>) -> AuthResult {
    p.basic_auth(b, c, Some(b"user"), password.map(str::as_bytes), NOW)
}

#[test]
fn another_identity_cannot_take_over_a_client_id() {
    let (p, b, _d) = plugin(json!({}));
    let real = b.client(1, "meter-7");
    assert_eq!(auth(&p, &b, real, Some(&tok(json!({"sub": "meter-7"})))), AuthResult::Accept);
    let impostor = b.client(2, "meter-7");
    assert_eq!(auth(&p, &b, impostor, Some(&tok(json!({"sub": "meter-8"})))), AuthResult::Refuse);
    assert!(b.logged("refused client meter-7 from 127.0.0.1: client-id-in-use"));
    assert_eq!(
        p.acl_check(&b, real, Access::Read, "meter-7/cmd", 0, false, NOW),
        Decision::Allow,
        "the real one keeps its session"
    );
    assert_eq!(p.acl_check(&b, impostor, Access::Write, "meter-7/cmd", 0, false, NOW), Decision::Defer);
    // Other issuer, same subject: another identity.
    let other_iss = b.client(3, "meter-7");
    let t = tok(json!({"sub": "meter-7", "iss": "https://other"}));
    assert_eq!(auth(&p, &b, other_iss, Some(&t)), AuthResult::Refuse);
    // The same identity takes over, as MQTT does; the old session goes.
    let again = b.client(4, "meter-7");
    assert_eq!(auth(&p, &b, again, Some(&tok(json!({"sub": "meter-7"})))), AuthResult::Accept);
    assert_eq!(p.live_sessions(), 1);
    // The old connection is gone: denied everything but its will, until the next tick drops it.
    assert_eq!(p.acl_check(&b, real, Access::Read, "meter-7/cmd", 0, false, NOW), Decision::Deny);
    // Gone: the id is free for anyone.
    p.disconnect(&b, again, NOW);
    assert_eq!(auth(&p, &b, b.client(5, "meter-7"), Some(&tok(json!({"sub": "meter-8"})))), AuthResult::Accept);
}

#[test]
fn an_ending_session_still_holds_its_id() {
    let (p, b, _d) = plugin(json!({}));
    let real = b.client(1, "m");
    assert_eq!(auth(&p, &b, real, Some(&tok(json!({"sub": "m"})))), AuthResult::Accept);
    p.control(&b, real, b"garbage", NOW);
    assert_eq!(auth(&p, &b, b.client(2, "m"), Some(&tok(json!({"sub": "x"})))), AuthResult::Refuse);
    assert_eq!(auth(&p, &b, b.client(3, "m"), Some(&tok(json!({"sub": "m"})))), AuthResult::Accept);
}

#[test]
fn allow_keeps_mqtt_takeover() {
    let (p, b, _d) = plugin(json!({"clientIdTakeover": "allow"}));
    assert_eq!(auth(&p, &b, b.client(1, "m"), Some(&tok(json!({"sub": "m"})))), AuthResult::Accept);
    assert_eq!(auth(&p, &b, b.client(2, "m"), Some(&tok(json!({"sub": "x"})))), AuthResult::Accept);
    assert_eq!(p.live_sessions(), 1);
}

#[test]
fn credentials_that_are_not_a_jwt_are_passed_on_and_never_authorized_here() {
    let (p, b, _d) = plugin(json!({"nonJwtCredentials": "defer"}));
    let admin = b.client(1, "console");
    for password in [Some("change-me-now"), Some(""), None, Some("a.b.c")] {
        assert_eq!(auth(&p, &b, admin, password), AuthResult::Defer, "{password:?}");
    }
    assert_eq!(p.live_sessions(), 0);
    for access in [Access::Read, Access::Write, Access::Subscribe] {
        assert_eq!(p.acl_check(&b, admin, access, "any/topic", 0, false, NOW), Decision::Defer);
    }
    assert_eq!(p.acl_check(&b, admin, Access::Write, "$CONTROL/jwt-auth/v1", 0, false, NOW), Decision::Defer);
    // Shaped like a JWT: decided here, refused, never passed on.
    let good = tok(json!({"sub": "dev"}));
    let tampered = format!("{}x", &good[..good.len() - 1]);
    assert_eq!(auth(&p, &b, b.client(2, "t"), Some(&tampered)), AuthResult::Refuse);
    assert_eq!(auth(&p, &b, b.client(3, "t"), Some(&format!("Bearer {good}"))), AuthResult::Refuse);
    assert_eq!(
        auth(&p, &b, b.client(4, "t"), Some(&tok(json!({"sub": "dev", "exp": NOW - 10.0})))),
        AuthResult::Refuse
    );
    let dev = b.client(5, "dev");
    assert_eq!(auth(&p, &b, dev, Some(&good)), AuthResult::Accept);
    assert_eq!(p.acl_check(&b, dev, Access::Write, "any/topic", 0, false, NOW), Decision::Allow);
}

#[test]
fn password_clients_and_devices_cannot_take_each_others_ids() {
    let (p, b, _d) = plugin(json!({"nonJwtCredentials": "defer"}));
    let console = b.client(1, "console");
    assert_eq!(auth(&p, &b, console, Some("pw")), AuthResult::Defer);
    assert_eq!(auth(&p, &b, b.client(2, "console"), Some(&tok(json!({"sub": "console"})))), AuthResult::Refuse);
    assert!(b.logged("client-id-in-use"));
    let dev = b.client(3, "dev");
    assert_eq!(auth(&p, &b, dev, Some(&tok(json!({"sub": "dev"})))), AuthResult::Accept);
    assert_eq!(auth(&p, &b, b.client(4, "dev"), Some("pw")), AuthResult::Refuse);
    assert_eq!(p.acl_check(&b, dev, Access::Write, "x", 0, false, NOW), Decision::Allow, "the device kept its session");
    // Password clients take each other's ids as usual (the other plugin decides who they are).
    let console2 = b.client(5, "console");
    assert_eq!(auth(&p, &b, console2, Some("pw")), AuthResult::Defer);
    // The old connection's DISCONNECT does not free the id the new one holds.
    p.disconnect(&b, console, NOW);
    assert_eq!(auth(&p, &b, b.client(6, "console"), Some(&tok(json!({"sub": "x"})))), AuthResult::Refuse);
    p.disconnect(&b, console2, NOW);
    assert_eq!(auth(&p, &b, b.client(7, "console"), Some(&tok(json!({"sub": "x"})))), AuthResult::Accept);
    assert_eq!(p.deferred.borrow_mut().len(), 0);
}

#[test]
fn a_reload_passes_password_clients_on_again() {
    let (p, b, _d) = plugin(json!({"nonJwtCredentials": "defer"}));
    let console = b.client(1, "console");
    let dev = b.client(2, "dev");
    let t = tok(json!({"sub": "dev"}));
    assert_eq!(auth(&p, &b, console, Some("pw")), AuthResult::Defer);
    assert_eq!(auth(&p, &b, dev, Some(&t)), AuthResult::Accept);
    p.reload(&b, NOW);
    assert_eq!(auth(&p, &b, console, Some("pw")), AuthResult::Defer);
    assert_eq!(auth(&p, &b, dev, Some(&t)), AuthResult::Accept);
    assert_eq!(p.acl_check(&b, console, Access::Write, "x", 0, false, NOW), Decision::Defer);
    // mosquitto also re-checks offline persistent sessions: they do not become holders of their id.
    let offline = b.client(3, "gone");
    assert_eq!(auth(&p, &b, offline, Some("pw")), AuthResult::Defer);
    p.tick(&b, NOW + 1.0);
    assert_eq!(auth(&p, &b, b.client(4, "gone"), Some(&tok(json!({"sub": "gone"})))), AuthResult::Accept);
}

/// A new CONNECT on a connection that still had a session of ours (a missed DISCONNECT, an address
/// reused): once passed on, none of the old permissions answer for it.
#[test]
fn a_passed_on_connection_has_no_session_of_ours() {
    let (p, b, _d) = plugin(json!({"nonJwtCredentials": "defer"}));
    let c = b.client(1, "a");
    assert_eq!(auth(&p, &b, c, Some(&tok(json!({"sub": "a"})))), AuthResult::Accept);
    b.ids.borrow_mut().insert(c, "b".into());
    assert_eq!(auth(&p, &b, c, Some("pw")), AuthResult::Defer);
    assert_eq!(p.acl_check(&b, c, Access::Write, "x", 0, false, NOW), Decision::Defer);
    assert_eq!(p.live_sessions(), 0);
}

#[test]
fn refuse_is_the_default() {
    let (p, b, _d) = plugin(json!({}));
    assert_eq!(auth(&p, &b, b.client(1, "console"), Some("pw")), AuthResult::Refuse);
    assert!(b.logged("malformed-token"));
    assert_eq!(auth(&p, &b, b.client(2, "console"), None), AuthResult::Refuse);
}

/// An `acl` claim's `%c` is the token issuer's; without a client id binding it would be any id.
#[test]
fn an_acl_claim_cannot_use_an_unbound_client_id() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |common: Value| {
        json!({"version": 1, "algorithm": "HS256", "mode": "local",
            "options": {"modes": {"local": SECRET}, "common": common, "authorization": {}}})
        .to_string()
    };
    let t = tok(json!({"sub": "meter-8", "acl": {"pub": ["up/%c"]}}));
    let file = dir.path().join("jwt.json");
    std::fs::write(&file, cfg(json!({}))).unwrap();
    let b = FakeBroker::default();
    let p = Plugin::load(&b, &file).unwrap();
    let c = b.client(1, "meter-7");
    assert_eq!(auth(&p, &b, c, Some(&t)), AuthResult::Accept);
    assert_eq!(p.acl_check(&b, c, Access::Write, "up/meter-7", 0, false, NOW), Decision::Deny);
    assert!(b.logged("the client id is not bound to the token"));
    std::fs::write(&file, cfg(json!({"matchClientIdToSubject": true}))).unwrap();
    let p = Plugin::load(&b, &file).unwrap();
    let c = b.client(2, "meter-8");
    assert_eq!(auth(&p, &b, c, Some(&t)), AuthResult::Accept);
    assert_eq!(p.acl_check(&b, c, Access::Write, "up/meter-8", 0, false, NOW), Decision::Allow);
}

/// MQTT v5 enhanced authentication at CONNECT is a CONNECT like any other.
#[test]
fn enhanced_authentication_cannot_take_over_either() {
    let (p, b, _d) = plugin(json!({}));
    let real = b.client(1, "car");
    let t = tok(json!({"sub": "car"}));
    assert_eq!(p.ext_auth_start(&b, real, Some("JWT"), t.as_bytes(), NOW), AuthResult::Accept);
    let other = tok(json!({"sub": "truck"}));
    assert_eq!(p.ext_auth_start(&b, b.client(2, "car"), Some("JWT"), other.as_bytes(), NOW), AuthResult::Refuse);
    assert!(b.logged("client-id-in-use"));
    assert_eq!(p.ext_auth_start(&b, b.client(3, "car"), Some("JWT"), t.as_bytes(), NOW), AuthResult::Accept);
}
