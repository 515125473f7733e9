//! Back-channel logout on a real mosquitto: a logout token published to the logout topic ends the
//! sessions it names within a second (notice first); refused ones end nothing, not even the
//! publisher's; afterwards older tokens are refused and newer ones accepted.
mod support;

use serde_json::{json, Value};
use std::net::TcpStream;
use std::time::Duration;
use support::broker::Broker;
use support::mqtt::{self, ConnectV5, Outcome};
use support::tokens::{self, now, HS_SECRET};

const ISS: &str = "https://idp.logout.test";
const LOGOUT: &str = "$CONTROL/jwt-auth/v1/logout";
const RESPONSE: &str = "$CONTROL/jwt-auth/v1/response";
const INVALID: &str = "$CONTROL/jwt-auth/v1/invalid";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

fn config() -> String {
    json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {
        "modes": {"local": HS_SECRET},
        "common": {"issuer": ISS, "audience": "mqtt", "kickExpiredClientsWithWill": true},
        "invalidNotice": {},
        // Nothing is granted: publishing to the logout topic needs no grant (the signature is the authority).
        "authorization": {"rules": [], "noMatch": "deny"},
        "logout": {"audience": "relay-client"}}})
    .to_string()
}

fn sign(typ: Option<&str>, claims: &Value, secret: &str) -> String {
    let signer = mqtt_jwt_auth::keys::Signer::new(mqtt_jwt_auth::alg::Alg::HS256, secret.as_bytes()).unwrap();
    let mut header = json!({"alg": "HS256"});
    if let Some(t) = typ {
        header["typ"] = json!(t);
    }
    tokens::sign_header(&signer, &header, claims)
}

fn access(sub: &str, sid: Option<&str>, iat: i64) -> String {
    let mut c = json!({"iss": ISS, "aud": "mqtt", "sub": sub, "iat": iat, "exp": now() + 3600});
    if let Some(s) = sid {
        c["sid"] = json!(s);
    }
    sign(Some("JWT"), &c, HS_SECRET)
}

fn logout_claims(sub: Option<&str>, sid: Option<&str>, jti: &str) -> Value {
    let mut c = json!({"iss": ISS, "aud": "relay-client", "iat": now(), "jti": jti, "events": {EVENT: {}}});
    if let Some(s) = sub {
        c["sub"] = json!(s);
    }
    if let Some(s) = sid {
        c["sid"] = json!(s);
    }
    c
}

fn logout_token(c: &Value) -> String {
    sign(Some("logout+jwt"), c, HS_SECRET)
}

fn connect(b: &Broker, id: &str, token: &str) -> TcpStream {
    let c = ConnectV5 { client_id: id, password: Some(token.as_bytes()), ..Default::default() };
    let (s, out) = mqtt::connect_v5(b.port, &c);
    assert_eq!(out, Outcome::Connack(0), "{id}: {}", b.log());
    s.unwrap()
}

fn connack(b: &Broker, id: &str, token: &str) -> Outcome {
    mqtt::connect_v5(b.port, &ConnectV5 { client_id: id, password: Some(token.as_bytes()), ..Default::default() }).1
}

/// Publishes a logout token and returns the plugin's answer to the publisher.
fn publish_logout(publisher: &mut TcpStream, token: &str) -> Value {
    assert_eq!(mqtt::publish_qos1(publisher, true, LOGOUT, token.as_bytes()), Some(0));
    let (topic, body) = mqtt::next_publish(publisher, true, Duration::from_secs(3)).expect("an answer");
    assert_eq!(topic, RESPONSE);
    serde_json::from_slice(&body).unwrap()
}

fn alive(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    mqtt::ping(s)
}

