//! Permissions compiled from a cached token are reused by a reconnect with the same identity, and
//! only by one (src/loaded/authenticate.rs, `Loaded::grant`): another client id or username gets
//! its own, compiled from the token's claims verified again, since the cache entry no longer holds
//! the claims that only authorization reads. (`%u` only ever means a username bound to the token,
//! so for one token it is the same on every connection; the client id is what varies.)
use crate::acl::{Access, Decision};
use crate::host::*;
use crate::plugin::*;
use serde_json::json;

const SECRET: &str = "granted-test-secret-0123456789abcdef";
const NOW: f64 = 1_800_000_000.0;

/// No identity binding: any client id may present the token, and `%c` is trusted on purpose.
fn shared_token_setup() -> (Plugin, fake::FakeBroker, tempfile::TempDir, String) {
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": SECRET}, "authorization": {"trustClientId": true,
            "rules": [{"permission": "allow", "action": "publish", "topic": "devices/%c/#"}]}}});
    let (p, b, d) = fake::load(&cfg);
    let claims = json!({"sub": "fleet", "exp": NOW + 3600.0, "publ": ["up/#", 5]});
    (p, b, d, crate::keys::hs256_token(SECRET, &claims))
}

fn may_publish(p: &Plugin, b: &fake::FakeBroker, c: ClientRef, topic: &str) -> bool {
    p.acl_check(b, c, Access::Write, topic, 0, false, NOW) == Decision::Allow
}

fn granted(p: &Plugin, c: ClientRef) -> crate::acl::Granted {
    p.sessions.borrow_mut().get(c.key()).and_then(|s| s.permissions.clone()).expect("permissions")
}

#[test]
fn a_cached_token_under_another_client_id_gets_that_id_s_permissions() {
    let (p, b, _d, token) = shared_token_setup();
    // a, then b while a is still connected, then a again after both left.
    for (n, id, other) in [(1, "a", "b"), (2, "b", "a"), (3, "a", "b")] {
        let c = b.client(n, id);
        assert_eq!(p.basic_auth(&b, c, None, Some(token.as_bytes()), NOW), AuthResult::Accept, "{id}");
        assert!(may_publish(&p, &b, c, &format!("devices/{id}/x")), "{id}: its own topics");
        assert!(!may_publish(&p, &b, c, &format!("devices/{other}/x")), "{id}: not {other}'s");
        // The claim list is still granted: its claims came from verifying the token again.
        assert!(may_publish(&p, &b, c, "up/1"), "{id}: the publ claim");
        if n == 2 {
            let a = ClientRef::from_host(1);
            assert!(may_publish(&p, &b, a, "devices/a/x") && !may_publish(&p, &b, a, "devices/b/x"), "a unchanged");
            p.disconnect(&b, a, NOW);
        }
        if n >= 2 {
            p.disconnect(&b, c, NOW);
        }
        p.tick(&b, NOW);
    }
}

#[test]
fn a_reconnect_with_the_same_identity_reuses_the_permissions_and_their_warnings_are_logged_once() {
    let (p, b, _d, token) = shared_token_setup();
    let warned =
        || b.logs.borrow().iter().filter(|(_, l)| l.contains("claim publ[1] is not a valid topic filter")).count();
    let c1 = b.client(1, "a");
    assert_eq!(p.basic_auth(&b, c1, None, Some(token.as_bytes()), NOW), AuthResult::Accept);
    let first = granted(&p, c1);
    assert_eq!(warned(), 1);
    p.disconnect(&b, c1, NOW);
    p.tick(&b, NOW);
    let c2 = b.client(2, "a");
    assert_eq!(p.basic_auth(&b, c2, None, Some(token.as_bytes()), NOW), AuthResult::Accept);
    assert!(first.ptr_eq(&granted(&p, c2)), "the same permissions, not compiled again");
    assert_eq!(warned(), 1, "nothing compiled, nothing logged again");
    let c3 = b.client(3, "c");
    assert_eq!(p.basic_auth(&b, c3, None, Some(token.as_bytes()), NOW), AuthResult::Accept);
    assert!(!first.ptr_eq(&granted(&p, c3)));
    assert_eq!(warned(), 2, "compiled for c");
    assert!(may_publish(&p, &b, c2, "devices/a/1") && may_publish(&p, &b, c3, "devices/c/1"));
    assert!(!may_publish(&p, &b, c2, "devices/c/1") && !may_publish(&p, &b, c3, "devices/a/1"));
}

/// Rules without `%c` or `%u`: the permissions hold for any identity, so a connection under
/// another client id shares them too, and they still decide by the token's claims.
#[test]
fn permissions_that_read_no_identity_are_shared_by_every_client_id() {
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": SECRET}, "authorization": {
            "rules": [{"permission": "allow", "action": "publish", "topic": "fleet/%{sub}/#"}]}}});
    let (p, b, _d) = fake::load(&cfg);
    let token = crate::keys::hs256_token(SECRET, &json!({"sub": "f1", "exp": NOW + 3600.0, "publ": ["up/#"]}));
    let (a, c) = (b.client(1, "a"), b.client(2, "c"));
    for x in [a, c] {
        assert_eq!(p.basic_auth(&b, x, None, Some(token.as_bytes()), NOW), AuthResult::Accept);
        assert!(may_publish(&p, &b, x, "fleet/f1/x") && may_publish(&p, &b, x, "up/1"));
        assert!(!may_publish(&p, &b, x, "fleet/f2/x") && !may_publish(&p, &b, x, "down/1"));
    }
    assert!(granted(&p, a).ptr_eq(&granted(&p, c)), "compiled once");
}
