//! The lifecycle of src/session.rs: every transition, and a random walk over event interleavings
//! that checks the invariants after each step.
use super::*;

fn s(id: &str, exp: Option<f64>) -> Session {
    let t = Token {
        sub: Some("sub".into()),
        iss: None,
        exp: exp.into(),
        nbf: crate::token::Time::NONE,
        iat: crate::token::Time::NONE,
        claims: Default::default(),
    };
    Session::new(id.into(), Arc::new(t), None, Some("t".into()))
}

const KICK: Deadlines = Deadlines { kick: true, leeway: 0.0, notice_before: None };

#[test]
fn expiry_is_due_once_and_closed_sessions_are_skipped() {
    let mut ss = Sessions::default();
    ss.open(ClientKey::test(1), s("a", Some(100.0)), KICK, 0.0);
    ss.open(ClientKey::test(2), s("b", Some(100.0)), KICK, 0.0);
    ss.open(ClientKey::test(3), s("c", None), KICK, 0.0);
    assert!(ss.due(99.9, 10, None).is_empty());
    ss.disconnected(ClientKey::test(2), true, 50.0);
    let due = ss.due(100.0, 10, None);
    assert_eq!(due, vec![Due { kind: EventKind::Expiry, client: ClientKey::test(1), client_id: "a".into() }]);
    assert!(ss.due(200.0, 10, None).is_empty());
    assert_eq!(ss.drop_gone(None), 1);
    assert_eq!(ss.len(), 2);
}

#[test]
fn the_deadline_is_exp_plus_leeway_for_the_kick_and_the_acl() {
    let mut ss = Sessions::default();
    let d = Deadlines { kick: true, leeway: 5.0, notice_before: Some(10.0) };
    ss.open(ClientKey::test(1), s("a", Some(100.0)), d, 0.0);
    let got = ss.get(ClientKey::test(1)).unwrap();
    assert_eq!(got.deadline(), Some(105.0));
    assert_eq!(got.acl_gate(true, 104.9), Gate::Rules);
    assert_eq!(got.acl_gate(true, 105.0), Gate::Deny);
    // The notice is relative to exp (what the client sees), the kick to the deadline.
    assert_eq!(ss.due(90.0, 10, None)[0].kind, EventKind::Notice);
    assert!(ss.due(104.9, 10, None).is_empty());
    assert_eq!(ss.due(105.0, 10, None)[0].kind, EventKind::Expiry);
}

#[test]
fn without_kicks_there_is_no_deadline() {
    let mut ss = Sessions::default();
    ss.open(ClientKey::test(1), s("a", Some(100.0)), Deadlines { kick: false, leeway: 0.0, notice_before: None }, 0.0);
    assert_eq!(ss.get(ClientKey::test(1)).unwrap().acl_gate(false, 1e9), Gate::Rules);
    assert!(ss.due(1e9, 10, None).is_empty());
}

#[test]
fn a_refresh_replaces_the_schedule() {
    let mut ss = Sessions::default();
    let d = Deadlines { kick: true, leeway: 0.0, notice_before: Some(10.0) };
    ss.open(ClientKey::test(1), s("a", Some(100.0)), d, 0.0);
    ss.open(ClientKey::test(1), s("a", Some(500.0)), d, 1.0);
    assert!(ss.due(200.0, 10, None).is_empty(), "the old token's events are stale");
    let due = ss.due(495.0, 10, None);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].kind, EventKind::Notice);
    assert_eq!(ss.due(500.0, 10, None)[0].kind, EventKind::Expiry);
}

#[test]
fn the_busy_client_is_not_kicked_from_its_own_callback() {
    let mut ss = Sessions::default();
    ss.open(ClientKey::test(1), s("a", Some(100.0)), KICK, 0.0);
    assert!(ss.due(100.0, 10, Some(ClientKey::test(1))).is_empty());
    assert_eq!(ss.due(100.0, 10, None).len(), 1);
}

#[test]
fn limit_bounds_the_work_per_call() {
    let mut ss = Sessions::default();
    for i in 0..10 {
        ss.open(ClientKey::test(i), s(&format!("c{i}"), Some(100.0)), KICK, 0.0);
    }
    assert_eq!(ss.due(100.0, 4, None).len(), 4);
    assert_eq!(ss.due(100.0, 100, None).len(), 6);
}

