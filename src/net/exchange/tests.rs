//! The token-endpoint request against a one-shot fake HTTP server on loopback.
use super::*;
use crate::config::Config;
use std::net::TcpListener;

/// Serves `answers` (status, body) in order; returns the URL and a receiver of the request bodies.
fn endpoint(answers: Vec<(u16, String)>) -> (String, std::sync::mpsc::Receiver<String>) {
    crate::net::canned::one_shot(answers, "/token")
}

fn exchanger(extra: serde_json::Value, url: &str) -> Exchanger {
    let mut ex = serde_json::json!({"tokenEndpoint": url, "timeoutMs": 2000});
    for (k, v) in extra.as_object().unwrap() {
        ex[k] = v.clone();
    }
    let cfg = serde_json::json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": "s"}, "credentialsExchange": ex}});
    Exchanger::new(Config::parse(&cfg.to_string()).unwrap().credentials_exchange.unwrap(), None, Default::default())
        .unwrap()
}

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";

#[test]
fn client_credentials_sends_username_as_client_id() {
    let (url, rx) = endpoint(vec![(200, format!(r#"{{"access_token":"{JWT}","expires_in":60}}"#))]);
    let ex = exchanger(serde_json::json!({"scope": "mqtt", "resource": "urn:mqtt"}), &url);
    let got = ex.exchange("device", "s3cret&x").unwrap();
    assert_eq!((got.token.as_str(), got.expires_in), (JWT, Some(60.0)));
    let body = rx.recv().unwrap();
    assert_eq!(
        body,
        "grant_type=client_credentials&client_id=device&client_secret=s3cret%26x&scope=mqtt&resource=urn%3Amqtt"
    );
}

#[test]
fn password_grant_sends_the_configured_client() {
    let (url, rx) = endpoint(vec![(200, format!(r#"{{"access_token":"{JWT}"}}"#))]);
    let ex = exchanger(
        serde_json::json!({"grant": "password", "clientId": "broker", "clientSecret": "bs", "audience": "mqtt"}),
        &url,
    );
    assert!(ex.exchange("alice", "pw").is_ok());
    assert_eq!(
        rx.recv().unwrap(),
        "grant_type=password&username=alice&password=pw&client_id=broker&client_secret=bs&audience=mqtt"
    );
}

#[test]
fn refusals_and_failures_are_told_apart() {
    let (url, _rx) = endpoint(vec![
        (401, r#"{"error":"invalid_client","error_description":"secret pw is wrong"}"#.into()),
        (400, r#"{"error":"invalid_grant"}"#.into()),
        (500, "oops".into()),
        (200, r#"{"access_token":"opaque-token"}"#.into()),
        (200, r#"{"token_type":"Bearer"}"#.into()),
    ]);
    let ex = exchanger(serde_json::json!({}), &url);
    let e = ex.exchange("d", "pw").unwrap_err();
    assert_eq!(e.reason, Reason::CredentialsRefused);
    assert_eq!(e.detail, "token endpoint answered HTTP 401 invalid_client");
    assert_eq!(ex.exchange("d", "pw").unwrap_err().reason, Reason::CredentialsRefused);
    assert_eq!(ex.exchange("d", "pw").unwrap_err().reason, Reason::ExchangeFailed);
    assert!(ex.exchange("d", "pw").unwrap_err().detail.contains("not a JWT"));
    assert!(ex.exchange("d", "pw").unwrap_err().detail.contains("without an access_token"));
}

#[test]
fn unreachable_endpoint_fails_within_the_timeout() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/token", l.local_addr().unwrap().port());
    let ex = exchanger(serde_json::json!({"timeoutMs": 300}), &url);
    let started = std::time::Instant::now();
    let e = ex.exchange("d", "pw").unwrap_err();
    assert_eq!(e.reason, Reason::ExchangeFailed);
    assert!(e.detail.contains("timed out after 300 ms"), "{}", e.detail);
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(l);
}

#[test]
fn cache_is_keyed_by_salted_credentials_and_expires() {
    let ex = exchanger(serde_json::json!({"maxEntries": 2}), "http://127.0.0.1:9/token");
    ex.remember("a", "bc", "t1".into(), 100.0, 10.0);
    assert_eq!(ex.cached("a", "bc", 50.0).as_deref(), Some("t1"));
    assert_eq!(ex.cached("ab", "c", 50.0), None, "length-prefixed: no collision");
    assert_eq!(ex.cached("a", "bX", 50.0), None);
    assert_eq!(ex.cached("a", "bc", 100.0), None, "gone at its exp");
    assert_eq!(ex.cached_entries(), 0);
    // Another process (another salt) derives other keys from the same credentials.
    let other = exchanger(serde_json::json!({}), "http://127.0.0.1:9/token");
    assert_ne!(ex.key("a", "bc"), other.key("a", "bc"));
    for i in 0..5 {
        ex.remember(&format!("u{i}"), "p", "t".into(), 1000.0, 10.0);
    }
    assert!(ex.cached_entries() <= 2);
}

#[test]
fn jwt_shapes() {
    assert!(looks_like_jwt(JWT));
    assert!(!looks_like_jwt("hunter2"));
    assert!(!looks_like_jwt("eyJ.only-two"));
}
