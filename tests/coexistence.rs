//! JWT devices next to password clients (`nonJwtCredentials: "defer"`), with mosquitto's
//! dynamic-security plugin deciding the password clients: the dynsec admin works through
//! mosquitto_ctrl, a password user gets dynsec's ACLs only, and anything shaped like a JWT is
//! decided by this plugin, never passed on.
mod support;

use mqtt_jwt_auth::alg::Alg;
use serde_json::json;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::broker::{Broker, Options};
use support::mqtt::{self, ConnectV5, Outcome};
use support::tokens::{token, HS_SECRET};

const NOT_AUTHORIZED: u8 = 0x87;
/// The admin password of the shipped example (mosquitto-conf/dynamic-security/dynamic-security.json).
const ADMIN_PASSWORD: &str = "change-me-now";

/// A broker with this plugin (JWT devices may use any topic) and dynsec behind it, its users from
/// the shipped example.
fn broker(common: serde_json::Value) -> (Broker, tempfile::TempDir) {
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": HS_SECRET}, "common": common,
            "authorization": {"rules": [{"permission": "allow", "action": "all", "topic": "#"}]}}});
    let dir = tempfile::tempdir().unwrap();
    let dynsec = dir.path().join("dynamic-security.json");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("mosquitto-conf/dynamic-security/dynamic-security.json");
    std::fs::copy(example, &dynsec).unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let extra =
        format!("plugin {}\nplugin_opt_config_file {}\n", support::broker::dynsec_plugin().display(), dynsec.display());
    let b = Broker::start_with(&cfg.to_string(), Options { extra_conf: extra, ..Default::default() })
        .unwrap_or_else(|log| panic!("did not start:\n{log}"));
    (b, dir)
}

fn defer() -> serde_json::Value {
    json!({"matchUsernameToSubject": true, "nonJwtCredentials": "defer"})
}

/// mosquitto_ctrl as the dynsec admin: Ok(stdout) when it succeeded.
fn ctrl(b: &Broker, args: &[&str]) -> Result<String, String> {
    let out = Command::new("mosquitto_ctrl")
        .args(["-h", "127.0.0.1", "-p", &b.port.to_string(), "-u", "admin", "-P", ADMIN_PASSWORD, "dynsec"])
        .args(args)
        .output()
        .expect("mosquitto_ctrl");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() && !text.contains("Not authorized") && !text.contains("rror") {
        Ok(text)
    } else {
        Err(text)
    }
}

/// A dynsec user `name` with `password`, who may publish to `pw/#` only.
fn password_user(b: &Broker, name: &str, password: &str) {
    ctrl(b, &["createClient", name, "-p", password]).unwrap_or_else(|e| panic!("{e}\n{}", b.log()));
    if ctrl(b, &["createRole", "pw"]).is_ok() {
        ctrl(b, &["addRoleACL", "pw", "publishClientSend", "pw/#", "allow", "5"]).unwrap();
    }
    ctrl(b, &["addClientRole", name, "pw"]).unwrap();
}

fn connect(b: &Broker, id: &str, user: &str, password: &[u8]) -> (Option<TcpStream>, Outcome) {
    let c =
        ConnectV5 { client_id: id, username: Some(user.as_bytes()), password: Some(password), ..Default::default() };
    mqtt::connect_v5(b.port, &c)
}

fn connected(b: &Broker, id: &str, user: &str, password: &[u8]) -> TcpStream {
    let (s, out) = connect(b, id, user, password);
    assert_eq!(out, Outcome::Connack(0), "{id}: {}", b.log());
    s.unwrap()
}

fn device(b: &Broker, id: &str) -> TcpStream {
    connected(b, id, "any", token(Alg::HS256, id, json!({})).as_bytes())
}

#[test]
fn the_dynsec_admin_and_password_users_work_next_to_jwt_devices() {
    let (b, _dynsec) = broker(defer());
    let clients = ctrl(&b, &["listClients"]).unwrap_or_else(|e| panic!("admin locked out: {e}\n{}", b.log()));
    assert!(clients.contains("admin"), "{clients}");
    password_user(&b, "pw-user", "pw-secret");
    // A JWT device: this plugin's rules (everything).
    let mut dev = device(&b, "dev-1");
    assert_eq!(mqtt::publish_qos1(&mut dev, true, "other/x", b"1"), Some(0), "{}", b.log());
    // The password user: dynsec's ACLs only, this plugin answers none of its checks.
    let mut pw = connected(&b, "console", "pw-user", b"pw-secret");
    assert_eq!(mqtt::publish_qos1(&mut pw, true, "pw/x", b"1"), Some(0), "{}", b.log());
    assert_eq!(mqtt::publish_qos1(&mut pw, true, "other/x", b"1"), Some(NOT_AUTHORIZED), "{}", b.log());
    assert_eq!(connect(&b, "console-2", "pw-user", b"wrong").1, Outcome::Connack(NOT_AUTHORIZED));
    // The refused password client holds no id: a device may use it.
    let _d2 = device(&b, "console-2");
    // No password at all is not a JWT either: dynsec refuses it (allow_anonymous false).
    let c = ConnectV5 { client_id: "anon", ..Default::default() };
    assert_eq!(mqtt::connect_v5(b.port, &c).1, Outcome::Connack(NOT_AUTHORIZED));
}

