//! `Permissions::check` must not allocate: it runs for every PUBLISH, SUBSCRIBE and delivery.
//! A counting allocator (this test binary only) proves it for every kind of check and rule.
use mqtt_jwt_auth::acl::{compile, Access, Decision};
use mqtt_jwt_auth::config::Config;
use mqtt_jwt_auth::token::Token;
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed on unchanged to the system allocator, which upholds the contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn checks_do_not_allocate() {
    let text = json!({
        "version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": "secret"}, "common": {"matchClientIdToSubject": true}, "authorization": {"rules": [
            {"permission": "deny", "action": "all", "topic": "t/%{tenant}/secret/#", "qos": [2]},
            {"permission": "allow", "action": "all", "topic": "t/%{tenant}/%c/#", "if": {"claim": "scope", "contains": "rw"}}
        ]}}
    });
    let cfg = Config::parse(&text.to_string()).unwrap().authorization.unwrap();
    let claims = json!({
        "tenant": "acme", "scope": "openid rw",
        "publ": ["p/#"], "subs": ["s/+/x"],
        "acl": [{"permission": "deny", "action": "publish", "topic": "eq t/acme/d1/ro", "retain": true},
                {"permission": "allow", "action": "subscribe", "topic": "acl/${clientid}/#", "qos": [0, 1]}]
    });
    let token = Token::bare(claims.as_object().unwrap().clone().into());
    let p = compile(&cfg, &token, Some("d1"), Some("d1"));
    // The counter sees allocations on this thread.
    let before = allocations();
    drop(std::hint::black_box(vec![1u8]));
    assert!(allocations() > before);
    let checks = [
        (Access::Write, "t/acme/d1/x", 1, false, Decision::Allow),
        (Access::Write, "t/acme/d1/ro", 0, true, Decision::Deny),
        (Access::Write, "t/acme/secret/x", 2, false, Decision::Deny),
        (Access::Subscribe, "$share/g/t/acme/d1/#", 1, false, Decision::Allow),
        (Access::Subscribe, "acl/d1/+", 2, false, Decision::Deny),
        (Access::Subscribe, "s/a/x", 0, false, Decision::Allow),
        (Access::Read, "s/a/x", 2, true, Decision::Allow),
        (Access::Read, "$SYS/x", 0, false, Decision::Deny),
        (Access::Write, "p/1", 0, false, Decision::Allow),
        (Access::Write, "bad/+", 0, false, Decision::Deny),
        (Access::Unsubscribe, "x", 0, false, Decision::Allow),
        (Access::Write, "nowhere", 0, false, Decision::Deny),
    ];
    for (access, topic, qos, retain, want) in checks {
        let before = allocations();
        let got = p.check(access, topic, qos, retain);
        let allocated = allocations() - before;
        assert_eq!(got, want, "{access:?} {topic}");
        assert_eq!(allocated, 0, "{access:?} {topic} allocated {allocated} time(s)");
    }
}
