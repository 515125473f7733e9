//! Topic and filter matching: input = filter NUL topic. Never panics, and `covers` is sound: when an
//! allowed filter covers a requested one, every topic the requested one matches is matched by the
//! allowed one (the ACL relies on this for SUBSCRIBE).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mqtt_jwt_auth::acl::topic::{covers, is_valid_filter, is_valid_topic, matches, strip_share};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(3, '\0');
    let (a, b, c) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let _ = strip_share(a);
    let (fa, fb, t) = (is_valid_filter(a), is_valid_filter(b), is_valid_topic(c));
    if fa && t {
        let m = matches(a, c);
        if a == c {
            assert!(m, "{a:?} does not match itself");
        }
    }
    if fa && fb && covers(a, b) && t && matches(b, c) {
        assert!(matches(a, c), "{a:?} covers {b:?}, which matches {c:?}, but {a:?} does not match it");
    }
    if fa && t && !c.contains(['+', '#']) && is_valid_filter(c) {
        // A topic is also a filter: covering it as a filter means matching it as a topic.
        assert_eq!(covers(a, c), matches(a, c), "covers/matches disagree on {a:?} / {c:?}");
    }
});