#[test]
fn a_takeover_leaves_the_old_session_for_its_will_check_and_never_kicks_it() {
    let mut ss = Sessions::default();
    ss.open(ClientKey::test(1), s("a", Some(100.0)), KICK, 0.0);
    ss.open(ClientKey::test(2), s("a", Some(100.0)), KICK, 10.0);
    let old = ss.get(ClientKey::test(1)).unwrap();
    assert_eq!(old.phase(), Phase::Gone { will: true });
    assert_eq!(old.acl_gate(true, 10.0), Gate::Rules, "mosquitto checks the old will after the new CONNECT");
    assert_eq!(old.acl_gate(false, 10.0), Gate::Deny);
    assert_eq!(ss.holder_of("a").map(|(c, _)| c), Some(ClientKey::test(2)));
    ss.disconnected(ClientKey::test(1), true, 10.0);
    assert_eq!(
        ss.holder_of("a").map(|(c, _)| c),
        Some(ClientKey::test(2)),
        "the old DISCONNECT frees nothing of the new"
    );
    let due = ss.due(100.0, 10, None);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].client, ClientKey::test(2));
    ss.drop_gone(None);
    assert_eq!(ss.len(), 1);
}

#[test]
fn will_checks_after_disconnect_follow_how_the_session_ended() {
    let cases: [(&str, Option<End>, f64, bool, bool); 7] = [
        ("dropped while valid", None, 50.0, false, true),
        ("dropped after exp, wills on kicks", None, 150.0, true, true),
        ("dropped after exp, no wills on kicks", None, 150.0, false, false),
        ("expiry kick with will", Some(End::Expired), 100.0, true, true),
        ("expiry kick without will", Some(End::Expired), 100.0, false, false),
        ("refused refresh, old token valid", Some(End::RefreshRefused(Reason::BadSignature)), 50.0, true, true),
        ("revoked", Some(End::Revoked), 50.0, true, false),
    ];
    for (what, end, at, with_will, will) in cases {
        let mut ss = Sessions::default();
        ss.open(ClientKey::test(1), s("a", Some(100.0)), KICK, 0.0);
        if let Some(why) = end {
            assert!(ss.end(ClientKey::test(1), why, at, at, false));
            assert_eq!(ss.get(ClientKey::test(1)).unwrap().acl_gate(true, at), Gate::Deny, "{what}: ending denies");
        }
        ss.disconnected(ClientKey::test(1), with_will, at);
        let gate = ss.get(ClientKey::test(1)).unwrap().acl_gate(true, at);
        assert_eq!(gate == Gate::Rules, will, "{what}");
        ss.drop_gone(None);
        assert!(ss.is_empty(), "{what}: dropped on the next tick");
    }
}

#[test]
fn an_ending_session_keeps_its_first_reason_and_only_its_kick() {
    let mut ss = Sessions::default();
    ss.open(ClientKey::test(1), s("a", Some(100.0)), KICK, 0.0);
    assert!(ss.end(ClientKey::test(1), End::RefreshRefused(Reason::BadSignature), 10.0, 10.3, true));
    assert!(!ss.end(ClientKey::test(1), End::Revoked, 10.1, 10.1, true));
    let kinds: Vec<_> = ss.due(200.0, 10, None).into_iter().map(|d| d.kind).collect();
    assert_eq!(kinds, vec![EventKind::Invalid, EventKind::Kick], "no expiry after the kick was decided");
    assert_eq!(ss.get(ClientKey::test(1)).unwrap().phase(), Phase::Ending(End::RefreshRefused(Reason::BadSignature)));
}

#[test]
fn refresh_floods_and_churn_keep_the_schedule_bounded() {
    let mut ss = Sessions::default();
    let d = Deadlines { kick: true, leeway: 0.0, notice_before: Some(10.0) };
    for i in 0..200_000u32 {
        ss.open(ClientKey::test(1), s("a", Some(1e9 + i as f64)), d, i as f64);
    }
    assert!(ss.scheduled() <= 64 + 4 + 2, "{} entries for one session", ss.scheduled());
    for i in 0..10_000 {
        ss.open(ClientKey::test(i + 2), s(&format!("c{i}"), Some(1e9)), d, 0.0);
        ss.disconnected(ClientKey::test(i + 2), true, 0.0);
        ss.drop_gone(None);
    }
    assert_eq!(ss.len(), 1);
    assert!(ss.scheduled() <= 64 + 4 + 2, "{} entries after churn", ss.scheduled());
}

