//! The mqtt-jwt tool as operators run it: the built binary, its output and exit status
//! (0 fine, 1 token refused by `verify`, 2 unusable input or configuration).
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

const SECRET: &str = "cli-test-secret-0123456789abcdef";

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mqtt-jwt")).args(args).output().expect("run mqtt-jwt");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn write(dir: &Path, name: &str, v: serde_json::Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

fn config(dir: &Path, options: serde_json::Value) -> String {
    let mut o = json!({"modes": {"local": SECRET}, "common": {"issuer": "https://idp.example.com", "matchUsernameToSubject": true}});
    for (k, v) in options.as_object().unwrap() {
        o[k] = v.clone();
    }
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": o});
    write(dir, "jwt.json", cfg).display().to_string()
}

fn mint(extra: &[&str]) -> String {
    let mut args =
        vec!["mint", "--alg", "HS256", "--secret", SECRET, "--sub", "dev-1", "--iss", "https://idp.example.com"];
    args.extend_from_slice(extra);
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    out.trim().to_string()
}

#[test]
fn verify_shows_the_decision_identity_and_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let auth = json!({"authorization": {"rules": [
        {"permission": "allow", "action": "all", "topic": "devices/%u/#"},
        {"permission": "deny", "action": "publish", "topic": "#", "retain": true}]}});
    let cfg = config(dir.path(), auth);
    let token = mint(&["--claim", "tenant=acme", "--exp", "600"]);
    let (code, out, err) = run(&["verify", &cfg, &token, "--client-id", "c1", "--username", "someone"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("decision: accepted\n"), "{out}");
    assert!(out.contains("  tenant: \"acme\""), "{out}");
    assert!(out.contains("  username: dev-1"), "the subject replaces the username: {out}");
    assert!(out.contains("  rule: allow publish+subscribe devices/dev-1/#"), "{out}");
    assert!(out.contains("  rule: deny publish # retain true"), "{out}");
    assert!(out.contains("  anything else: denied"), "{out}");
}

/// With nonJwtCredentials "defer", a password is another plugin's; a broken JWT is still judged here.
#[test]
fn verify_tells_a_password_passed_on_from_a_refused_jwt() {
    let dir = tempfile::tempdir().unwrap();
    let mut common = json!({"issuer": "https://idp.example.com", "nonJwtCredentials": "defer"});
    common["matchUsernameToSubject"] = json!(true);
    let cfg = config(dir.path(), json!({"common": common}));
    let (code, out, _) = run(&["verify", &cfg, "hunter2"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("decision: passed on to other plugins"), "{out}");
    let token = mint(&[]);
    let tampered = format!("{}.{}.AAAA", token.split('.').next().unwrap(), token.split('.').nth(1).unwrap());
    let (code, out, _) = run(&["verify", &cfg, &tampered]);
    assert_eq!(code, 1);
    assert!(out.starts_with("decision: refused: bad-signature"), "{out}");
}

#[test]
fn verify_lists_every_reason_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), json!({}));
    // Expired, from another issuer, and with a bad signature: all three are reported.
    let (code, out, _) = run(&[
        "mint",
        "--alg",
        "HS256",
        "--secret",
        "other-secret",
        "--sub",
        "x",
        "--iss",
        "https://evil",
        "--exp",
        "-120",
    ]);
    assert_eq!(code, 0);
    let (code, out, err) = run(&["verify", &cfg, out.trim()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with("decision: refused: bad-signature"), "{out}");
    for reason in ["- bad-signature", "- expired", "- wrong-issuer"] {
        assert!(out.contains(reason), "{reason} missing: {out}");
    }
    assert!(out.contains("what to do: iss is not a configured issuer"), "{out}");
    assert!(out.contains("claims (NOT verified):"), "{out}");
    // The client id binding, checked for the given client id.
    let cfg = config(dir.path(), json!({"common": {"matchClientIdToSubject": true}}));
    let token = mint(&[]);
    let (code, out, _) = run(&["verify", &cfg, &token, "--client-id", "not-dev-1"]);
    assert_eq!(code, 1);
    assert!(out.starts_with("decision: refused: client-id-mismatch"), "{out}");
    let (code, _, _) = run(&["verify", &cfg, &token, "--client-id", "dev-1"]);
    assert_eq!(code, 0);
}

