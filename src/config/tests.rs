//! jwt.json parsing: the Pro plugin's schema, every error naming its key path, the defaults, and the
//! key-loading errors `Loaded::new` reports for a configuration that parses.
use super::*;
use crate::loaded::Loaded;
use serde_json::json;

const PRO_EXAMPLE: &str = r#"{"version":1,"algorithm":"RS256","mode":"jwks","options":{"lazyConnect":false,"modes":{"jwks":{"uri":"http://127.0.0.1:1/certs","timeoutMs":5000,"cache":{"enabled":true,"ttlMs":30000,"respectCacheHeaders":false}}},"common":{"validateExpiration":true,"matchUsernameToSubject":true,"matchClientIdToSubject":false,"kickExpiredClients":true,"kickExpiredClientsWithWill":true},"revocation":{"introspection":{"uri":"http://127.0.0.1:1/introspect","clientId":"client-id","clientSecret":"secret","includeTokenTypehint":false},"timeoutMs":5000}}}"#;

fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys")
}

fn key(name: &str) -> String {
    keys_dir().join(name).display().to_string()
}

/// A minimal valid configuration (HS256, plain secret) with `common` as given.
fn with_common(common: serde_json::Value) -> String {
    json!({
        "version": 1,
        "algorithm": "HS256",
        "mode": "local",
        "options": {"modes": {"local": "secret"}, "common": common}
    })
    .to_string()
}

fn ok(text: &str) -> Config {
    Config::parse(text).unwrap_or_else(|e| panic!("should parse: {e}\n{text}"))
}

/// Parses `text`, which must fail at `path`; returns the problem for further checks.
fn err_at(text: &str, path: &str) -> String {
    match Config::parse(text) {
        Ok(c) => panic!("should fail at {path}, parsed as {c:?}\n{text}"),
        Err(e) => {
            assert_eq!(e.path, path, "wrong path; problem: {}\n{text}", e.problem);
            assert!(!e.problem.is_empty(), "empty problem at {path}");
            // Display names the path and the problem.
            let shown = e.to_string();
            assert!(shown.contains(&e.problem), "{shown}");
            if !path.is_empty() {
                assert!(shown.starts_with(&format!("{path}: ")), "{shown}");
            }
            e.problem
        }
    }
}

fn assert_contains(problem: &str, words: &[&str]) {
    for w in words {
        assert!(problem.to_lowercase().contains(&w.to_lowercase()), "{problem:?} should mention {w:?}");
    }
}

