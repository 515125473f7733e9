//! Each rule of OIDC Back-Channel Logout §2.6, one refusal per test, through the loaded configuration's key ring.
use super::*;
use crate::config::Config;
use crate::loaded::Loaded;
use serde_json::{json, Value};

const SECRET: &str = "logout-unit-test-secret-0123456789-abcdef";
const NOW: f64 = 1_800_000_000.0;
const ISS: &str = "https://idp.example";

fn loaded() -> Loaded {
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {
        "modes": {"local": SECRET},
        "common": {"issuer": ISS, "audience": "mqtt"},
        "logout": {"audience": "mqtt-relay", "maxAgeSeconds": 300}}});
    Loaded::new(Config::parse(&cfg.to_string()).unwrap()).unwrap().0
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": "mqtt-relay", "iat": NOW as i64 - 5, "exp": NOW as i64 + 115, "jti": "j-1",
        "sub": "alice", "events": {BACKCHANNEL_EVENT: {}}})
}

/// HS256 with `secret`, under `header` as given.
fn sign_with(header: Value, claims: &Value, secret: &str) -> String {
    let signer = crate::keys::Signer::new(crate::alg::Alg::HS256, secret.as_bytes()).unwrap();
    crate::keys::encode_jws_with_header(&signer, &header, claims).unwrap()
}

fn logout_header() -> Value {
    json!({"typ": "logout+jwt", "alg": "HS256"})
}

fn sign(claims: &Value) -> String {
    sign_with(logout_header(), claims, SECRET)
}

fn refusal(token: &str) -> Refused {
    loaded().verify_logout(token, NOW).expect_err("must be refused")
}

fn with(key: &str, v: Value) -> Value {
    let mut c = claims();
    c[key] = v;
    c
}

fn without(key: &str) -> Value {
    let mut c = claims();
    c.as_object_mut().unwrap().remove(key);
    c
}

#[test]
fn a_good_logout_token_verifies() {
    let l = loaded().verify_logout(&sign(&claims()), NOW).unwrap();
    assert_eq!((l.iss.as_str(), l.sub.as_deref(), l.sid.as_deref(), l.jti.as_str()), (ISS, Some("alice"), None, "j-1"));
    assert_eq!(l.iat, NOW - 5.0);
    // typ is optional, and its media-type form is the same type.
    let untyped = json!({"alg": "HS256"});
    assert!(loaded().verify_logout(&sign_with(untyped, &claims(), SECRET), NOW).is_ok());
    let media = json!({"typ": "application/logout+JWT", "alg": "HS256"});
    assert!(loaded().verify_logout(&sign_with(media, &claims(), SECRET), NOW).is_ok());
}

#[test]
fn forged_signature_is_refused() {
    let forged = sign_with(logout_header(), &claims(), "another-secret-of-the-same-length-0123456");
    assert_eq!(refusal(&forged).reason, Reason::BadSignature);
}

#[test]
fn wrong_audience_is_refused_even_the_access_token_audience() {
    assert_eq!(refusal(&sign(&with("aud", json!("other")))).reason, Reason::WrongAudience);
    assert_eq!(refusal(&sign(&with("aud", json!("mqtt")))).reason, Reason::WrongAudience);
    assert_eq!(refusal(&sign(&without("aud"))).reason, Reason::WrongAudience);
}

#[test]
fn wrong_or_missing_issuer_is_refused() {
    assert_eq!(refusal(&sign(&with("iss", json!("https://evil.example")))).reason, Reason::WrongIssuer);
    assert_eq!(refusal(&sign(&without("iss"))).reason, Reason::WrongIssuer);
}

#[test]
fn missing_or_wrong_events_are_refused() {
    assert_eq!(refusal(&sign(&without("events"))).reason, Reason::BadLogoutToken);
    assert_eq!(refusal(&sign(&with("events", json!({"http://other/event": {}})))).reason, Reason::BadLogoutToken);
    assert_eq!(refusal(&sign(&with("events", json!({BACKCHANNEL_EVENT: "yes"})))).reason, Reason::BadLogoutToken);
    assert_eq!(refusal(&sign(&with("events", json!([BACKCHANNEL_EVENT])))).reason, Reason::BadLogoutToken);
}