#[test]
fn a_logout_ends_every_session_of_the_subject_within_a_second_with_the_notice_first() {
    let b = Broker::start(&config());
    let t = access("alice", None, now() - 60);
    let mut phone = connect(&b, "phone", &t);
    let mut laptop = connect(&b, "laptop", &t);
    let mut bob = connect(&b, "bob", &access("bob", None, now() - 60));
    let mut relay = connect(&b, "relay", &access("relay", None, now() - 60));
    let started = std::time::Instant::now();
    assert_eq!(
        publish_logout(&mut relay, &logout_token(&logout_claims(Some("alice"), None, "j-1"))),
        json!({"result": "ok", "ended": 2})
    );
    for s in [&mut phone, &mut laptop] {
        let notice = mqtt::next_publish(s, true, Duration::from_secs(1)).expect("invalidity notice");
        assert_eq!(notice, (INVALID.to_string(), br#"{"reason":"logged-out"}"#.to_vec()));
        assert!(mqtt::wait_closed(s, Duration::from_secs(2)).is_some(), "{}", b.log());
    }
    let took = started.elapsed();
    assert!(took <= Duration::from_secs(1), "both gone after {took:?}");
    assert!(alive(&mut bob) && alive(&mut relay), "other identities and the publisher stay");
    assert!(b.wait_log("back-channel logout of sub alice", Duration::from_secs(2)), "{}", b.log());
}

#[test]
fn refused_logout_tokens_end_no_session() {
    let b = Broker::start(&config());
    let mut phone = connect(&b, "phone", &access("alice", Some("s1"), now() - 60));
    let mut relay = connect(&b, "relay", &access("relay", None, now() - 60));
    let good = logout_claims(Some("alice"), Some("s1"), "j-good");
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        f(&mut c);
        logout_token(&c)
    };
    let cases = [
        ("forged signature", sign(Some("logout+jwt"), &good, "another-secret-0123456789-0123456789"), "bad-signature"),
        ("wrong aud", edit(&|c| c["aud"] = json!("mqtt")), "wrong-audience"),
        ("missing events", edit(&|c| drop(c.as_object_mut().unwrap().remove("events"))), "bad-logout-token"),
        ("stale iat", edit(&|c| c["iat"] = json!(now() - 400)), "bad-logout-token"),
        ("nonce present", edit(&|c| c["nonce"] = json!("n")), "bad-logout-token"),
        ("typ JWT", sign(Some("JWT"), &good, HS_SECRET), "bad-logout-token"),
        ("an access token", access("alice", Some("s1"), now()), "wrong-audience"),
    ];
    for (what, token, reason) in &cases {
        assert_eq!(publish_logout(&mut relay, token), json!({"result": "refused", "reason": reason}), "{what}");
    }
    // Replayed jti: the first use ends the session, the second is refused.
    let token = logout_token(&good);
    assert_eq!(publish_logout(&mut relay, &token)["result"], "ok");
    assert!(mqtt::wait_closed(&mut phone, Duration::from_secs(2)).is_some());
    assert_eq!(publish_logout(&mut relay, &token), json!({"result": "refused", "reason": "logout-replayed"}));
    assert!(alive(&mut relay), "a refused logout never ends the publisher's session");
}

#[test]
fn after_a_logout_older_tokens_are_refused_and_a_new_login_is_accepted() {
    let b = Broker::start(&config());
    let old = access("alice", None, now() - 60);
    let mut phone = connect(&b, "phone", &old);
    let mut relay = connect(&b, "relay", &access("relay", None, now() - 60));
    assert_eq!(publish_logout(&mut relay, &logout_token(&logout_claims(Some("alice"), None, "j-2")))["ended"], 1);
    assert!(mqtt::wait_closed(&mut phone, Duration::from_secs(2)).is_some());
    assert_eq!(connack(&b, "phone", &old), Outcome::Connack(0x87), "reconnect with the old token");
    assert!(b.wait_log("logged-out", Duration::from_secs(2)), "{}", b.log());
    // A token issued after the logout (the user signed in again).
    std::thread::sleep(Duration::from_millis(1100));
    let fresh = access("alice", None, now());
    let mut phone = connect(&b, "phone", &fresh);
    // Refreshing back to the old token is refused.
    assert_eq!(mqtt::publish_qos1(&mut phone, true, "$CONTROL/jwt-auth/v1", old.as_bytes()), Some(0));
    let (_, body) = mqtt::next_publish(&mut phone, true, Duration::from_secs(3)).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["reason"], "logged-out");
}

