//! Every example in mosquitto-conf/ is loaded by this test: each jwt.json parsed and built as the
//! plugin does (no network: remote keys are fetched only once a broker starts), and the examples
//! that need no identity provider started in a real mosquitto and connected to.
mod support;

use mqtt_jwt_auth::config::Config;
use mqtt_jwt_auth::loaded::Loaded;
use serde_json::json;
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::broker::{dynsec_plugin, free_port, mosquitto_bin, plugin_path, Broker};
use support::mqtt::{self, Connect, Outcome};

/// The brokers of this file start one at a time: two picking ports at the same instant could collide.
static ONE_BROKER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mosquitto-conf")
}

/// Each example directory and what its jwt.json must configure.
const EXPECTED: &[(&str, &str)] = &[
    ("auth0", "jwks uri, Auth0 issuer with trailing slash, namespaced topic claim"),
    ("azure-ad", "discovery on the v2.0 issuer, two audiences, app roles"),
    ("dev", "static HS256 secret"),
    ("dynamic-security", "HS256 from the environment, authorization left to dynsec"),
    ("keycloak", "discovery, realm roles, credentials exchange, metrics"),
    ("multi-tenant", "issuerKeys with three issuers"),
];

#[test]
fn every_example_loads() {
    let mut dirs: Vec<String> = std::fs::read_dir(examples())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // mosquitto-conf/scenarios/ holds the deployment scenarios, each run by tests/scenarios.rs.
        .filter(|d| d != "scenarios")
        .collect();
    dirs.sort();
    let expected: Vec<&str> = EXPECTED.iter().map(|(d, _)| *d).collect();
    assert_eq!(dirs, expected, "a new example needs a line in EXPECTED and a check below");
    std::env::set_var("MQTT_JWT_SECRET", "example-secret-0123456789abcdef-0");
    for dir in &dirs {
        let file = examples().join(dir).join("jwt.json");
        let config = Config::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let (engine, warnings) = Loaded::new(config.clone()).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert!(warnings.is_empty(), "{dir}: {warnings:?}");
        match dir.as_str() {
            "auth0" => {
                assert_eq!(config.common.issuers, ["https://example-tenant.eu.auth0.com/"]);
                assert!(config.jwks.as_ref().unwrap().uri.as_deref().unwrap().ends_with("/.well-known/jwks.json"));
                let a = config.authorization.as_ref().unwrap();
                assert_eq!(a.both_claims, ["https://mqtt.example.com/topics"]);
                // Its rule uses %c: the client id must be the token's.
                assert!(config.common.match_client_id_to_subject);
            }
            "azure-ad" => {
                assert!(config.jwks.as_ref().unwrap().discovery.as_deref().unwrap().ends_with("/v2.0"));
                assert_eq!(config.common.audiences.len(), 2);
                assert_eq!(config.common.match_username_to_claim.as_deref(), Some("azp"));
            }
            "keycloak" => {
                assert!(config.jwks.as_ref().unwrap().discovery.is_some());
                assert!(engine.exchange.is_some());
                assert!(config.metrics.is_some());
                assert_eq!(config.authorization.as_ref().unwrap().rules.len(), 3);
            }
            "multi-tenant" => assert_eq!(config.issuer_keys.len(), 3),
            "dev" | "dynamic-security" => assert!(!engine.keys.has_remote()),
            other => panic!("no check for {other}"),
        }
    }
}

#[test]
fn dev_example_accepts_a_token_minted_with_its_secret() {
    let _one = ONE_BROKER.lock().unwrap_or_else(|e| e.into_inner());
    let text = std::fs::read_to_string(examples().join("dev/jwt.json")).unwrap();
    let b = Broker::start(&text);
    let secret = std::fs::read_to_string(examples().join("dev/secret")).unwrap();
    let t = support::tokens::hs256(secret.trim_end(), &support::tokens::claims("demo-device", json!({})));
    assert_eq!(mqtt::connect_with_password(b.port, "demo", Some("demo"), &t), Outcome::Connack(0), "{}", b.log());
    assert!(b.wait_log("u'demo-device'", Duration::from_secs(5)), "{}", b.log());
}

