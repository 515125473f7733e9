//! What differs between the mosquitto versions the test matrix runs (ci/test.sh: 2.0.11, 2.0.21,
//! 2.1.2): each test passes on every one of them, and failed on 2.1.2 before the plugin handled it
//! (SIGHUP, TICK's next_ms, CLIENT_OFFLINE, `$CONTROL` topics registered broker-wide).
mod support;

use mqtt_jwt_auth::alg::Alg;
use serde_json::{json, Value};
use std::net::TcpStream;
use std::time::Duration;
use support::broker::{free_port, plugin_path, Broker, Options};
use support::mqtt::{self, ConnectV5, Outcome};
use support::tokens::{self, token, HS_SECRET};

fn config() -> String {
    json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": HS_SECRET}, "common": {"matchUsernameToSubject": true}}})
    .to_string()
}

fn now_f() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

fn expiring(sub: &str, secs: i64) -> (String, i64) {
    let exp = tokens::now() + secs;
    (token(Alg::HS256, sub, json!({"exp": exp})), exp)
}

fn connect_on(port: u16, b: &Broker, c: &ConnectV5) -> TcpStream {
    let (s, out) = mqtt::connect_v5(port, c);
    assert_eq!(out, Outcome::Connack(0), "{}", b.log());
    s.unwrap()
}

#[test]
fn sighup_keeps_the_broker_and_its_clients() {
    let mut b = Broker::start(&config());
    let t = token(Alg::HS256, "dev-h", json!({}));
    let mut s =
        connect_on(b.port, &b, &ConnectV5 { client_id: "dev-h", password: Some(t.as_bytes()), ..Default::default() });
    b.signal("HUP");
    assert!(b.wait_log("jwt-auth: reloaded", Duration::from_secs(3)), "{}", b.log());
    std::thread::sleep(Duration::from_millis(500));
    assert!(b.is_alive(), "the reload stopped mosquitto:\n{}", b.log());
    assert!(mqtt::ping(&mut s), "the client was dropped:\n{}", b.log());
    let t2 = token(Alg::HS256, "dev-h2", json!({}));
    assert_eq!(mqtt::connect_with_password(b.port, "dev-h2", None, &t2), Outcome::Connack(0));
    // And a second reload, as operators do.
    b.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert!(b.is_alive(), "{}", b.log());
}

#[test]
fn expiry_kicks_land_on_time_on_an_idle_broker() {
    // Nothing else wakes the broker loop here (no traffic, keepalive 60 s, no $SYS updates): on 2.1
    // only TICK's answer does. The bound leaves room for a loaded CI machine; a missed wake-up is
    // seconds late or never.
    let opts = Options { top_conf: "sys_interval 0\n".into(), ..Default::default() };
    let b = Broker::start_with(&config(), opts).unwrap_or_else(|log| panic!("mosquitto did not start:\n{log}"));
    for (id, secs) in [("late-1", 2), ("late-2", 3)] {
        let (t, exp) = expiring(id, secs);
        let c = ConnectV5 { client_id: id, password: Some(t.as_bytes()), keepalive: 60, ..Default::default() };
        let mut s = connect_on(b.port, &b, &c);
        assert!(mqtt::wait_closed(&mut s, Duration::from_secs(secs as u64 + 5)).is_some(), "{id} not kicked");
        let late = now_f() - exp as f64;
        eprintln!("{id}: kicked {late:.3} s after exp");
        assert!((-0.05..0.5).contains(&late), "{id} kicked {late:.3} s after exp:\n{}", b.log());
    }
}