#[test]
fn check_summarises_a_good_file_and_names_the_problem_in_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), json!({"metrics": {"intervalSeconds": 30}}));
    let (code, out, err) = run(&["check", &cfg]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(": OK\n  algorithms: HS256"), "{out}");
    assert!(out.contains("metrics: every 30 s under $SYS/broker/plugin/jwt/..., log summary every 300 s"), "{out}");

    let bad = config(dir.path(), json!({"common": {"matchUsernameToSubjet": true}}));
    let (code, _, err) = run(&["check", &bad]);
    assert_eq!(code, 2);
    assert!(err.contains("jwt.json: options.common.matchUsernameToSubjet: unknown key"), "{err}");

    let missing = write(
        dir.path(),
        "file.json",
        json!({"version": 1, "algorithm": "RS256", "mode": "local", "options": {"modes": {"local": {"filePath": "/nonexistent/key.pem"}}}}),
    );
    let (code, _, err) = run(&["check", missing.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/key.pem"), "{err}");
}

#[test]
fn check_reaches_the_token_endpoint_of_the_credentials_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener); // nothing listens there any more
    let url = format!("http://127.0.0.1:{port}/token");
    let cfg = config(dir.path(), json!({"credentialsExchange": {"tokenEndpoint": url, "timeoutMs": 500}}));
    let (code, _, err) = run(&["check", &cfg]);
    assert_eq!(code, 2);
    assert!(err.contains("options.credentialsExchange: token endpoint http://127.0.0.1:"), "{err}");
    assert!(err.contains("unreachable"), "{err}");
}

