//! JWK set parsing (files and HTTP bodies) on arbitrary text; every key it keeps must be usable.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for origin in [mqtt_jwt_auth::keys::Origin::File, mqtt_jwt_auth::keys::Origin::Remote] {
        let Ok((keys, _warnings)) = mqtt_jwt_auth::keys::parse_jwk_set(text, origin) else { continue };
        // A shared secret never comes from a URL.
        assert!(
            origin == mqtt_jwt_auth::keys::Origin::File
                || keys.iter().all(|k| k.kind != mqtt_jwt_auth::alg::KeyKind::Hmac)
        );
        for k in &keys {
            // A kept key verifies (and refuses) without panicking, whatever the algorithm asked.
            for alg in mqtt_jwt_auth::alg::ALL {
                if k.accepts(alg) {
                    assert!(!k.key.verify(alg, b"message", &[0u8; 64]));
                }
            }
        }
    }
});