#[test]
fn a_logout_by_sid_ends_only_that_provider_session() {
    let b = Broker::start(&config());
    let mut phone = connect(&b, "phone", &access("alice", Some("s1"), now() - 60));
    let mut laptop = connect(&b, "laptop", &access("alice", Some("s2"), now() - 60));
    let mut relay = connect(&b, "relay", &access("relay", None, now() - 60));
    assert_eq!(publish_logout(&mut relay, &logout_token(&logout_claims(None, Some("s1"), "j-3")))["ended"], 1);
    assert!(mqtt::wait_closed(&mut phone, Duration::from_secs(2)).is_some());
    assert!(alive(&mut laptop), "alice's other session stays");
}

/// Which broker's log shows `client_id` connecting.
fn holder(brokers: &[Broker], client_id: &str) -> Option<usize> {
    let needle = format!(" as {client_id} ");
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        if let Some(i) = brokers.iter().position(|b| b.log().contains(&needle)) {
            return Some(i);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn a_fleet_behind_haproxy_the_relay_ends_the_device_on_whichever_broker_holds_it() {
    use support::relay::{logout_form, post, Haproxy, Relay};
    let brokers: Vec<Broker> = (0..3).map(|_| Broker::start(&config())).collect();
    let ports: Vec<u16> = brokers.iter().map(|b| b.port).collect();
    let lb = Haproxy::start(&ports);
    let mut devices = Vec::new();
    for i in 0..6 {
        let id = format!("dev-{i}");
        let t = access(&id, None, now() - 60);
        let c = ConnectV5 { client_id: &id, password: Some(t.as_bytes()), ..Default::default() };
        let (s, out) = mqtt::connect_v5(lb.port, &c);
        assert_eq!(out, Outcome::Connack(0), "{}", lb.log());
        let at = holder(&brokers, &id).expect("a broker holds it");
        devices.push((s.unwrap(), at));
    }
    let spread: std::collections::BTreeSet<usize> = devices.iter().map(|(_, at)| *at).collect();
    assert_eq!(spread.len(), 3, "devices land on every broker");
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("relay.jwt");
    std::fs::write(&token_file, access("logout-relay", None, now() - 60) + "\n").unwrap();
    let mut relay = Relay::start(&ports, &["--token-file", token_file.to_str().unwrap()]);

    let target = 4;
    let started = std::time::Instant::now();
    let token = logout_token(&logout_claims(Some("dev-4"), None, "fleet-1"));
    assert_eq!(post(relay.port, "application/x-www-form-urlencoded", &logout_form(&token)), 200, "{}", relay.log());
    assert!(mqtt::wait_closed(&mut devices[target].0, Duration::from_secs(2)).is_some());
    let took = started.elapsed();
    assert!(took <= Duration::from_secs(1), "dev-4 gone {took:?} after the POST");
    assert!(brokers[devices[target].1].wait_log("back-channel logout of sub dev-4", Duration::from_secs(3)));
    for (i, (s, _)) in devices.iter_mut().enumerate().filter(|(i, _)| *i != target) {
        assert!(alive(s), "dev-{i} stays");
    }
    // Only the form, the size and the JWT shape are the relay's to check.
    let form = "application/x-www-form-urlencoded";
    assert_eq!(post(relay.port, "text/plain", &logout_form(&token)), 400);
    assert_eq!(post(relay.port, form, b"logout_token=not-a-jwt"), 400);
    assert_eq!(post(relay.port, form, b"id_token=a.b.c"), 400);
    assert_eq!(post(relay.port, form, &vec![b'a'; 9000]), 413);
    // The brokers' verdicts: a token they refuse is a 400 (no retry helps), a retry of an applied
    // logout (its jti already used) is a 200.
    let forged =
        sign(Some("logout+jwt"), &logout_claims(Some("dev-0"), None, "forged"), "not-the-providers-secret-0123456789");
    assert_eq!(post(relay.port, form, &logout_form(&forged)), 400, "{}", relay.log());
    assert!(alive(&mut devices[0].0), "dev-0 stays");
    assert_eq!(post(relay.port, form, &logout_form(&token)), 200, "a retry");
    let log = relay.log();
    assert!(log.contains("logout from 127.0.0.1: 200 published to 3/3 broker(s)"), "{log}");
    assert!(!log.contains(&token) && !log.contains(token.split('.').nth(1).unwrap()), "the token is never logged");

    // A broker that is down: 503, so the provider retries; the others still got it.
    let (mut dev1, at1) = devices.remove(1);
    let down = (0..3).find(|i| *i != at1).unwrap();
    drop(brokers.into_iter().enumerate().filter(|(i, _)| *i == down).map(|(_, b)| b).collect::<Vec<_>>());
    let token = logout_token(&logout_claims(Some("dev-1"), None, "fleet-2"));
    assert_eq!(post(relay.port, form, &logout_form(&token)), 503, "{}", relay.log());
    assert!(mqtt::wait_closed(&mut dev1, Duration::from_secs(2)).is_some(), "the broker that holds dev-1 got it");
    assert_eq!(relay.terminate(Duration::from_secs(15)).map(|s| s.success()), Some(true), "{}", relay.log());
}

#[test]
fn the_relay_rereads_its_token_file_when_it_reconnects() {
    use support::relay::{logout_form, post, Relay};
    let b = Broker::start(&config());
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("relay.jwt");
    let short = sign(
        Some("JWT"),
        &json!({"iss": ISS, "aud": "mqtt", "sub": "logout-relay", "iat": now() - 5, "exp": now() + 2}),
        HS_SECRET,
    );
    std::fs::write(&token_file, short).unwrap();
    let relay = Relay::start(&[b.port], &["--token-file", token_file.to_str().unwrap()]);
    // The operator's renewal job writes a new token; the broker kicks the relay at the old one's exp.
    std::fs::write(&token_file, access("logout-relay", None, now())).unwrap();
    let twice = |l: &str| l.matches(&format!("connected to 127.0.0.1:{}\n", b.port)).count() >= 2;
    assert!(relay.wait_log(twice, Duration::from_secs(8)), "{}\n{}", relay.log(), b.log());
    let token = logout_token(&logout_claims(Some("nobody"), None, "reread-1"));
    assert_eq!(post(relay.port, "application/x-www-form-urlencoded", &logout_form(&token)), 200, "{}", relay.log());
}

#[test]
fn the_relay_rate_limits_each_source_address() {
    use support::relay::{logout_form, post, Relay};
    let b = Broker::start(&config());
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("relay.jwt");
    std::fs::write(&token_file, access("logout-relay", None, now() - 60)).unwrap();
    let relay = Relay::start(&[b.port], &["--token-file", token_file.to_str().unwrap(), "--rate", "1"]);
    let form = "application/x-www-form-urlencoded";
    let codes: Vec<u16> = (0..4)
        .map(|i| post(relay.port, form, &logout_form(&logout_token(&logout_claims(Some("x"), None, &format!("r{i}"))))))
        .collect();
    assert_eq!(codes, vec![200, 200, 429, 429], "{}", relay.log());
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl").current_dir(dir).args(args).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA, and a server certificate for 127.0.0.1 signed by it: ca.pem, server.pem, server.key.
fn certificates(dir: &std::path::Path, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={ca}"),
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ],
    );
}

#[test]
fn the_relay_with_a_password_account_over_tls() {
    use std::os::unix::fs::PermissionsExt;
    use support::relay::{logout_form, post, Relay};
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    certificates(dir.path(), "ca");
    certificates(
        &{
            let other = dir.path().join("other");
            std::fs::create_dir(&other).unwrap();
            other
        },
        "other-ca",
    );
    let passwd = dir.path().join("passwd");
    let st = std::process::Command::new("mosquitto_passwd")
        .args(["-b", "-c", passwd.to_str().unwrap(), "relay-account", "relay-password-0123"])
        .status()
        .expect("mosquitto_passwd");
    assert!(st.success());
    // The relay's password account needs a grant for the logout topic (acl_file here; dynsec alike).
    let acl = dir.path().join("acl");
    std::fs::write(&acl, "user relay-account\ntopic write $CONTROL/jwt-auth/v1/logout\n").unwrap();
    for f in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::set_permissions(f.unwrap().path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let tls_port = support::broker::free_port();
    let d = dir.path().display();
    let extra = format!(
        "password_file {}\nacl_file {}\nlistener {tls_port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n",
        passwd.display(),
        acl.display()
    );
    let mut cfg: Value = serde_json::from_str(&config()).unwrap();
    cfg["options"]["common"]["nonJwtCredentials"] = json!("defer");
    let b = Broker::start_with(&cfg.to_string(), support::broker::Options { extra_conf: extra, ..Default::default() })
        .unwrap_or_else(|log| panic!("{log}"));
    let mut phone = connect(&b, "phone", &access("alice", None, now() - 60));
    let pw = dir.path().join("relay.password");
    std::fs::write(&pw, "relay-password-0123\n").unwrap();
    let args = ["--username", "relay-account", "--password-file", pw.to_str().unwrap(), "--cafile"];
    let ca = format!("{d}/ca.pem");
    let relay = Relay::start(&[tls_port], &[&args[..], &[ca.as_str()]].concat());
    let token = logout_token(&logout_claims(Some("alice"), None, "tls-1"));
    assert_eq!(post(relay.port, "application/x-www-form-urlencoded", &logout_form(&token)), 200, "{}", relay.log());
    assert!(mqtt::wait_closed(&mut phone, Duration::from_secs(2)).is_some(), "{}", b.log());
    drop(relay);

    // A broker certificate from another CA: no connection, so every logout is answered 503.
    let other = format!("{d}/other/other-ca.pem");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mqtt-jwt"));
    let relay_port = support::broker::free_port();
    cmd.args([
        "logout-relay",
        "--listen",
        &format!("127.0.0.1:{relay_port}"),
        "--broker",
        &format!("127.0.0.1:{tls_port}"),
    ])
    .args(args)
    .arg(&other)
    .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", relay_port)).is_err() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let token = logout_token(&logout_claims(Some("bob"), None, "tls-2"));
    assert_eq!(post(relay_port, "application/x-www-form-urlencoded", &logout_form(&token)), 503);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_will_of_a_logged_out_device_follows_kick_expired_clients_with_will() {
    for with_will in [true, false] {
        let mut cfg: Value = serde_json::from_str(&config()).unwrap();
        cfg["options"]["common"]["kickExpiredClientsWithWill"] = json!(with_will);
        cfg["options"]["authorization"] =
            json!({"rules": [{"permission": "allow", "action": "all", "topic": "wills/#"}], "noMatch": "deny"});
        let b = Broker::start(&cfg.to_string());
        let mut observer = connect(&b, "observer", &access("observer", None, now() - 60));
        assert_eq!(mqtt::subscribe(&mut observer, true, "wills/#"), 0);
        let t = access("alice", None, now() - 60);
        let c = ConnectV5 {
            client_id: "phone",
            password: Some(t.as_bytes()),
            will: Some(("wills/phone", b"gone")),
            ..Default::default()
        };
        let (phone, out) = mqtt::connect_v5(b.port, &c);
        assert_eq!(out, Outcome::Connack(0));
        let mut phone = phone.unwrap();
        let mut relay = connect(&b, "relay", &access("relay", None, now() - 60));
        assert_eq!(publish_logout(&mut relay, &logout_token(&logout_claims(Some("alice"), None, "w")))["ended"], 1);
        assert!(mqtt::wait_closed(&mut phone, Duration::from_secs(2)).is_some());
        let will = mqtt::next_publish(&mut observer, true, Duration::from_secs(1));
        assert_eq!(will.is_some(), with_will, "with_will {with_will}: {will:?}\n{}", b.log());
    }
}

#[test]
fn the_relay_answers_503_when_a_broker_acknowledges_but_does_not_apply_the_logout() {
    use support::relay::{logout_form, post, Relay};
    // A broker without options.logout acknowledges the publish (QoS 1) and does nothing with it.
    let mut cfg: Value = serde_json::from_str(&config()).unwrap();
    cfg["options"].as_object_mut().unwrap().remove("logout");
    let without = Broker::start(&cfg.to_string());
    let with = Broker::start(&config());
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("relay.jwt");
    std::fs::write(&token_file, access("logout-relay", None, now() - 60)).unwrap();
    let args = ["--token-file", token_file.to_str().unwrap(), "--timeout-ms", "700"];
    let relay = Relay::start(&[with.port, without.port], &args);
    let token = logout_token(&logout_claims(Some("x"), None, "unapplied"));
    assert_eq!(post(relay.port, "application/x-www-form-urlencoded", &logout_form(&token)), 503, "{}", relay.log());
    // The relay's log is read by a thread: wait for the line rather than sampling it once.
    assert!(relay.wait_log(|l| l.contains("no answer from the plugin"), Duration::from_secs(3)), "{}", relay.log());
}
