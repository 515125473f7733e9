//! jwt.json loading on arbitrary text: an error naming a key path, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(cfg) = mqtt_jwt_auth::config::Config::parse(text) {
        // A loaded configuration never allows "none".
        assert!(cfg.algorithms.iter().all(|a| !a.name().eq_ignore_ascii_case("none")));
    }
});