#[test]
fn mint_and_usage_errors() {
    let (code, _, err) = run(&["mint", "--secret", SECRET, "--sub", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("required arguments were not provided:\n  --alg <ALG>"), "{err}");
    let (code, _, err) = run(&["mint", "--alg", "HS256", "--sub", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("<--key <PRIVATE_KEY.pem>|--secret <SECRET>|--secret-file <FILE>>"), "{err}");
    let (code, _, err) = run(&["mint", "--alg", "none", "--secret", SECRET]);
    assert_eq!(code, 2);
    assert!(err.contains("\"none\" is never allowed"), "{err}");
    let (code, _, err) = run(&["frobnicate"]);
    assert_eq!(code, 2);
    assert!(err.contains("unrecognized subcommand 'frobnicate'") && err.contains("Usage:"), "{err}");
    let token = mint(&["--kid", "k1", "--claim", "roles=[\"a\",\"b\"]"]);
    assert_eq!(token.split('.').count(), 3);
}

#[test]
fn mint_signs_every_algorithm_the_plugin_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys");
    let key = |name: &str| keys.join(name).display().to_string();
    // Older tools write SEC1 "EC PRIVATE KEY" and PKCS#1 "RSA PRIVATE KEY": both are read.
    let sec1 = dir.path().join("ec521.sec1.pem");
    let pkcs1 = dir.path().join("rsa.pkcs1.key");
    for (args, out) in [(["ec", "-in", &key("ec521.key")], &sec1), (["rsa", "-in", &key("rsa.key")], &pkcs1)] {
        let extra: &[&str] = if args[0] == "rsa" { &["-traditional"] } else { &[] };
        let st = Command::new("openssl").args(args).args(extra).arg("-out").arg(out).output().unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    }
    let hs512 = "cli-test-secret-for-hs384-and-hs512-0123456789abcdefghijklmnopqrstu";
    let (sec1, pkcs1) = (sec1.display().to_string(), pkcs1.display().to_string());
    let rsa_pub = json!({"filePath": key("rsa.pub.pem")});
    let cases: Vec<(&str, &str, String, serde_json::Value)> = vec![
        ("HS256", "--secret", SECRET.into(), json!(SECRET)),
        ("HS384", "--secret", hs512.into(), json!(hs512)),
        ("HS512", "--secret", hs512.into(), json!(hs512)),
        ("RS256", "--key", key("rsa.key"), rsa_pub.clone()),
        ("RS384", "--key", pkcs1.clone(), rsa_pub.clone()),
        ("RS512", "--key", key("rsa.key"), rsa_pub.clone()),
        ("PS256", "--key", key("rsa.key"), rsa_pub.clone()),
        ("PS384", "--key", pkcs1, rsa_pub.clone()),
        ("PS512", "--key", key("rsa.key"), rsa_pub),
        ("ES256", "--key", key("ec256.key"), json!({"filePath": key("ec256.pub.pem")})),
        ("ES384", "--key", key("ec384.key"), json!({"filePath": key("ec384.pub.pem")})),
        ("ES512", "--key", key("ec521.key"), json!({"filePath": key("ec521.pub.pem")})),
        ("ES512", "--key", sec1, json!({"filePath": key("ec521.pub.pem")})),
        ("EdDSA", "--key", key("ed25519.key"), json!({"filePath": key("ed25519.pub.pem")})),
    ];
    for (alg, flag, signing, local) in cases {
        let (code, token, err) = run(&["mint", "--alg", alg, "--sub", "dev-1", flag, &signing]);
        assert_eq!(code, 0, "{alg}: {err}");
        let cfg = json!({"version": 1, "algorithm": alg, "mode": "local", "options": {"modes": {"local": local}}});
        let cfg = write(dir.path(), "jwt.json", cfg).display().to_string();
        let (code, out, err) = run(&["verify", &cfg, token.trim()]);
        assert_eq!(code, 0, "{alg} {signing}: {out}{err}");
    }
    // A key of the wrong curve for the algorithm is refused, naming it.
    let (code, _, err) = run(&["mint", "--alg", "ES512", "--key", &key("ec256.key"), "--sub", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("ES512 private key rejected"), "{err}");
}

/// `--help` is an answer, not an error: exit 0 and the options on stdout, for the tool and each
/// subcommand; defaults are shown.
#[test]
fn help_and_version_exit_0() {
    for (args, expect) in [
        (&["--help"][..], "Commands:"),
        (&["help"][..], "logout-relay"),
        (&["mint", "--help"][..], "--exp <SECONDS_FROM_NOW>"),
        (&["check", "--help"][..], "<JWT_JSON>"),
        (&["verify", "--help"][..], "--client-id <ID>"),
        (&["logout-relay", "--help"][..], "--broker <HOST:PORT>"),
        (&["help", "mint"][..], "--claim <NAME=VALUE>"),
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains(expect), "{args:?}: {out}");
    }
    let (_, out, _) = run(&["mint", "--help"]);
    assert!(out.contains("[default: 3600]"), "{out}");
    let (_, out, _) = run(&["logout-relay", "--help"]);
    assert!(out.contains("[default: $CONTROL/jwt-auth/v1/logout]") && out.contains("[default: 5000]"), "{out}");
    let (code, out, _) = run(&["--version"]);
    assert_eq!((code, out.trim()), (0, concat!("mqtt-jwt ", env!("CARGO_PKG_VERSION"))));
}

#[test]
fn unknown_options_exit_2_naming_them() {
    for sub in [&["mint", "--alg", "HS256", "--secret", SECRET][..], &["check", "x.json"], &["verify", "x.json", "t"]] {
        let (code, _, err) = run(&[sub, &["--frobnicate"]].concat());
        assert_eq!(code, 2, "{sub:?}");
        assert!(err.contains("unexpected argument '--frobnicate'"), "{sub:?}: {err}");
    }
    let (code, _, err) = run(&["logout-relay", "--listen", "127.0.0.1:0", "--broker", "127.0.0.1:1", "--nope", "1"]);
    assert_eq!(code, 2);
    assert!(err.contains("unexpected argument '--nope'"), "{err}");
    // The relay's credentials: a token file, or a username with a password file.
    let relay = ["logout-relay", "--listen", "127.0.0.1:0", "--broker", "127.0.0.1:1"];
    for (extra, says) in [
        (&[][..], "--token-file <FILE>|--password-file <FILE>"),
        (&["--password-file", "p"][..], "--username <NAME>"),
        (&["--token-file", "t", "--username", "u", "--password-file", "p"][..], "cannot be used with"),
    ] {
        let (code, _, err) = run(&[&relay[..], extra].concat());
        assert_eq!(code, 2, "{extra:?}");
        assert!(err.contains(says), "{extra:?}: {err}");
    }
}