/// A tampered token is decided here, even when dynsec knows that very string as a password.
#[test]
fn a_failing_jwt_is_refused_not_passed_on() {
    let (b, _dynsec) = broker(defer());
    let good = token(Alg::HS256, "dev-1", json!({}));
    // One signature character changed (not the last, whose low bits base64 may ignore).
    let at = good.len() - 5;
    let flipped = if &good[at..at + 1] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &good[..at], &good[at + 1..]);
    password_user(&b, "tamper", &tampered);
    assert_eq!(connect(&b, "t1", "tamper", tampered.as_bytes()).1, Outcome::Connack(NOT_AUTHORIZED));
    assert!(b.wait_log("refused client t1 from 127.0.0.1: bad-signature", Duration::from_secs(3)), "{}", b.log());
    let expired = token(Alg::HS256, "dev-1", json!({"exp": 1000}));
    password_user(&b, "old", &expired);
    assert_eq!(connect(&b, "t2", "old", expired.as_bytes()).1, Outcome::Connack(NOT_AUTHORIZED));
}

/// The default refuses what is not a JWT, as before (and dynsec never sees it).
#[test]
fn refuse_is_the_default() {
    let (b, _dynsec) = broker(json!({"matchUsernameToSubject": true}));
    assert!(ctrl(&b, &["listClients"]).is_err());
    assert!(b.wait_log("malformed-token", Duration::from_secs(3)), "{}", b.log());
}

/// Neither kind of client can take over the other's client id.
#[test]
fn client_ids_are_protected_between_password_clients_and_devices() {
    let (b, _dynsec) = broker(defer());
    password_user(&b, "pw-user", "pw-secret");
    let mut console = connected(&b, "console", "pw-user", b"pw-secret");
    let t = token(Alg::HS256, "dev-1", json!({}));
    assert_eq!(connect(&b, "console", "any", t.as_bytes()).1, Outcome::Connack(NOT_AUTHORIZED));
    assert!(b.wait_log("refused client console from 127.0.0.1: client-id-in-use", Duration::from_secs(3)));
    assert!(mqtt::ping(&mut console), "the password client lost its connection:\n{}", b.log());
    let mut dev = device(&b, "dev-1");
    assert_eq!(connect(&b, "dev-1", "pw-user", b"pw-secret").1, Outcome::Connack(NOT_AUTHORIZED));
    assert!(mqtt::ping(&mut dev), "the device lost its connection:\n{}", b.log());
    // Each takes its own id over as usual.
    let _console2 = connected(&b, "console", "pw-user", b"pw-secret");
    assert!(mqtt::wait_closed(&mut console, Duration::from_secs(3)).is_some());
}

/// mosquitto re-runs authentication for every client after SIGHUP: password clients are passed on
/// again (and dynsec accepts them again), devices are re-checked here.
#[test]
fn a_reload_keeps_both_kinds_of_client() {
    let (b, _dynsec) = broker(defer());
    password_user(&b, "pw-user", "pw-secret");
    let mut pw = connected(&b, "console", "pw-user", b"pw-secret");
    let mut dev = device(&b, "dev-1");
    b.signal("HUP");
    assert!(b.wait_log("reloaded", Duration::from_secs(5)), "{}", b.log());
    std::thread::sleep(Duration::from_millis(300));
    assert!(mqtt::ping(&mut pw), "password client dropped by the reload:\n{}", b.log());
    assert!(mqtt::ping(&mut dev), "device dropped by the reload:\n{}", b.log());
    assert_eq!(mqtt::publish_qos1(&mut pw, true, "pw/x", b"1"), Some(0));
    assert_eq!(mqtt::publish_qos1(&mut pw, true, "other/x", b"1"), Some(NOT_AUTHORIZED));
}