/// xorshift: the random walk below is reproducible from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random interleavings of CONNECT (with takeovers: four connections share three ids), refresh,
/// ending, ticks (due events), DISCONNECT and the will check after it, and clock jumps. After each
/// step: nothing is allowed past the deadline or once ending; a gone session allows only its will;
/// kicks only hit ending sessions; and the count returns to zero once everyone has left.
#[test]
fn random_interleavings_keep_the_invariants() {
    for seed in 1..=300u64 {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut ss = Sessions::default();
        let mut now = 1000.0;
        let d = Deadlines { kick: true, leeway: 2.0, notice_before: Some(5.0) };
        for _ in 0..400 {
            let c = ClientKey::test(1 + r.below(4) as usize);
            let id = format!("id{}", r.below(3));
            match r.below(8) {
                0 => ss.open(c, s(&id, Some(now + r.below(30) as f64)), d, now),
                1 => {
                    // A refresh: only a live session may be replaced, under its own id.
                    if let Some(cur) = ss.get(c).filter(|x| x.is_live()).cloned() {
                        ss.open(c, s(&cur.client_id, Some(now + r.below(30) as f64)), d, now);
                    }
                }
                2 => {
                    let why =
                        [End::Revoked, End::Unchecked, End::RefreshRefused(Reason::Malformed)][r.below(3) as usize];
                    ss.end(c, why, now, now + 0.3, true);
                }
                3 | 4 => {
                    ss.drop_gone(None);
                    for due in ss.due(now, 100, None) {
                        let s = ss.get(due.client).expect("due for a known session");
                        match due.kind {
                            EventKind::Kick | EventKind::Invalid => assert!(matches!(s.phase(), Phase::Ending(_))),
                            EventKind::Expiry => {
                                assert!(s.is_live() && s.past_deadline(now));
                                ss.expire(due.client);
                            }
                            EventKind::Notice => assert!(s.is_live()),
                        }
                        if matches!(due.kind, EventKind::Kick | EventKind::Expiry) {
                            // mosquitto: DISCONNECT, then the will check.
                            ss.disconnected(due.client, r.below(2) == 0, now);
                        }
                    }
                }
                5 => ss.disconnected(c, r.below(2) == 0, now),
                6 => now += r.below(4000) as f64 / 1000.0,
                _ => now += r.below(20) as f64,
            }
            for k in 1..=4 {
                let Some(x) = ss.get(ClientKey::test(k)) else { continue };
                let allowed = x.acl_gate(false, now) == Gate::Rules;
                assert!(!allowed || (x.is_live() && !x.past_deadline(now)), "seed {seed}: {x:?} at {now}");
                if let Some((holder, h)) = ss.holder_of(&x.client_id) {
                    assert!(!matches!(h.phase(), Phase::Gone { .. }), "seed {seed}: a gone session holds an id");
                    assert_eq!(h.client_id, x.client_id);
                    let _ = holder;
                }
            }
        }
        for k in 1..=4 {
            ss.disconnected(ClientKey::test(k), true, now);
        }
        ss.drop_gone(None);
        assert!(ss.is_empty(), "seed {seed}: {} sessions left", ss.len());
    }
}

#[test]
fn schedule_entries_keep_due_time_kind_and_their_order() {
    use super::{EventKind, Scheduled};
    let c = ClientKey::test(8);
    for (i, k) in EventKind::ALL.into_iter().enumerate() {
        assert_eq!(k as usize, i, "ALL is in discriminant order");
        let e = Scheduled::new(1_800_000_000_123, k, c, 7).0;
        assert_eq!((e.due_ms(), e.kind(), e.1, e.2), (1_800_000_000_123, k, c, 7));
    }
    // Sooner first; at the same millisecond, in the order of the kinds (an invalidity notice before
    // its kick).
    assert!(Scheduled::new(5, EventKind::Expiry, c, 1).0 < Scheduled::new(6, EventKind::Invalid, c, 1).0);
    assert!(Scheduled::new(5, EventKind::Invalid, c, 9).0 < Scheduled::new(5, EventKind::Kick, c, 1).0);
    assert_eq!(Scheduled::new(u64::MAX, EventKind::Kick, c, 1).0.due_ms(), u64::MAX >> 2, "saturates");
}

#[test]
fn what_every_session_holds_stays_small() {
    use std::mem::size_of;
    // One of each per device: a Box<Session> of 88 bytes takes a 96-byte heap block, an Arc<Token>
    // of 72 (+16) too; the next sizes up take 112 and 128.
    assert!(size_of::<Session>() <= 88, "Session: {} bytes", size_of::<Session>());
    assert!(size_of::<Token>() <= 72, "Token: {} bytes", size_of::<Token>());
    assert_eq!(size_of::<super::Scheduled>(), 24);
}
