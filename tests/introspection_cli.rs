//! `mqtt-jwt check` on revocation settings that load but deserve a second look.
use serde_json::json;
use std::process::Command;

#[test]
fn check_warns_that_a_plain_endpoint_without_json_path_trusts_any_200() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwt.json");
    let write = |plain: serde_json::Value| {
        let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
            "options": {"modes": {"local": "cli-revocation-secret-0123456789"}, "revocation": {"plain": plain}}});
        std::fs::write(&file, cfg.to_string()).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_mqtt-jwt")).arg("check").arg(&file).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = write(json!({"uri": "http://127.0.0.1:9/check"}));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("warning: options.revocation.plain.response.jsonPath is not set"), "{err}");
    let (code, err) = write(json!({"uri": "http://127.0.0.1:9/check", "response": {"jsonPath": "$.active"}}));
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("jsonPath"), "{err}");
}
