//! JWK sets over HTTP from a real OpenID provider (oidc-provider on loopback), through a real
//! mosquitto: discovery, RS256/ES256 access tokens, rotation, an unreachable / failing / hanging
//! provider, several issuers. Every wait is bounded.
mod support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::broker::{free_port, Broker, Options};
use support::idp::Idp;
use support::mqtt::{self, Outcome};
use support::tokens;

const ACCEPTED: Outcome = Outcome::Connack(0);
const NOT_AUTHORISED: Outcome = Outcome::Connack(5);
const RS: &str = "urn:mqtt:rs256";
const ES: &str = "urn:mqtt:es256";

fn jwt_json(jwks: Value, options: Value) -> String {
    let mut cfg = json!({"version": 1, "algorithm": ["RS256", "ES256"], "mode": "jwks",
                         "options": {"modes": {"jwks": jwks}}});
    let opts = cfg["options"].as_object_mut().unwrap();
    opts.extend(options.as_object().unwrap().clone());
    cfg.to_string()
}

fn start(jwks: Value, options: Value) -> Broker {
    Broker::start(&jwt_json(jwks, options))
}

fn connect(b: &Broker, id: &str, token: &str) -> Outcome {
    mqtt::connect_with_password(b.port, id, None, token)
}

/// Connects every 100 ms until accepted; the number of attempts, or None after `within`.
fn accepted_within(b: &Broker, token: &str, within: Duration) -> Option<u32> {
    let deadline = Instant::now() + within;
    let mut attempts = 0;
    while Instant::now() < deadline {
        attempts += 1;
        if connect(b, &format!("retry-{attempts}"), token) == ACCEPTED {
            return Some(attempts);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Waits until one log line holds every part.
fn wait_line(b: &Broker, parts: &[&str], within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if b.log().lines().any(|l| parts.iter().all(|p| l.contains(p))) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A token with this header kid whose signature cannot verify (it only needs to reach the kid lookup).
fn unknown_kid_token(kid: &str) -> String {
    tokens::raw(&json!({"alg": "ES256", "kid": kid}), &tokens::claims("x", json!({})), &[7u8; 64])
}

#[test]
fn rs256_and_es256_access_tokens_are_accepted_through_discovery() {
    let idp = Idp::start();
    let b = start(
        json!({"discovery": true}),
        json!({"common": {"issuer": idp.issuer, "audience": "urn:mqtt:*", "matchUsernameToSubject": true}}),
    );
    assert!(b.wait_log(&format!("issuer {} (discovery): 2 key(s)", idp.issuer), Duration::from_secs(3)), "{}", b.log());
    for resource in [RS, ES] {
        let t = idp.token(resource);
        assert_eq!(connect(&b, "dev-a", &t), ACCEPTED, "{resource}\n{}", b.log());
    }
    assert!(b.wait_connected("dev-a", "c1, k30, u'device')", Duration::from_secs(5)), "{}", b.log());
    let other = idp.token("urn:other:es256");
    assert_eq!(connect(&b, "dev-b", &other), NOT_AUTHORISED);
    assert!(b.wait_log("refused client dev-b from 127.0.0.1: wrong-audience", Duration::from_secs(5)), "{}", b.log());
}

#[test]
fn mqtt_jwt_check_fetches_the_keys() {
    let idp = Idp::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwt.json");
    std::fs::write(&file, jwt_json(json!({"discovery": true}), json!({"common": {"issuer": idp.issuer}}))).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mqtt-jwt")).arg("check").arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("jwks_uri: {}", idp.jwks_uri())), "{stdout}");
    assert!(stdout.contains("keys: 2 (verify RS256, ES256)"), "{stdout}");

    drop(idp);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mqtt-jwt")).arg("check").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("options.modes.jwks.discovery: cannot load keys from issuer"), "{stderr}");
}

#[test]
fn rotated_keys_are_picked_up_on_a_kid_miss_and_removed_keys_stop_working() {
    let idp = Idp::start();
    let b = start(json!({"uri": idp.jwks_uri(), "minRefreshIntervalMs": 300, "cache": {"ttlMs": 600000}}), json!({}));
    let old = idp.token(ES);
    assert_eq!(connect(&b, "before", &old), ACCEPTED, "{}", b.log());
    let kids = idp.rotate();
    let new = idp.token(ES);
    // Not held while the keys are fetched: refused now, accepted once the background refresh lands.
    assert_eq!(connect(&b, "first", &new), NOT_AUTHORISED);
    assert!(b.wait_log("refused client first from 127.0.0.1: unknown-kid", Duration::from_secs(5)), "{}", b.log());
    let attempts = accepted_within(&b, &new, Duration::from_secs(10));
    assert!(attempts.is_some(), "new key never picked up:\n{}", b.log());
    assert!(b.wait_log(&kids[0], Duration::from_secs(5)), "{}", b.log());
    // The old key is gone from the set, and a verified-token cache entry must not outlive it.
    assert_eq!(connect(&b, "old-again", &old), NOT_AUTHORISED, "{}", b.log());
    assert!(b.wait_log("refused client old-again from 127.0.0.1: unknown-kid", Duration::from_secs(5)));
}

#[test]
fn rotated_keys_are_picked_up_within_the_ttl_without_a_kid_miss() {
    let idp = Idp::start();
    let b = start(json!({"uri": idp.jwks_uri(), "minRefreshIntervalMs": 600000, "cache": {"ttlMs": 1000}}), json!({}));
    let kids = idp.rotate();
    let new = idp.token(RS);
    assert!(b.wait_log(&format!("kids: {}", kids[0]), Duration::from_secs(5)), "{}", b.log());
    assert_eq!(connect(&b, "after-ttl", &new), ACCEPTED, "{}", b.log());
}

#[test]
fn cache_headers_override_the_ttl_when_respected() {
    let idp = Idp::start();
    idp.cache_control("max-age=1");
    let jwks = json!({"uri": idp.jwks_uri(), "minRefreshIntervalMs": 200,
                      "cache": {"ttlMs": 600000, "respectCacheHeaders": true}});
    let b = start(jwks, json!({}));
    assert!(b.wait_log("next refresh in 1 s", Duration::from_secs(3)), "{}", b.log());
    let kids = idp.rotate();
    assert!(b.wait_log(&format!("kids: {}", kids[0]), Duration::from_secs(5)), "{}", b.log());
}

#[test]
fn unreachable_provider_at_start_stops_the_broker_without_lazy_connect() {
    let port = free_port();
    let cfg = jwt_json(json!({"uri": format!("http://127.0.0.1:{port}/jwks"), "timeoutMs": 1000}), json!({}));
    let log = match Broker::start_with(&cfg, Options::default()) {
        Ok(b) => panic!("started without keys:\n{}", b.log()),
        Err(log) => log,
    };
    for part in [
        "jwt-auth: cannot start:",
        "options.modes.jwks.uri: cannot load keys from",
        "Connection refused",
        "lazyConnect",
    ] {
        assert!(log.contains(part), "{part:?} not in:\n{log}");
    }
}

#[test]
fn lazy_connect_starts_without_keys_refuses_then_recovers() {
    let port = free_port();
    let jwks = json!({"uri": format!("http://127.0.0.1:{port}/jwks"), "minRefreshIntervalMs": 200});
    let b = start(jwks, json!({"lazyConnect": true}));
    let t = unknown_kid_token("k");
    assert_eq!(connect(&b, "early", &t), NOT_AUTHORISED);
    assert!(b.wait_log("refused client early from 127.0.0.1: no-keys-loaded (no verification keys are loaded yet from http://127.0.0.1:", Duration::from_secs(5)), "{}", b.log());
    assert!(b.wait_log("no keys are loaded yet, CONNECTs are refused", Duration::from_secs(5)), "{}", b.log());
    let idp = Idp::start_on(port);
    let good = idp.token(ES);
    assert!(accepted_within(&b, &good, Duration::from_secs(10)).is_some(), "keys never arrived:\n{}", b.log());
}

#[test]
fn lazy_connect_retries_with_backoff_on_its_own() {
    let port = free_port();
    let b = start(json!({"uri": format!("http://127.0.0.1:{port}/jwks")}), json!({"lazyConnect": true}));
    assert!(b.wait_log("next attempt in 1 s", Duration::from_secs(5)), "{}", b.log());
    assert!(b.wait_log("next attempt in 2 s", Duration::from_secs(5)), "{}", b.log());
    let idp = Idp::start_on(port);
    // No CONNECT asks for it: the backoff retry alone loads the keys (next attempt within 4 s).
    assert!(b.wait_log("jwt-auth: loaded 2 key(s) from", Duration::from_secs(10)), "{}", b.log());
    assert_eq!(connect(&b, "after-backoff", &idp.token(RS)), ACCEPTED);
}

#[test]
fn provider_down_later_keeps_the_last_good_keys() {
    let idp = Idp::start();
    let b = start(json!({"uri": idp.jwks_uri(), "minRefreshIntervalMs": 200, "cache": {"ttlMs": 300}}), json!({}));
    let (t1, t2) = (idp.token(ES), idp.token(RS));
    assert_eq!(connect(&b, "up", &t1), ACCEPTED);
    drop(idp);
    assert!(b.wait_log("keeping the last good key set (2 key(s))", Duration::from_secs(5)), "{}", b.log());
    assert!(b.wait_log("cannot refresh keys from http://127.0.0.1:", Duration::from_secs(3)), "{}", b.log());
    assert_eq!(connect(&b, "down", &t2), ACCEPTED, "{}", b.log());
}

#[test]
fn failing_answers_keep_the_last_good_keys() {
    let idp = Idp::start();
    let jwks = json!({"uri": idp.jwks_uri(), "minRefreshIntervalMs": 200, "timeoutMs": 500, "cache": {"ttlMs": 200}});
    let b = start(jwks, json!({"verifiedTokenCache": {"enabled": false}}));
    let cases = [
        ("500", 0, "HTTP status 500"),
        ("garbage", 0, "invalid JSON"),
        ("empty", 0, "no usable key in the set"),
        ("slow", 2000, "timed out after 500 ms"),
    ];
    for (mode, ms, expect) in cases {
        idp.fault(mode, ms);
        let parts = [expect, "keeping the last good key set (2 key(s))"];
        assert!(wait_line(&b, &parts, Duration::from_secs(10)), "{mode}: {}", b.log());
        assert_eq!(connect(&b, mode, &idp.token(ES)), ACCEPTED, "{mode}\n{}", b.log());
    }
    idp.fault("none", 0);
}

#[test]
fn slow_provider_at_start_times_out_with_a_clear_message() {
    let idp = Idp::start();
    idp.fault("hang", 0);
    let cfg = jwt_json(json!({"uri": idp.jwks_uri(), "timeoutMs": 500}), json!({}));
    let started = Instant::now();
    let log = match Broker::start_with(&cfg, Options::default()) {
        Ok(b) => panic!("started without keys:\n{}", b.log()),
        Err(log) => log,
    };
    assert!(
        log.contains("options.modes.jwks.uri: cannot load keys from") && log.contains("timed out after 500 ms"),
        "{log}"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[test]
fn unknown_kid_refreshes_are_rate_limited() {
    let idp = Idp::start();
    let b = start(json!({"uri": idp.jwks_uri(), "minRefreshIntervalMs": 1000, "cache": {"ttlMs": 600000}}), json!({}));
    let before = idp.jwks_requests();
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_millis(2500) && sent < 50_000 {
        assert_eq!(connect(&b, "flood", &unknown_kid_token(&format!("bogus-{sent}"))), NOT_AUTHORISED);
        sent += 1;
    }
    // A refresh asked for near the end is due at most one interval later.
    std::thread::sleep(Duration::from_millis(1200));
    let fetched = idp.jwks_requests() - before;
    // The start-up fetch happened before `started`: one per whole interval since, plus one.
    let allowed = started.elapsed().as_millis() as u64 / 1000 + 1;
    eprintln!("{sent} unknown kids in 2.5 s: {fetched} JWKS fetches");
    assert!(sent > 20, "only {sent} CONNECTs");
    assert!((1..=allowed).contains(&fetched), "{sent} unknown kids caused {fetched} fetches (allowed {allowed})");
}

#[test]
fn connects_do_not_wait_for_a_hanging_jwks_endpoint() {
    let idp = Idp::start();
    let jwks = json!({"uri": idp.jwks_uri(), "timeoutMs": 30000, "minRefreshIntervalMs": 200, "cache": {"ttlMs": 300}});
    // No verified-token cache: every CONNECT below reads the key set and checks a signature.
    let b = start(jwks, json!({"verifiedTokenCache": {"enabled": false}}));
    let good = idp.token(ES);
    assert_eq!(connect(&b, "warm", &good), ACCEPTED);
    idp.fault("hang", 0);
    // Wait until a refresh is stuck in the hanging request (the TTL is 300 ms; generous for slow runs).
    let before = idp.jwks_requests();
    let deadline = Instant::now() + Duration::from_secs(15);
    while idp.jwks_requests() == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(idp.jwks_requests() > before, "no refresh reached the hanging endpoint");
    let mut times = Vec::new();
    for i in 0..300 {
        // Interleave unknown kids, each asking for another refresh.
        assert_eq!(connect(&b, "miss", &unknown_kid_token(&format!("k{i}"))), NOT_AUTHORISED);
        let t0 = Instant::now();
        let out = connect(&b, &format!("known-{i}"), &good);
        times.push(t0.elapsed());
        assert_eq!(out, ACCEPTED, "{}", b.log());
    }
    times.sort();
    let p50 = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    let max = *times.last().unwrap();
    eprintln!("CONNECT latency with the JWKS endpoint hanging: p50 {p50:?}, p99 {p99:?}, max {max:?}");
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?} (p50 {p50:?}, max {max:?})");
    // Shutting down while a refresh thread is still inside the hanging request is clean.
    let mut b = b;
    b.signal("TERM");
    let status = b.wait_exit(Duration::from_secs(5));
    assert!(status.is_some_and(|s| s.success()), "mosquitto exit: {status:?}\n{}", b.log());
}

#[test]
fn several_issuers_each_with_their_own_keys() {
    let (a, c) = (Idp::start(), Idp::start());
    let options = json!({"issuerKeys": [
        {"issuer": a.issuer, "discovery": true},
        {"issuer": c.issuer, "uri": c.jwks_uri(), "minRefreshIntervalMs": 200}
    ]});
    let mut cfg: Value = serde_json::from_str(&jwt_json(json!({}), options)).unwrap();
    cfg["options"].as_object_mut().unwrap().remove("modes");
    let b = Broker::start(&cfg.to_string());
    assert_eq!(connect(&b, "tenant-a", &a.token(ES)), ACCEPTED, "{}", b.log());
    assert_eq!(connect(&b, "tenant-c", &c.token(RS)), ACCEPTED, "{}", b.log());
    // An issuer that is not configured: refused without any fetch.
    let (ja, jc) = (a.jwks_requests(), c.jwks_requests());
    for i in 0..20 {
        let claims = tokens::claims("x", json!({"iss": "http://127.0.0.1:1"}));
        let t = tokens::raw(&json!({"alg": "ES256", "kid": format!("k{i}")}), &claims, &[7u8; 64]);
        assert_eq!(connect(&b, "stranger", &t), NOT_AUTHORISED);
    }
    assert!(
        b.wait_log(
            "refused client stranger from 127.0.0.1: wrong-issuer (iss http://127.0.0.1:1 is not a configured issuer)",
            Duration::from_secs(5)
        ),
        "{}",
        b.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!((a.jwks_requests(), c.jwks_requests()), (ja, jc), "an unknown issuer caused a fetch");
    // Issuer C's token checked against C's keys only: A's key ids mean nothing there.
    let a_token = a.token(ES);
    let kid_of_a = {
        use base64::Engine;
        let h = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(a_token.split('.').next().unwrap()).unwrap();
        serde_json::from_slice::<Value>(&h).unwrap()["kid"].as_str().unwrap().to_string()
    };
    let forged = tokens::raw(
        &json!({"alg": "ES256", "kid": kid_of_a}),
        &tokens::claims("x", json!({"iss": c.issuer})),
        &[7u8; 64],
    );
    assert_eq!(connect(&b, "mixed", &forged), NOT_AUTHORISED);
    assert!(b.wait_log("refused client mixed from 127.0.0.1: unknown-kid", Duration::from_secs(5)), "{}", b.log());
}

#[test]
fn reload_keeps_remote_keys_and_refuses_an_unreachable_new_source() {
    let idp = Idp::start();
    let b = start(json!({"uri": idp.jwks_uri()}), json!({}));
    let good = idp.token(ES);
    let c = mqtt::Connect {
        version: 4,
        client_id: "stays",
        username: Some(b"dev"),
        password: Some(good.as_bytes()),
        ..Default::default()
    };
    let (s, out) = mqtt::connect(b.port, &c);
    assert_eq!(out, ACCEPTED);
    let mut s = s.unwrap();
    // Same file: the source keeps its keys, so mosquitto's re-check of connected clients passes.
    b.signal("HUP");
    assert!(b.wait_log("jwt-auth: reloaded", Duration::from_secs(5)), "{}", b.log());
    assert!(mqtt::ping(&mut s), "client dropped by the reload:\n{}", b.log());
    // A new source that cannot be reached (lazyConnect false): the running configuration stays.
    let port = free_port();
    let cfg = jwt_json(json!({"uri": format!("http://127.0.0.1:{port}/jwks"), "timeoutMs": 500}), json!({}));
    std::fs::write(b.dir.path().join("jwt.json"), cfg).unwrap();
    b.signal("HUP");
    let parts = ["reload failed, keeping the running configuration", "options.modes.jwks.uri: cannot load keys from"];
    assert!(wait_line(&b, &parts, Duration::from_secs(10)), "{}", b.log());
    assert!(mqtt::ping(&mut s), "client dropped by the failed reload:\n{}", b.log());
    assert_eq!(connect(&b, "after", &idp.token(RS)), ACCEPTED, "{}", b.log());
}

#[test]
fn key_urls_and_keys_in_the_token_header_are_never_used() {
    let (idp, attacker) = (Idp::start(), Idp::start());
    let b = start(json!({"uri": idp.jwks_uri(), "minRefreshIntervalMs": 200}), json!({}));
    // Signed with a key of our own, which the header offers every way there is.
    let fixtures: Value = serde_json::from_slice(&tokens::key_file("jwks.json")).expect("tests/keys/jwks.json");
    let jwk = fixtures["keys"].as_array().unwrap().iter().find(|k| k["kid"] == "ec-256").unwrap().clone();
    let header = json!({"alg": "ES256", "kid": "ec-256", "jwk": jwk, "jku": attacker.jwks_uri(),
                        "x5u": format!("{}/x5u", attacker.issuer)});
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let msg = format!("{}.{}", b64(&header), b64(&tokens::claims("intruder", json!({}))));
    let key = tokens::signer(mqtt_jwt_auth::alg::Alg::ES256);
    let sig = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.sign(msg.as_bytes()).unwrap())
    };
    let before = attacker.jwks_requests();
    assert_eq!(connect(&b, "intruder", &format!("{msg}.{sig}")), NOT_AUTHORISED);
    assert!(b.wait_log("refused client intruder from 127.0.0.1: unknown-kid", Duration::from_secs(5)), "{}", b.log());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(attacker.jwks_requests(), before, "the broker fetched the URL from a token header");
}

#[test]
fn https_endpoint_with_an_untrusted_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl not installed (ci/setup.sh installs it)");
    assert!(status.success());
    let idp = Idp::start_tls(&key, &cert);
    assert!(idp.issuer.starts_with("https://"));
    let cfg = jwt_json(json!({"uri": idp.jwks_uri(), "timeoutMs": 2000}), json!({}));
    let log = match Broker::start_with(&cfg, Options::default()) {
        Ok(b) => panic!("trusted a self-signed certificate:\n{}", b.log()),
        Err(log) => log,
    };
    let line = log.lines().find(|l| l.contains("jwt-auth: cannot start:")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains(&format!("cannot load keys from {}", idp.jwks_uri())), "{line}");
    assert!(line.to_lowercase().contains("certificate"), "{line}");
}

#[test]
fn background_log_lines_reach_the_log_without_tick() {
    // per_listener_settings: 2.0.0–2.0.14 never fire TICK, so a CONNECT must drain the queue.
    let idp = Idp::start();
    let cfg =
        jwt_json(json!({"uri": idp.jwks_uri(), "minRefreshIntervalMs": 200, "cache": {"ttlMs": 600000}}), json!({}));
    let opts = Options { top_conf: "per_listener_settings true\n".into(), ..Default::default() };
    let b = Broker::start_with(&cfg, opts).unwrap_or_else(|log| panic!("{log}"));
    let kids = idp.rotate();
    assert_eq!(connect(&b, "miss", &idp.token(ES)), NOT_AUTHORISED);
    let new = idp.token(ES);
    assert!(accepted_within(&b, &new, Duration::from_secs(10)).is_some(), "{}", b.log());
    assert!(b.wait_log(&format!("kids: {}", kids[0]), Duration::from_secs(5)), "{}", b.log());
}