#[test]
fn persistent_sessions_end_when_their_clients_go_offline() {
    let b = Broker::start(&config());
    let (t3, _) = expiring("keep-3", 3);
    let (t5, _) = expiring("keep-5", 3);
    let v311 = ConnectV5 {
        version: 4,
        client_id: "keep-3",
        password: Some(t3.as_bytes()),
        keep_session: true,
        ..Default::default()
    };
    let v5 = ConnectV5 {
        client_id: "keep-5",
        password: Some(t5.as_bytes()),
        session_expiry: Some(600),
        ..Default::default()
    };
    let (s3, s5) = (connect_on(b.port, &b, &v311), connect_on(b.port, &b, &v5));
    assert!(b.wait_log("jwt-auth: 2 live session(s)", Duration::from_secs(3)), "{}", b.log());
    mqtt::disconnect(s3);
    mqtt::disconnect(s5);
    assert!(b.wait_log("jwt-auth: 0 live session(s)", Duration::from_secs(3)), "sessions left:\n{}", b.log());
    // Past their tokens' exp, nobody is "kicked": they are gone.
    std::thread::sleep(Duration::from_secs(4));
    assert!(!b.log().contains("disconnecting client keep-"), "{}", b.log());
    // Back with a fresh token: a new session, kept apart from the old one.
    let t = token(Alg::HS256, "keep-3", json!({}));
    let mut s = connect_on(b.port, &b, &ConnectV5 { password: Some(t.as_bytes()), ..v311 });
    assert!(mqtt::ping(&mut s));
    assert!(b.wait_log("jwt-auth: 1 live session(s)", Duration::from_secs(3)), "{}", b.log());
}

/// `per_listener_settings true` with the plugin on two listeners: two instances of the plugin.
fn two_listeners() -> (Broker, u16, tempfile::TempDir) {
    let second = free_port();
    let dir = tempfile::tempdir().unwrap();
    let jwt = dir.path().join("jwt.json");
    std::fs::write(&jwt, config()).unwrap();
    let extra = format!(
        "listener {second} 127.0.0.1\nallow_anonymous false\nplugin {}\nplugin_opt_config_file {}\n",
        plugin_path().display(),
        jwt.display()
    );
    let opts = Options { top_conf: "per_listener_settings true\n".into(), extra_conf: extra, ..Default::default() };
    let b = Broker::start_with(&config(), opts).unwrap_or_else(|log| panic!("mosquitto did not start:\n{log}"));
    assert!(TcpStream::connect(("127.0.0.1", second)).is_ok(), "second listener:\n{}", b.log());
    (b, second, dir)
}

#[test]
fn two_instances_start_and_each_refreshes_its_own_clients() {
    let (b, second, _dir) = two_listeners();
    for (i, port) in [b.port, second].into_iter().enumerate() {
        let id = format!("pl-{i}");
        assert_eq!(mqtt::connect_with_password(port, &id, None, "x.y.z"), Outcome::Connack(5), "{}", b.log());
        let (t1, _) = expiring(&id, 60);
        let c = ConnectV5 { version: 4, client_id: &id, password: Some(t1.as_bytes()), ..Default::default() };
        let mut s = connect_on(port, &b, &c);
        // In-band refresh over the control topic reaches the instance that holds this session.
        let (t2, exp2) = expiring(&id, 120);
        mqtt::publish(&mut s, false, "$CONTROL/jwt-auth/v1", t2.as_bytes()).unwrap();
        let got = mqtt::next_publish(&mut s, false, Duration::from_secs(3));
        let Some((topic, payload)) = got else { panic!("no answer on listener {i}:\n{}", b.log()) };
        assert_eq!(topic, "$CONTROL/jwt-auth/v1/response");
        let answer: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(answer["result"], "ok", "listener {i}: {answer}\n{}", b.log());
        assert_eq!(answer["exp"].as_f64(), Some(exp2 as f64));
    }
}

#[test]
fn a_control_topic_another_plugin_holds_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let dynsec = dir.path().join("dynamic-security.json");
    std::fs::write(&dynsec, json!({"clients": [], "roles": [], "groups": []}).to_string()).unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // dynamic-security first: it holds $CONTROL/dynamic-security/v1.
    let pre =
        format!("plugin {}\nplugin_opt_config_file {}\n", support::broker::dynsec_plugin().display(), dynsec.display());
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": HS_SECRET}, "refresh": {"controlTopic": "$CONTROL/dynamic-security/v1"}}});
    let opts = Options { pre_conf: pre, ..Default::default() };
    let Err(log) = Broker::start_with(&cfg.to_string(), opts) else { panic!("started with a taken control topic") };
    assert!(log.contains("control topic $CONTROL/dynamic-security/v1 is registered by another plugin"), "{log}");
    assert!(log.contains("options.refresh.controlTopic"), "{log}");
}