#[test]
fn stale_or_future_or_missing_iat_is_refused() {
    let r = refusal(&sign(&with("iat", json!(NOW as i64 - 301))));
    assert_eq!(r.reason, Reason::BadLogoutToken);
    assert!(r.detail.contains("maxAgeSeconds"), "{r}");
    assert!(loaded().verify_logout(&sign(&with("iat", json!(NOW as i64 - 300))), NOW).is_ok());
    assert_eq!(refusal(&sign(&with("iat", json!(NOW as i64 + 60)))).reason, Reason::IssuedInFuture);
    assert_eq!(refusal(&sign(&without("iat"))).reason, Reason::BadLogoutToken);
}

#[test]
fn passed_exp_is_refused_and_exp_is_optional() {
    assert_eq!(refusal(&sign(&with("exp", json!(NOW as i64)))).reason, Reason::Expired);
    assert!(loaded().verify_logout(&sign(&without("exp")), NOW).is_ok());
}

#[test]
fn nonce_present_is_refused() {
    let r = refusal(&sign(&with("nonce", json!("n-0S6_WzA2Mj"))));
    assert_eq!(r.reason, Reason::BadLogoutToken);
    assert!(r.detail.contains("nonce"), "{r}");
}

#[test]
fn neither_sub_nor_sid_is_refused_and_sid_alone_is_enough() {
    assert_eq!(refusal(&sign(&without("sub"))).reason, Reason::BadLogoutToken);
    let sid_only = {
        let mut c = without("sub");
        c["sid"] = json!("s-42");
        c
    };
    let l = loaded().verify_logout(&sign(&sid_only), NOW).unwrap();
    assert_eq!((l.sub, l.sid.as_deref()), (None, Some("s-42")));
    assert_eq!(refusal(&sign(&with("sid", json!("")))).reason, Reason::BadLogoutToken);
}

#[test]
fn wrong_typ_is_refused() {
    // An access or ID token must never pass as a logout token by its claims alone.
    for typ in ["JWT", "at+jwt", "logout"] {
        let h = json!({"typ": typ, "alg": "HS256"});
        assert_eq!(refusal(&sign_with(h, &claims(), SECRET)).reason, Reason::BadLogoutToken, "{typ}");
    }
}

#[test]
fn missing_jti_is_refused() {
    assert_eq!(refusal(&sign(&without("jti"))).reason, Reason::BadLogoutToken);
    assert_eq!(refusal(&sign(&with("jti", json!(7)))).reason, Reason::BadLogoutToken);
}

#[test]
fn algorithm_outside_the_allow_list_is_refused() {
    // Signed HS256: the algorithm is refused before any key is looked at.
    let h = json!({"typ": "logout+jwt", "alg": "HS384"});
    assert_eq!(refusal(&sign_with(h, &claims(), SECRET)).reason, Reason::AlgorithmNotAllowed);
}

#[test]
fn replayed_jti_is_seen_and_forgotten_after_max_age() {
    let l = loaded().verify_logout(&sign(&claims()), NOW).unwrap();
    let mut m = Memory::default();
    let until = l.iat + 300.0;
    assert_eq!(m.first_use(&l, until, NOW), (true, 0));
    assert_eq!(m.first_use(&l, until, NOW + 1.0), (false, 0));
    // Another issuer's jti of the same value is another token.
    let other = Logout { iss: "https://other".into(), ..l.clone() };
    assert!(m.first_use(&other, until, NOW).0);
    // Past maxAgeSeconds the token no longer verifies, so its jti need not be kept.
    assert!(m.first_use(&l, until, until + 0.1).0);
}

fn lo(sub: Option<&str>, sid: Option<&str>, iat: f64) -> Logout {
    Logout { iss: ISS.into(), sub: sub.map(Into::into), sid: sid.map(Into::into), iat, jti: format!("{iat}") }
}