/// mosquitto on the example's own mosquitto.conf, its paths pointed at copies in a temp dir.
struct Mosquitto {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn dynamic_security_example_authorizes_by_the_token_subject() {
    let _one = ONE_BROKER.lock().unwrap_or_else(|e| e.into_inner());
    let ex = examples().join("dynamic-security");
    let dir = tempfile::tempdir().unwrap();
    let (jwt, dynsec) = (dir.path().join("jwt.json"), dir.path().join("dynamic-security.json"));
    std::fs::copy(ex.join("jwt.json"), &jwt).unwrap();
    std::fs::copy(ex.join("dynamic-security.json"), &dynsec).unwrap();
    let port = free_port();
    let conf = std::fs::read_to_string(ex.join("mosquitto.conf"))
        .unwrap()
        .replace("listener 1883", &format!("user root\nlog_dest stderr\nlog_type all\nlistener {port} 127.0.0.1"))
        .replace("/usr/lib/libmqtt_jwt_auth.so", &plugin_path().display().to_string())
        .replace("/etc/mosquitto/jwt.json", &jwt.display().to_string())
        .replace("/var/lib/mosquitto/dynamic-security.json", &dynsec.display().to_string())
        .replace("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so", &dynsec_plugin().display().to_string());
    std::fs::write(dir.path().join("mosquitto.conf"), conf).unwrap();
    let secret = "example-secret-0123456789abcdef-0";
    let child = Command::new(mosquitto_bin())
        .arg("-c")
        .arg(dir.path().join("mosquitto.conf"))
        .env("MQTT_JWT_SECRET", secret)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mosquitto");
    let mut m = Mosquitto { child, port, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", m.port)).is_err() {
        if Instant::now() > deadline || matches!(m.child.try_wait(), Ok(Some(_))) {
            let mut log = String::new();
            let _ = m.child.kill();
            let _ = m.child.stderr.take().unwrap().read_to_string(&mut log);
            panic!("mosquitto did not start:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = support::tokens::hs256(secret, &support::tokens::claims("sensor-1", json!({})));
    let c = Connect {
        version: 4,
        client_id: "s1",
        username: Some(b"anything"),
        password: Some(t.as_bytes()),
        keepalive: 30,
    };
    let (s, out) = mqtt::connect(m.port, &c);
    assert_eq!(out, Outcome::Connack(0));
    let mut s = s.unwrap();
    // dynsec grants sensor-1 (the token's subject, now the username) its own topics only.
    assert_eq!(mqtt::subscribe(&mut s, false, "sensors/sensor-1/#"), 0);
    assert_eq!(mqtt::subscribe(&mut s, false, "sensors/sensor-2/#"), 0x80);
    mqtt::disconnect(s);
    // A token for a subject dynsec does not know authenticates, but may do nothing.
    let other = support::tokens::hs256(secret, &support::tokens::claims("stranger", json!({})));
    let c =
        Connect { version: 4, client_id: "s2", password: Some(other.as_bytes()), keepalive: 30, ..Default::default() };
    let (s, out) = mqtt::connect(m.port, &c);
    assert_eq!(out, Outcome::Connack(0));
    // The example's dynsec admin (a password, passed on by nonJwtCredentials "defer") administers dynsec.
    let ctrl = Command::new("mosquitto_ctrl")
        .args(["-h", "127.0.0.1", "-p", &m.port.to_string(), "-u", "admin", "-P", "change-me-now"])
        .args(["dynsec", "listClients"])
        .output()
        .expect("mosquitto_ctrl");
    let listed = String::from_utf8_lossy(&ctrl.stdout);
    assert!(ctrl.status.success() && listed.contains("sensor-1"), "{listed}{}", String::from_utf8_lossy(&ctrl.stderr));
    assert_eq!(mqtt::subscribe(&mut s.unwrap(), false, "sensors/sensor-1/#"), 0x80);
}
