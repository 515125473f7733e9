//! Credentials exchange end to end: mosquitto with the plugin, the OpenID provider (oidc-provider)
//! as token endpoint; an MQTT client sends its OAuth client id and secret as username and password.
mod support;

use serde_json::json;
use std::time::Duration;
use support::broker::Broker;
use support::idp::{Idp, CLIENT_ID, CLIENT_SECRET};
use support::mqtt::{self, Outcome};

fn broker(idp: &Idp, exchange: serde_json::Value) -> Broker {
    let cfg = json!({"version": 1, "algorithm": ["RS256", "ES256"], "mode": "jwks", "options": {
        "modes": {"jwks": {"discovery": true}},
        "common": {"issuer": idp.issuer, "audience": "urn:mqtt", "matchUsernameToSubject": true},
        "credentialsExchange": exchange,
        "metrics": {"intervalSeconds": 1, "logIntervalSeconds": 1}}});
    Broker::start(&cfg.to_string())
}

#[test]
fn client_id_and_secret_are_exchanged_for_a_token_and_cached() {
    let idp = Idp::start();
    let b = broker(&idp, json!({"discovery": true, "resource": "urn:mqtt", "scope": "mqtt"}));
    let ok = mqtt::connect_with_password(b.port, "exchanger-1", Some(CLIENT_ID), CLIENT_SECRET);
    assert_eq!(ok, Outcome::Connack(0), "{}", b.log());
    // The token's subject (the OAuth client) became the username.
    assert!(b.wait_log(&format!("u'{CLIENT_ID}'"), Duration::from_secs(5)), "{}", b.log());
    assert!(b.wait_log("credentials exchanged at the token endpoint", Duration::from_secs(2)), "{}", b.log());
    // Again: served from the cache, no second request.
    let again = mqtt::connect_with_password(b.port, "exchanger-2", Some(CLIENT_ID), CLIENT_SECRET);
    assert_eq!(again, Outcome::Connack(0), "{}", b.log());
    assert_eq!(b.log().matches("credentials exchanged at the token endpoint").count(), 1, "{}", b.log());
    // A wrong secret is refused by the provider, and says so.
    let wrong = mqtt::connect_with_password(b.port, "exchanger-3", Some(CLIENT_ID), "not-the-secret");
    assert_eq!(wrong, Outcome::Connack(5));
    assert!(b.wait_log("refused client exchanger-3 from 127.0.0.1: credentials-refused", Duration::from_secs(5)));
    // A JWT in the password is still verified directly.
    let token = idp.token("urn:mqtt");
    assert_eq!(mqtt::connect_with_password(b.port, "direct", None, &token), Outcome::Connack(0));
    // Two requests (one refused), one cache hit, in the metrics summary.
    assert!(b.wait_log("exchanges 2 (failed 1, cached 1,", Duration::from_secs(5)), "{}", b.log());
    // The secret never reaches the log.
    assert!(!b.log().contains(CLIENT_SECRET));
    // The key source's discovery document named the token endpoint too: one request for both.
    assert_eq!(idp.stat("discovery"), 1);
}

#[test]
fn without_the_option_a_password_is_just_a_malformed_token() {
    let idp = Idp::start();
    let cfg = json!({"version": 1, "algorithm": "RS256", "mode": "jwks", "options": {
        "modes": {"jwks": {"discovery": true}}, "common": {"issuer": idp.issuer}}});
    let b = Broker::start(&cfg.to_string());
    let out = mqtt::connect_with_password(b.port, "plain", Some(CLIENT_ID), CLIENT_SECRET);
    assert_eq!(out, Outcome::Connack(5));
    assert!(b.wait_log("refused client plain from 127.0.0.1: malformed-token", Duration::from_secs(5)), "{}", b.log());
}

#[test]
fn an_unreachable_token_endpoint_refuses_within_the_timeout() {
    let idp = Idp::start();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/token", dead.local_addr().unwrap().port());
    let mut b = broker(&idp, json!({"tokenEndpoint": url, "timeoutMs": 300}));
    let started = std::time::Instant::now();
    let out = mqtt::connect_with_password(b.port, "stuck", Some(CLIENT_ID), CLIENT_SECRET);
    assert_eq!(out, Outcome::Connack(5));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(b.wait_log(
        "stuck from 127.0.0.1: exchange-failed (token endpoint timed out after 300 ms)",
        Duration::from_secs(5)
    ));
    assert!(b.is_alive());
}

/// The password grant as the broker's own OAuth client (Authlib, tests/authserver): the client
/// secret comes from the environment or from a file, never from jwt.json itself.
#[test]
fn the_password_grant_reads_its_client_secret_from_env_or_a_file() {
    use support::authserver::{self, AuthServer, USER_PASSWORD};
    use support::broker::{keys_dir, Options};
    let a = AuthServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("client-secret");
    std::fs::write(&file, format!("{}\n", authserver::CLIENT_SECRET)).unwrap();
    let env = "MQTT_JWT_TEST_EXCHANGE_SECRET";
    for (n, secret) in [json!({"env": env}), json!({"filePath": file})].into_iter().enumerate() {
        let cfg = json!({"version": 1, "algorithm": "ES256", "mode": "local", "options": {
            "modes": {"local": {"filePath": keys_dir().join("ec256.pub.pem")}},
            "common": {"audience": "mqtt", "matchUsernameToSubject": true},
            "credentialsExchange": {"tokenEndpoint": format!("{}/token", a.issuer), "grant": "password",
                "clientId": authserver::CLIENT_ID, "clientSecret": secret}}});
        let opts = Options { env: vec![(env.into(), authserver::CLIENT_SECRET.into())], ..Default::default() };
        let b = Broker::start_with(&cfg.to_string(), opts).unwrap_or_else(|log| panic!("did not start:\n{log}"));
        let user = format!("user-{n}");
        let ok = mqtt::connect_with_password(b.port, &format!("pw-{n}"), Some(&user), USER_PASSWORD);
        assert_eq!(ok, Outcome::Connack(0), "{}", b.log());
        assert!(b.wait_log(&format!("u'{user}'"), Duration::from_secs(5)), "{}", b.log());
        let wrong = mqtt::connect_with_password(b.port, &format!("bad-{n}"), Some(&user), "not-the-password");
        assert_eq!(wrong, Outcome::Connack(5), "{}", b.log());
        assert!(!b.log().contains(authserver::CLIENT_SECRET), "{}", b.log());
    }
    // Unset, the broker refuses to start and names the key.
    let cfg = json!({"version": 1, "algorithm": "ES256", "mode": "local", "options": {
        "modes": {"local": {"filePath": keys_dir().join("ec256.pub.pem")}},
        "credentialsExchange": {"tokenEndpoint": format!("{}/token", a.issuer), "grant": "password",
            "clientId": authserver::CLIENT_ID, "clientSecret": {"env": "MQTT_JWT_TEST_UNSET_SECRET"}}}});
    let log = Broker::start_with(&cfg.to_string(), Options::default()).err().expect("must not start");
    assert!(
        log.contains(
            "options.credentialsExchange.clientSecret.env: environment variable MQTT_JWT_TEST_UNSET_SECRET is not set"
        ),
        "{log}"
    );
}