#[test]
fn covers_by_subject_session_and_time() {
    let by_sub = lo(Some("alice"), None, NOW);
    assert!(by_sub.covers(Some(ISS), Some("alice"), None, Some(NOW - 10.0)));
    assert!(by_sub.covers(Some(ISS), Some("alice"), Some("any-sid"), Some(NOW)), "issued at the logout's iat");
    assert!(!by_sub.covers(Some(ISS), Some("alice"), None, Some(NOW + 1.0)), "a later login");
    assert!(!by_sub.covers(Some(ISS), Some("bob"), None, Some(NOW - 10.0)));
    assert!(!by_sub.covers(Some("https://other"), Some("alice"), None, Some(NOW - 10.0)), "another issuer");
    assert!(by_sub.covers(Some(ISS), Some("alice"), None, None), "no iat: cannot be placed in time");
    let by_sid = lo(None, Some("s1"), NOW);
    assert!(by_sid.covers(Some(ISS), Some("alice"), Some("s1"), Some(NOW - 1.0)));
    assert!(!by_sid.covers(Some(ISS), Some("alice"), Some("s2"), Some(NOW - 1.0)));
    assert!(!by_sid.covers(Some(ISS), Some("alice"), None, Some(NOW - 1.0)));
    let both = lo(Some("alice"), Some("s1"), NOW);
    assert!(both.covers(Some(ISS), Some("alice"), Some("s1"), Some(NOW - 1.0)));
    assert!(!both.covers(Some(ISS), Some("alice"), Some("s2"), Some(NOW - 1.0)), "alice's other session");
    assert!(both.covers(Some(ISS), Some("alice"), None, Some(NOW - 1.0)), "a token without sid");
}

#[test]
fn remembered_logouts_refuse_older_tokens_until_they_expire() {
    let mut m = Memory::default();
    assert_eq!(m.remember(&lo(Some("alice"), None, NOW), NOW + 100.0, NOW), 0);
    assert!(m.refusing(Some(ISS), Some("alice"), None, Some(NOW - 1.0), NOW + 1.0).is_some());
    assert!(m.refusing(Some(ISS), Some("alice"), None, Some(NOW + 1.0), NOW + 1.0).is_none());
    assert!(m.refusing(Some(ISS), Some("bob"), None, Some(NOW - 1.0), NOW + 1.0).is_none());
    assert!(m.refusing(Some(ISS), Some("alice"), None, Some(NOW - 1.0), NOW + 100.0).is_none(), "forgotten");
    // A logout that arrives late does not narrow a later one.
    m.remember(&lo(None, Some("s1"), NOW + 50.0), NOW + 200.0, NOW + 101.0);
    m.remember(&lo(None, Some("s1"), NOW + 10.0), NOW + 200.0, NOW + 102.0);
    assert!(m.refusing(Some(ISS), Some("x"), Some("s1"), Some(NOW + 40.0), NOW + 103.0).is_some());
    // sub + sid: the sub's tokens without a sid are refused, those of its other sessions are not.
    m.remember(&lo(Some("carol"), Some("s9"), NOW + 60.0), NOW + 200.0, NOW + 104.0);
    assert!(m.refusing(Some(ISS), Some("carol"), None, Some(NOW), NOW + 105.0).is_some());
    assert!(m.refusing(Some(ISS), Some("carol"), Some("s8"), Some(NOW), NOW + 105.0).is_none());
    assert!(m.refusing(Some(ISS), Some("carol"), Some("s9"), Some(NOW), NOW + 105.0).is_some());
}

#[test]
fn memory_is_bounded_and_says_when_the_cap_pushes_entries_out() {
    let mut m = Memory::with_caps(3, 3);
    for i in 0..3 {
        assert_eq!(m.remember(&lo(Some(&format!("u{i}")), None, NOW), NOW + 100.0, NOW), 0);
    }
    assert_eq!(m.remember(&lo(Some("u3"), None, NOW), NOW + 100.0, NOW), 1);
    assert_eq!(m.remembered(), 3);
    assert!(m.refusing(Some(ISS), Some("u0"), None, Some(NOW - 1.0), NOW).is_none(), "the oldest went first");
    assert!(m.refusing(Some(ISS), Some("u3"), None, Some(NOW - 1.0), NOW).is_some());
    // Expired entries make room without counting as evictions.
    assert_eq!(m.remember(&lo(Some("u4"), None, NOW), NOW + 300.0, NOW + 100.0), 0);
    let mut e: Expiring<u32, ()> = Expiring::new(2);
    for i in 0..1000 {
        e.insert(i % 2, (), NOW + i as f64, NOW);
    }
    assert!(e.order.len() <= 2 * e.len() + 64, "re-inserted keys leave no pile of stale items");
}
