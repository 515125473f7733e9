//! options.credentialsExchange.
use crate::config::test_options::{err, parse};
use crate::config::*;
use serde_json::json;

#[test]
fn exchange_endpoint_grant_and_limits() {
    let e = parse(json!({"credentialsExchange": {"discovery": true}})).unwrap().credentials_exchange.unwrap();
    assert_eq!(e.endpoint, TokenEndpoint::Discovery("https://idp.example.com/realms/x".into()));
    assert_eq!((e.grant, e.timeout_ms, e.max_entries), (Grant::ClientCredentials, 5000, 10_000));
    let e = parse(json!({"credentialsExchange": {"tokenEndpoint": "https://idp/token", "grant": "password",
        "clientId": "broker", "scope": "openid mqtt"}}))
    .unwrap()
    .credentials_exchange
    .unwrap();
    assert_eq!(e.grant, Grant::Password { client_id: "broker".into(), client_secret: None });
    assert_eq!(e.scope.as_deref(), Some("openid mqtt"));
    for (bad, path) in [
        (json!({}), "options.credentialsExchange.tokenEndpoint: missing"),
        (json!({"tokenEndpoint": "ftp://x"}), "options.credentialsExchange.tokenEndpoint: must be"),
        (json!({"tokenEndpoint": "https://x", "discovery": true}), "options.credentialsExchange.discovery: give only"),
        (json!({"tokenEndpoint": "https://x", "grant": "password"}), "options.credentialsExchange.clientId: missing"),
        (json!({"tokenEndpoint": "https://x", "clientId": "c"}), "options.credentialsExchange.clientId: not used"),
        (json!({"tokenEndpoint": "https://x", "grant": "implicit"}), "options.credentialsExchange.grant: unknown"),
        (json!({"tokenEndpoint": "https://x", "timeoutMs": 60000}), "options.credentialsExchange.timeoutMs:"),
        (json!({"tokenEndpoint": "https://x", "secret": "s"}), "options.credentialsExchange.secret: unknown key"),
    ] {
        let e = err(json!({"credentialsExchange": bad}));
        assert!(e.starts_with(path), "{e}");
    }
    let pattern = Config::parse(
        &json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {"modes": {"local": "s"},
            "common": {"issuer": "https://*.example.com"}, "credentialsExchange": {"discovery": true}}})
        .to_string(),
    );
    assert!(pattern.unwrap_err().to_string().contains("one exact issuer URL"));
    let by_username = Config::parse(
        &json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {"modes": {"local": "s"},
            "common": {"tokenSource": "username", "matchUsernameToSubject": true},
            "credentialsExchange": {"tokenEndpoint": "https://x"}}})
        .to_string(),
    );
    let e = by_username.unwrap_err();
    assert!(e.path == "options.credentialsExchange" && e.problem.contains("tokenSource \"password\""), "{e}");
}

#[test]
fn exchange_client_secret_takes_every_secret_form() {
    let grant = |secret: Value| {
        parse(json!({"credentialsExchange": {"tokenEndpoint": "https://idp/token", "grant": "password",
            "clientId": "broker", "clientSecret": secret}}))
        .map(|c| c.credentials_exchange.unwrap().grant)
    };
    let with = |s: Secret| Grant::Password { client_id: "broker".into(), client_secret: Some(s) };
    assert_eq!(grant(json!("bs")).unwrap(), with(Secret::Plain("bs".into())));
    assert_eq!(grant(json!({"plain": "bs"})).unwrap(), with(Secret::Plain("bs".into())));
    assert_eq!(grant(json!({"env": "BROKER_SECRET"})).unwrap(), with(Secret::Env("BROKER_SECRET".into())));
    assert_eq!(grant(json!({"filePath": "/run/s"})).unwrap(), with(Secret::File("/run/s".into())));
    let e = grant(json!({"env": "A", "plain": "b"})).unwrap_err();
    assert_eq!(e.path, "options.credentialsExchange.clientSecret", "{e}");
    let e = grant(json!(7)).unwrap_err();
    assert!(e.to_string().starts_with("options.credentialsExchange.clientSecret:"), "{e}");
    // Resolved when the configuration is loaded, with the key path in the error.
    let long = "exchange-test-secret-0123456789-0123456789";
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {"modes": {"local": long},
        "credentialsExchange": {"tokenEndpoint": "https://idp/token", "grant": "password", "clientId": "broker",
            "clientSecret": {"env": "MQTT_JWT_AUTH_TEST_NO_SUCH_VAR"}}}});
    let e = crate::loaded::Loaded::new(Config::parse(&cfg.to_string()).unwrap()).err().unwrap();
    assert_eq!(e.path, "options.credentialsExchange.clientSecret.env");
    assert!(e.problem.contains("MQTT_JWT_AUTH_TEST_NO_SUCH_VAR is not set"), "{e}");
}
