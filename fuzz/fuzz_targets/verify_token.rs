//! The token decoder and verifier on arbitrary bytes: never panics; a token it accepts must carry a
//! signature made with one of the keys (the fuzzer cannot forge one, so acceptance is a finding).
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static STATE: OnceLock<(mqtt_jwt_auth::verify::Verifier, mqtt_jwt_auth::keys::KeySet)> = OnceLock::new();
    let (v, keys) = STATE.get_or_init(|| (common::verifier(), common::keys()));
    let Ok(token) = std::str::from_utf8(data) else { return };
    let _ = mqtt_jwt_auth::verify::unverified_issuer(token);
    if let Ok(t) = v.verify(token, keys, 1_700_000_000.0) {
        // Only a seed signed with a fixture key can get here: its parts must be intact.
        assert!(token.split('.').count() == 3, "accepted a token that is not three parts");
        let _ = t.claim("a.b.c");
    }
});