fn engine_err(text: &str) -> ConfigError {
    match Loaded::new(ok(text)) {
        Ok(_) => panic!("Loaded::new should fail\n{text}"),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------------------------
// The Pro plugin's example

#[test]
fn pro_example_parses_and_means_what_it_says() {
    let c = ok(PRO_EXAMPLE);
    assert_eq!(c.algorithms, vec![Alg::RS256]);
    assert_eq!(c.mode, Mode::Jwks);
    assert!(!c.lazy_connect);
    assert_eq!(c.local, None);
    assert_eq!(
        c.jwks,
        Some(JwksSource {
            file_path: None,
            uri: Some("http://127.0.0.1:1/certs".into()),
            discovery: None,
            timeout_ms: 5000,
            cache_enabled: true,
            cache_ttl_ms: 30_000,
            respect_cache_headers: false,
            min_refresh_interval_ms: DEFAULT_MIN_REFRESH_MS,
        })
    );
    let k = &c.common;
    assert!(k.validate_expiration);
    assert!(k.match_username_to_subject);
    assert!(!k.match_client_id_to_subject);
    assert!(k.kick_expired_clients);
    assert!(k.kick_expired_clients_with_will);
    assert_eq!(k.match_username_to_claim, None);
    assert_eq!(k.match_client_id_to_claim, None);
    assert!(k.issuers.is_empty());
    assert!(k.audiences.is_empty());
    assert_eq!(k.token_source, TokenSource::Password);
    let r = c.revocation.unwrap();
    assert_eq!(r.timeout_ms, 5000);
    let RevocationEndpoint::Introspection(i) = r.endpoint else { panic!("introspection expected") };
    assert_eq!(i.uri.as_deref(), Some("http://127.0.0.1:1/introspect"));
    assert_eq!((i.client_id.as_str(), &i.client_secret), ("client-id", &Secret::Plain("secret".into())));
    assert!(!i.include_token_type_hint);
    assert_eq!(c.verified_cache_entries, DEFAULT_CACHE_ENTRIES);
}

#[test]
fn pro_example_type_hint_both_spellings() {
    for key in ["includeTokenTypehint", "includeTokenTypeHint"] {
        let text = PRO_EXAMPLE.replace("\"includeTokenTypehint\":false", &format!("\"{key}\":true"));
        let c = ok(&text);
        let RevocationEndpoint::Introspection(i) = c.revocation.unwrap().endpoint else { panic!() };
        assert!(i.include_token_type_hint, "{key}");
    }
}

#[test]
fn pro_example_builds_an_engine_with_introspection() {
    // Nothing is fetched before start: the key sources and the introspection workers wait.
    let (loaded, _) = Loaded::new(ok(PRO_EXAMPLE)).unwrap();
    assert!(loaded.keys.has_remote());
    assert!(loaded.keys.entries[0].keys().keys.is_empty());
    assert!(loaded.introspector.is_some());
    // Without a uri, the endpoint must come from OIDC discovery.
    let no_uri = PRO_EXAMPLE.replace("\"uri\":\"http://127.0.0.1:1/introspect\",", "");
    let e = engine_err(&no_uri);
    assert_eq!(e.path, "options.revocation.introspection.uri", "{e}");
}

// ---------------------------------------------------------------------------------------------
// Errors name the key path

#[test]
fn invalid_json() {
    let p = err_at("{\"version\": 1,", "");
    assert_contains(&p, &["invalid JSON", "line 1"]);
    let p = err_at("[1]", "");
    assert_contains(&p, &["expected an object", "array"]);
}

#[test]
fn version() {
    let p = err_at(r#"{"algorithm":"HS256","mode":"local","options":{"modes":{"local":"s"}}}"#, "version");
    assert_contains(&p, &["missing", "1"]);
    let p = err_at(r#"{"version":2,"algorithm":"HS256","mode":"local","options":{"modes":{"local":"s"}}}"#, "version");
    assert_contains(&p, &["unsupported", "1"]);
    err_at(r#"{"version":"1","algorithm":"HS256","mode":"local","options":{"modes":{"local":"s"}}}"#, "version");
}

#[test]
fn algorithm_errors() {
    let base = |alg: serde_json::Value| {
        json!({"version": 1, "algorithm": alg, "mode": "local", "options": {"modes": {"local": "s"}}}).to_string()
    };
    let p = err_at(r#"{"version":1,"mode":"local","options":{"modes":{"local":"s"}}}"#, "algorithm");
    assert_contains(&p, &["missing"]);
    assert_contains(&err_at(&base(json!([])), "algorithm"), &["missing"]);
    for none in ["none", "None", "NONE"] {
        assert_contains(&err_at(&base(json!(none)), "algorithm"), &["none", "never"]);
    }
    let p = err_at(&base(json!("RS257")), "algorithm");
    assert_contains(&p, &["unsupported", "RS257", "RS256"]);
    // Names are case-sensitive (RFC 7518).
    assert_contains(&err_at(&base(json!("rs256")), "algorithm"), &["unsupported"]);
    // A bad element in a list is named by its index.
    assert_contains(&err_at(&base(json!(["RS256", "XS256"])), "algorithm[1]"), &["XS256"]);
    assert_contains(&err_at(&base(json!(["RS256", "none"])), "algorithm[1]"), &["never"]);
    assert_contains(&err_at(&base(json!(["RS256", 5])), "algorithm[1]"), &["string", "number"]);
    assert_contains(&err_at(&base(json!(256)), "algorithm"), &["string", "number"]);
}

#[test]
fn mode_errors() {
    let p = err_at(r#"{"version":1,"algorithm":"HS256","mode":"remote","options":{"modes":{"local":"s"}}}"#, "mode");
    assert_contains(&p, &["remote", "local", "jwks"]);
    let p = err_at(r#"{"version":1,"algorithm":"HS256","options":{"modes":{"local":"s"}}}"#, "mode");
    assert_contains(&p, &["missing"]);
}

#[test]
fn unknown_keys_are_errors() {
    let p = err_at(
        r#"{"version":1,"algorithm":"HS256","mode":"local","options":{"modes":{"local":"s"}},"algorithms":["RS256"]}"#,
        "algorithms",
    );
    assert_contains(&p, &["unknown key", "algorithm"]);
    let p = err_at(&with_common(json!({"matchUsernameToSubjet": true})), "options.common.matchUsernameToSubjet");
    assert_contains(&p, &["unknown key", "matchUsernameToSubject"]);
    err_at(
        r#"{"version":1,"algorithm":"HS256","mode":"local","options":{"modes":{"local":"s"},"comon":{}}}"#,
        "options.comon",
    );
    err_at(
        r#"{"version":1,"algorithm":"HS256","mode":"local","options":{"modes":{"local":"s","remote":{}}}}"#,
        "options.modes.remote",
    );
    err_at(
        r#"{"version":1,"algorithm":"HS256","mode":"local","options":{"modes":{"local":{"plain":"s","pem":"x"}}}}"#,
        "options.modes.local.pem",
    );
    err_at(
        r#"{"version":1,"algorithm":"RS256","mode":"jwks","options":{"modes":{"jwks":{"uri":"http://x","cache":{"ttl":1}}}}}"#,
        "options.modes.jwks.cache.ttl",
    );
    err_at(
        &PRO_EXAMPLE.replace("\"clientSecret\"", "\"client_secret\""),
        "options.revocation.introspection.client_secret",
    );
}

#[test]
fn wrong_types() {
    let p = err_at(&with_common(json!({"validateExpiration": "true"})), "options.common.validateExpiration");
    assert_contains(&p, &["true or false", "string"]);
    let p = err_at(&with_common(json!({"leewaySeconds": "10"})), "options.common.leewaySeconds");
    assert_contains(&p, &["integer", "string"]);
    err_at(&with_common(json!({"leewaySeconds": -1})), "options.common.leewaySeconds");
    err_at(&with_common(json!({"leewaySeconds": 1.5})), "options.common.leewaySeconds");
    let p = err_at(&with_common(json!({"issuer": 5})), "options.common.issuer");
    assert_contains(&p, &["string", "number"]);
    err_at(&with_common(json!({"audience": ["a", true]})), "options.common.audience[1]");
    err_at(&with_common(json!({"matchUsernameToClaim": 1})), "options.common.matchUsernameToClaim");
    err_at(&with_common(json!([])), "options.common");
    err_at(r#"{"version":1,"algorithm":"HS256","mode":"local","options":[]}"#, "options");
    err_at(
        r#"{"version":1,"algorithm":"HS256","mode":"local","options":{"lazyConnect":"no","modes":{"local":"s"}}}"#,
        "options.lazyConnect",
    );
    let p = err_at(
        r#"{"version":1,"algorithm":"HS256","mode":"local","options":{"modes":{"local":5}}}"#,
        "options.modes.local",
    );
    assert_contains(&p, &["string or an object"]);
    err_at(
        r#"{"version":1,"algorithm":"RS256","mode":"jwks","options":{"modes":{"jwks":{"uri":"http://x","timeoutMs":"5"}}}}"#,
        "options.modes.jwks.timeoutMs",
    );
}

#[test]
fn null_counts_as_absent() {
    let c = ok(&with_common(json!({"issuer": null, "validateExpiration": null})));
    assert!(c.common.issuers.is_empty());
    assert!(c.common.validate_expiration);
}

#[test]
fn local_key_errors() {
    let local = |v: serde_json::Value| {
        json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {"modes": {"local": v}}}).to_string()
    };
    let p = err_at(&local(json!({"plain": "s", "env": "E"})), "options.modes.local");
    assert_contains(&p, &["only one"]);
    err_at(&local(json!({"env": "E", "filePath": "/k"})), "options.modes.local");
    err_at(&local(json!({"plain": "s", "env": "E", "filePath": "/k"})), "options.modes.local");
    let p = err_at(&local(json!({})), "options.modes.local");
    assert_contains(&p, &["plain", "env", "filePath"]);
    err_at(&local(json!({"plain": 5})), "options.modes.local.plain");

    // mode local without a local key
    let p = err_at(r#"{"version":1,"algorithm":"HS256","mode":"local"}"#, "options.modes.local");
    assert_contains(&p, &["missing"]);
    err_at(
        r#"{"version":1,"algorithm":"HS256","mode":"local","options":{"modes":{"jwks":{"uri":"http://x"}}}}"#,
        "options.modes.local",
    );
}

#[test]
fn jwks_errors() {
    let jwks = |v: serde_json::Value| {
        json!({"version": 1, "algorithm": "RS256", "mode": "jwks", "options": {"modes": {"jwks": v}}}).to_string()
    };
    let p = err_at(&jwks(json!({"uri": "http://x/certs", "filePath": "/k.json"})), "options.modes.jwks");
    assert_contains(&p, &["uri", "filePath", "not both"]);
    err_at(&jwks(json!({"uri": "http://x/certs", "discovery": true})), "options.modes.jwks");
    let p = err_at(&jwks(json!({})), "options.modes.jwks");
    assert_contains(&p, &["uri", "filePath", "discovery"]);
    for bad in ["ftp://x/certs", "http://", "/certs", "http:///certs", "https://a b"] {
        let p = err_at(&jwks(json!({ "uri": bad })), "options.modes.jwks.uri");
        assert_contains(&p, &["http://", "https://"]);
    }
    err_at(&jwks(json!({"uri": "http://x", "timeoutMs": 0})), "options.modes.jwks.timeoutMs");
    err_at(&jwks(json!({"uri": "http://x", "minRefreshIntervalMs": 99})), "options.modes.jwks.minRefreshIntervalMs");
    err_at(&jwks(json!({"uri": "http://x", "minRefreshInterval": 1000})), "options.modes.jwks.minRefreshInterval");
    let p = err_at(
        r#"{"version":1,"algorithm":"RS256","mode":"jwks","options":{"modes":{"local":"s"}}}"#,
        "options.modes.jwks",
    );
    assert_contains(&p, &["missing"]);
}

#[test]
fn common_value_errors() {
    for n in [0, 10, 63, 1_048_577, 2_000_000] {
        let p = err_at(&with_common(json!({"maxTokenBytes": n})), "options.common.maxTokenBytes");
        assert_contains(&p, &["64", "1048576"]);
    }
    assert_eq!(ok(&with_common(json!({"maxTokenBytes": 64}))).common.max_token_bytes, 64);
    assert_eq!(ok(&with_common(json!({"maxTokenBytes": 1_048_576}))).common.max_token_bytes, 1_048_576);

    let p = err_at(&with_common(json!({"leewaySeconds": 3601})), "options.common.leewaySeconds");
    assert_contains(&p, &["3600"]);
    assert_eq!(ok(&with_common(json!({"leewaySeconds": 3600}))).common.leeway_seconds, 3600);

    let p = err_at(&with_common(json!({"issuer": "/(/"})), "options.common.issuer");
    assert_contains(&p, &["regular expression"]);
    err_at(&with_common(json!({"issuers": ["https://ok", "/(/"]})), "options.common.issuer");
    err_at(&with_common(json!({"audience": "/[/"})), "options.common.audience");
    err_at(&with_common(json!({"audience": ""})), "options.common.audience");

    let p = err_at(
        &with_common(json!({"matchUsernameToSubject": true, "matchUsernameToClaim": "preferred_username"})),
        "options.common.matchUsernameToClaim",
    );
    assert_contains(&p, &["matchUsernameToSubject"]);
    err_at(&with_common(json!({"matchClientIdToClaim": ""})), "options.common.matchClientIdToClaim");

    let p = err_at(&with_common(json!({"tokenSource": "cookie"})), "options.common.tokenSource");
    assert_contains(&p, &["cookie", "password", "username"]);
}

// ---------------------------------------------------------------------------------------------
// Defaults and accepted shapes

#[test]
fn defaults() {
    let c = ok(r#"{"version":1,"algorithm":"HS256","mode":"local","options":{"modes":{"local":"s"}}}"#);
    assert_eq!(c.algorithms, vec![Alg::HS256]);
    assert_eq!(c.mode, Mode::Local);
    assert!(!c.lazy_connect);
    assert_eq!(c.jwks, None);
    assert_eq!(c.revocation, None);
    assert_eq!(c.verified_cache_entries, DEFAULT_CACHE_ENTRIES);
    assert_eq!(DEFAULT_CACHE_ENTRIES, 100_000);
    let k = &c.common;
    assert!(k.validate_expiration);
    assert!(k.kick_expired_clients);
    assert!(k.kick_expired_clients_with_will);
    assert!(!k.match_username_to_subject);
    assert!(!k.match_client_id_to_subject);
    assert!(!k.refuse_username_mismatch);
    assert_eq!(k.leeway_seconds, 0);
    assert_eq!(k.token_source, TokenSource::Password);
    assert_eq!(k.max_token_bytes, 8192);
    assert_eq!(DEFAULT_MAX_TOKEN_BYTES, 8192);

    // options with no common block gives the same defaults as an empty one
    let d = ok(&with_common(json!({})));
    assert_eq!(d.common, c.common);

    // jwks defaults
    let c =
        ok(r#"{"version":1,"algorithm":"RS256","mode":"jwks","options":{"modes":{"jwks":{"filePath":"/k.json"}}}}"#);
    let j = c.jwks.unwrap();
    assert_eq!(j.file_path, Some(PathBuf::from("/k.json")));
    assert_eq!(j.uri, None);
    assert!(j.cache_enabled);
    assert_eq!(j.cache_ttl_ms, 60_000);
    assert_eq!(j.timeout_ms, 10_000);
    assert!(!j.respect_cache_headers);
}

#[test]
fn verified_token_cache() {
    let cache = |v: serde_json::Value| {
        ok(&json!({"version": 1, "algorithm": "HS256", "mode": "local",
                   "options": {"modes": {"local": "s"}, "verifiedTokenCache": v}})
        .to_string())
        .verified_cache_entries
    };
    assert_eq!(cache(json!({"enabled": false})), 0);
    assert_eq!(cache(json!({"enabled": false, "maxEntries": 50})), 0);
    assert_eq!(cache(json!({"maxEntries": 50})), 50);
    assert_eq!(cache(json!({})), DEFAULT_CACHE_ENTRIES);
    err_at(
        r#"{"version":1,"algorithm":"HS256","mode":"local","options":{"modes":{"local":"s"},"verifiedTokenCache":{"size":5}}}"#,
        "options.verifiedTokenCache.size",
    );
}

#[test]
fn algorithm_lists_deduplicate() {
    let c = ok(
        r#"{"version":1,"algorithm":["RS256","ES256","RS256","ES256"],"mode":"local","options":{"modes":{"local":"s"}}}"#,
    );
    assert_eq!(c.algorithms, vec![Alg::RS256, Alg::ES256]);
    let c = ok(r#"{"version":1,"algorithm":["EdDSA"],"mode":"local","options":{"modes":{"local":"s"}}}"#);
    assert_eq!(c.algorithms, vec![Alg::EdDSA]);
}

#[test]
fn issuers_and_audiences_merge() {
    let c = ok(&with_common(json!({
        "issuer": "https://a",
        "issuers": ["https://b", "/https://c.*/"],
        "audience": ["mqtt"],
        "audiences": "broker"
    })));
    assert_eq!(c.common.issuers, vec!["https://a", "https://b", "/https://c.*/"]);
    assert_eq!(c.common.audiences, vec!["mqtt", "broker"]);
}

#[test]
fn local_key_shapes() {
    let local = |v: serde_json::Value| {
        ok(&json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {"modes": {"local": v}}})
            .to_string())
        .local
    };
    assert_eq!(local(json!("s3cret")), Some(Secret::Plain("s3cret".into())));
    assert_eq!(local(json!({"plain": "s3cret"})), Some(Secret::Plain("s3cret".into())));
    assert_eq!(local(json!({"env": "JWT_SECRET"})), Some(Secret::Env("JWT_SECRET".into())));
    assert_eq!(local(json!({"filePath": "/etc/k.pem"})), Some(Secret::File("/etc/k.pem".into())));
}

#[test]
fn identity_options() {
    let c = ok(&with_common(json!({
        "matchClientIdToClaim": "device.id",
        "matchUsernameToClaim": "preferred_username",
        "refuseUsernameMismatch": true,
        "tokenSource": "username",
        "kickExpiredClients": false,
        "kickExpiredClientsWithWill": false,
        "validateExpiration": false
    })));
    let k = c.common;
    assert_eq!(k.match_client_id_to_claim.as_deref(), Some("device.id"));
    assert_eq!(k.match_username_to_claim.as_deref(), Some("preferred_username"));
    assert!(k.refuse_username_mismatch);
    assert_eq!(k.token_source, TokenSource::Username);
    assert!(!k.kick_expired_clients);
    assert!(!k.kick_expired_clients_with_will);
    assert!(!k.validate_expiration);
}

#[test]
fn load_names_the_file() {
    let missing = Path::new("/nonexistent/dir/jwt.json");
    let e = Config::load(missing).unwrap_err();
    assert_eq!(e.file, missing);
    let shown = e.to_string();
    assert!(shown.contains("/nonexistent/dir/jwt.json"), "{shown}");
    assert!(shown.contains("cannot read"), "{shown}");

    // A file that exists but is wrong: the error still names the file, then the key path.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("jwt.json");
    std::fs::write(&f, r#"{"version":1,"algorithm":"none","mode":"local","options":{"modes":{"local":"s"}}}"#).unwrap();
    let e = Config::load(&f).unwrap_err();
    assert_eq!(e.error.path, "algorithm");
    let shown = e.to_string();
    assert!(shown.starts_with(&format!("{}: algorithm: ", f.display())), "{shown}");

    std::fs::write(&f, r#"{"version":1,"algorithm":"HS256","mode":"local","options":{"modes":{"local":"s"}}}"#)
        .unwrap();
    assert_eq!(Config::load(&f).unwrap().algorithms, vec![Alg::HS256]);
}

// ---------------------------------------------------------------------------------------------
// Loaded::new: configurations that parse but whose keys cannot work

fn local_cfg(alg: &str, local: serde_json::Value) -> String {
    json!({"version": 1, "algorithm": alg, "mode": "local", "options": {"modes": {"local": local}}}).to_string()
}

#[test]
fn engine_refuses_private_key() {
    for k in ["rsa.key", "ec256.key", "ed25519.key"] {
        let e = engine_err(&local_cfg("RS256", json!({"filePath": key(k)})));
        assert_eq!(e.path, "options.modes.local.filePath", "{k}: {e}");
        assert_contains(&e.problem, &["private key"]);
    }
    // Inline PEM text is checked the same way.
    let pem = std::fs::read_to_string(keys_dir().join("rsa.key")).unwrap();
    let e = engine_err(&local_cfg("RS256", json!({"plain": pem})));
    assert_eq!(e.path, "options.modes.local", "{e}");
    assert_contains(&e.problem, &["private key"]);
}

#[test]
fn engine_refuses_public_key_as_hmac_secret() {
    // HS256 with a PEM public key: the key is an RSA key, never an HMAC secret.
    let e = engine_err(&local_cfg("HS256", json!({"filePath": key("rsa.pub.pem")})));
    assert_eq!(e.path, "algorithm", "{e}");
    assert_contains(&e.problem, &["no configured key can verify", "HS256", "RSA public key"]);
    let e = engine_err(&local_cfg("HS512", json!({"filePath": key("ec256.pub.pem")})));
    assert_eq!(e.path, "algorithm", "{e}");
}

#[test]
fn engine_refuses_secret_for_rsa() {
    let e = engine_err(&local_cfg("RS256", json!("just-a-shared-secret-of-32-bytes-or-more")));
    assert_eq!(e.path, "algorithm", "{e}");
    assert_contains(&e.problem, &["RS256", "HMAC secret"]);
    let e = engine_err(&local_cfg("ES256", json!({"filePath": key("hs.secret")})));
    assert_eq!(e.path, "algorithm", "{e}");
    // the wrong key type for the algorithm
    let e = engine_err(&local_cfg("ES384", json!({"filePath": key("ec256.pub.pem")})));
    assert_eq!(e.path, "algorithm", "{e}");
}

#[test]
fn engine_refuses_unset_env_var() {
    let var = "MQTT_JWT_AUTH_UNIT_TEST_SURELY_UNSET_9f2c";
    assert!(std::env::var_os(var).is_none());
    let e = engine_err(&local_cfg("HS256", json!({"env": var})));
    assert_eq!(e.path, "options.modes.local.env", "{e}");
    assert_contains(&e.problem, &[var, "not set"]);
}

#[test]
fn engine_refuses_missing_key_file() {
    let missing = keys_dir().join("no-such-key.pem");
    let e = engine_err(&local_cfg("RS256", json!({"filePath": missing})));
    assert_eq!(e.path, "options.modes.local.filePath", "{e}");
    assert_contains(&e.problem, &["cannot read", "no-such-key.pem"]);

    let e = engine_err(
        &json!({"version": 1, "algorithm": "RS256", "mode": "jwks",
                "options": {"modes": {"jwks": {"filePath": missing}}}})
        .to_string(),
    );
    assert_eq!(e.path, "options.modes.jwks.filePath", "{e}");
}

#[test]
fn engine_refuses_empty_secret() {
    let e = engine_err(&local_cfg("HS256", json!("")));
    assert_eq!(e.path, "options.modes.local", "{e}");
    assert_contains(&e.problem, &["empty"]);
}

#[test]
fn engine_accepts_fixture_keys() {
    for (alg, k) in [
        ("RS256", "rsa.pub.pem"),
        ("PS512", "rsa.pkcs1.pem"),
        ("ES256", "ec256.pub.pem"),
        ("ES384", "ec384.pub.pem"),
        ("EdDSA", "ed25519.pub.pem"),
        ("HS256", "hs.secret"),
    ] {
        let (_, warnings) = Loaded::new(ok(&local_cfg(alg, json!({"filePath": key(k)}))))
            .unwrap_or_else(|e| panic!("{alg} with {k}: {e}"));
        assert!(warnings.is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// JWKS over HTTP: discovery, several issuers, refresh interval

#[test]
fn jwks_over_http_defaults_and_additions() {
    let c = ok(
        r#"{"version":1,"algorithm":"RS256","mode":"jwks","options":{"modes":{"jwks":{"uri":"https://idp/certs"}}}}"#,
    );
    let j = c.jwks.unwrap();
    assert_eq!(j.uri.as_deref(), Some("https://idp/certs"));
    assert_eq!(j.min_refresh_interval_ms, 30_000);
    assert_eq!(j.discovery, None);
    let c = ok(&json!({"version": 1, "algorithm": "RS256", "mode": "jwks", "options": {
        "modes": {"jwks": {"discovery": true, "minRefreshIntervalMs": 500,
                           "cache": {"enabled": false, "ttlMs": 1000, "respectCacheHeaders": true}}},
        "common": {"issuer": "https://idp.example/realms/a"}}})
    .to_string());
    let j = c.jwks.unwrap();
    assert_eq!(j.discovery.as_deref(), Some("https://idp.example/realms/a"));
    assert_eq!(
        (j.min_refresh_interval_ms, j.cache_enabled, j.cache_ttl_ms, j.respect_cache_headers),
        (500, false, 1000, true)
    );
}

#[test]
fn discovery_needs_one_exact_issuer() {
    let with = |common: serde_json::Value| {
        json!({"version": 1, "algorithm": "RS256", "mode": "jwks",
               "options": {"modes": {"jwks": {"discovery": true}}, "common": common}})
        .to_string()
    };
    let p = err_at(&with(json!({})), "options.modes.jwks.discovery");
    assert_contains(&p, &["options.common.issuer"]);
    err_at(&with(json!({"issuers": ["https://a", "https://b"]})), "options.modes.jwks.discovery");
    let p = err_at(&with(json!({"issuer": "https://*.example"})), "options.modes.jwks.discovery");
    assert_contains(&p, &["pattern"]);
    err_at(&with(json!({"issuer": "/^https://a$/"})), "options.modes.jwks.discovery");
    err_at(&with(json!({"issuer": "urn:issuer"})), "options.common.issuer");
}

#[test]
fn issuer_keys() {
    let with = |issuer_keys: serde_json::Value| {
        json!({"version": 1, "algorithm": ["RS256", "ES256"], "mode": "jwks", "options": {"issuerKeys": issuer_keys}})
            .to_string()
    };
    let c = ok(&with(json!([
        {"issuer": "https://idp/realms/a", "discovery": true},
        {"issuer": "https://idp/realms/b", "uri": "https://idp/realms/b/certs", "timeoutMs": 2000},
        {"issuer": "tenant-c", "filePath": "/etc/c.json"}
    ])));
    assert!(c.jwks.is_none());
    let ik = &c.issuer_keys;
    assert_eq!(ik.len(), 3);
    assert_eq!(ik[0].keys.discovery.as_deref(), Some("https://idp/realms/a"));
    assert_eq!(ik[1].keys.uri.as_deref(), Some("https://idp/realms/b/certs"));
    assert_eq!(ik[1].keys.timeout_ms, 2000);
    assert_eq!(ik[2].issuer, "tenant-c");

    err_at(&with(json!([])), "options.issuerKeys");
    err_at(&with(json!({})), "options.issuerKeys");
    let p = err_at(&with(json!([{"uri": "https://x/c"}])), "options.issuerKeys[0].issuer");
    assert_contains(&p, &["missing"]);
    err_at(&with(json!([{"issuer": "a", "uri": "https://x/c", "jku": "x"}])), "options.issuerKeys[0].jku");
    err_at(&with(json!([{"issuer": "a"}])), "options.issuerKeys[0]");
    let p = err_at(
        &with(json!([{"issuer": "a", "uri": "https://x/c"}, {"issuer": "a", "filePath": "/k"}])),
        "options.issuerKeys[1].issuer",
    );
    assert_contains(&p, &["twice"]);
    // Discovery needs the issuer to be a URL.
    err_at(&with(json!([{"issuer": "tenant-c", "discovery": true}])), "options.issuerKeys[0].issuer");
    // Not together with options.modes.jwks, and only in mode jwks.
    let both = json!({"version": 1, "algorithm": "RS256", "mode": "jwks", "options": {
        "modes": {"jwks": {"uri": "https://x/c"}}, "issuerKeys": [{"issuer": "a", "uri": "https://x/c"}]}});
    let p = err_at(&both.to_string(), "options.modes.jwks");
    assert_contains(&p, &["options.issuerKeys"]);
    let local = json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {
        "modes": {"local": "s"}, "issuerKeys": [{"issuer": "a", "uri": "https://x/c"}]}});
    err_at(&local.to_string(), "options.issuerKeys");
}
