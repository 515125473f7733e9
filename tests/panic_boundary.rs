//! No panic crosses the C boundary in ACL_CHECK either: a panic forced inside the check (debug
//! builds: plugin_opt_test_panic_topic) denies that one request with a log line, and the broker and
//! the client's other requests carry on. (BASIC_AUTH: tests/broker_auth.rs.)
mod support;

use mqtt_jwt_auth::alg::Alg;
use serde_json::json;
use std::time::Duration;
use support::broker::{Broker, Options};
use support::mqtt::{self, ConnectV5, Outcome};
use support::tokens::{self, token};

const NOT_AUTHORIZED: u8 = 0x87;

#[test]
fn a_panic_inside_an_acl_check_denies_and_the_broker_lives() {
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
                     "options": {"modes": {"local": tokens::HS_SECRET},
                                 "authorization": {"rules": [{"permission": "allow", "action": "all", "topic": "#"}]}}});
    let opts = Options { extra_conf: "plugin_opt_test_panic_topic boom/x\n".into(), ..Default::default() };
    let mut b = Broker::start_with(&cfg.to_string(), opts).expect("broker");
    let t = token(Alg::HS256, "d", json!({}));
    let c = ConnectV5 { client_id: "p", password: Some(t.as_bytes()), ..Default::default() };
    let (s, out) = mqtt::connect_v5(b.port, &c);
    assert_eq!(out, Outcome::Connack(0), "{}", b.log());
    let mut s = s.unwrap();
    for _ in 0..3 {
        assert_eq!(mqtt::publish_qos1(&mut s, true, "boom/x", b"1"), Some(NOT_AUTHORIZED), "{}", b.log());
    }
    assert_eq!(mqtt::subscribe(&mut s, true, "boom/x"), NOT_AUTHORIZED);
    assert!(
        b.wait_log("jwt-auth: internal error in acl check: fault injection", Duration::from_secs(3)),
        "{}",
        b.log()
    );
    // The same client's other requests, and other clients, are served as before.
    assert_eq!(mqtt::publish_qos1(&mut s, true, "fine/x", b"1"), Some(0));
    assert!(mqtt::ping(&mut s));
    let c2 = ConnectV5 { client_id: "q", password: Some(t.as_bytes()), ..Default::default() };
    assert_eq!(mqtt::connect_v5(b.port, &c2).1, Outcome::Connack(0));
    assert!(b.is_alive(), "{}", b.log());
}
