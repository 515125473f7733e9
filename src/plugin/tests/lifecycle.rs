//! The handlers driven like mosquitto drives them, in random interleavings: CONNECT (good, bad and
//! other-identity tokens; takeovers of a client id), refresh over the control topic and by v5
//! re-authentication, TICK, the kicks it asks for (each followed, as in mosquitto, by DISCONNECT and
//! the will check), DISCONNECT of a dropped socket, SIGHUP reload with its re-check of every client,
//! and clock jumps. After each step the invariants of the lifecycle must hold.
use crate::acl::Access;
use crate::acl::Decision;
use crate::host::*;
use crate::plugin::fake::FakeBroker;
use crate::plugin::*;
use serde_json::json;
use std::collections::HashMap;

const SECRET: &str = "unit-test-secret-0123456789-abcdef";
const LEEWAY: f64 = 2.0;

fn plugin() -> (Plugin, FakeBroker, tempfile::TempDir) {
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {
        "modes": {"local": SECRET},
        "common": {"matchUsernameToClaim": "name", "leewaySeconds": LEEWAY as u64},
        "refresh": {"minIntervalMs": 500},
        "invalidNotice": {},
        "authorization": {"rules": [{"permission": "allow", "action": "all", "topic": "#"}]}}});
    fake::load(&cfg)
}

fn tok(sub: &str, name: &str, exp: f64) -> String {
    let claims = json!({"sub": sub, "name": name, "exp": exp as i64});
    crate::keys::hs256_token(SECRET, &claims)
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What mosquitto holds: connections by client pointer.
#[derive(Default)]
struct Model {
    /// pointer → (client id, token exp it connected or last refreshed with, bound name)
    conns: HashMap<usize, (String, f64, String)>,
    next_ptr: usize,
}

/// Runs the kicks the plugin asked for: each is DISCONNECT then the will check, as in mosquitto.
fn settle_kicks(p: &Plugin, b: &FakeBroker, m: &mut Model, now: f64) {
    let kicks: Vec<(String, bool)> = b.kicks.borrow_mut().drain(..).collect();
    for (id, _with_will) in kicks {
        let Some(ptr) = m.conns.iter().find(|(_, (cid, ..))| *cid == id).map(|(k, _)| *k) else { continue };
        m.conns.remove(&ptr);
        p.disconnect(b, ClientRef::from_host(ptr), now);
        let _ = p.acl_check(b, ClientRef::from_host(ptr), Access::Write, "wills/x", 0, false, now);
    }
}

#[test]
fn random_interleavings_keep_the_lifecycle_invariants() {
    for seed in 1..=60u64 {
        let mut r = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
        let (p, b, _d) = plugin();
        let mut m = Model { next_ptr: 1, ..Default::default() };
        let mut now = 1_800_000_000.0;
        for step in 0..250 {
            let ids = ["d0", "d1", "d2"];
            match r.below(10) {
                0 | 1 => {
                    // CONNECT: a new pointer, maybe an id already connected (takeover).
                    let id = ids[r.below(3) as usize];
                    let sub = if r.below(5) == 0 { "intruder" } else { id };
                    let exp = now + r.below(20) as f64 - 3.0;
                    let t = if r.below(6) == 0 { "garbage".to_string() } else { tok(sub, sub, exp) };
                    let ptr = m.next_ptr;
                    m.next_ptr += 1;
                    let c = b.client(ptr, id);
                    if p.basic_auth(&b, c, None, Some(t.as_bytes()), now) == AuthResult::Accept {
                        // mosquitto closes the old connection with this id: DISCONNECT, will check.
                        if let Some(old) = m.conns.iter().find(|(_, (cid, ..))| cid == id).map(|(k, _)| *k) {
                            m.conns.remove(&old);
                            let _ = p.acl_check(&b, ClientRef::from_host(old), Access::Write, "wills/x", 0, false, now);
                            p.disconnect(&b, ClientRef::from_host(old), now);
                        }
                        m.conns.insert(ptr, (id.to_string(), exp, sub.to_string()));
                    } else {
                        p.disconnect(&b, c, now);
                    }
                }
                2 | 3 => {
                    // A refresh of a connected client: good, another name, another subject, garbage.
                    let Some((&ptr, (id, ..))) = m.conns.iter().nth(r.below(m.conns.len().max(1) as u64) as usize)
                    else {
                        continue;
                    };
                    let id = id.clone();
                    let exp = now + 5.0 + r.below(30) as f64;
                    let t = match r.below(4) {
                        0 => tok(&id, "someone-else", exp),
                        1 => tok("intruder", "intruder", exp),
                        2 => "x.y.z".to_string(),
                        _ => tok(&id, &id, exp),
                    };
                    let before = p.sessions.borrow_mut().get(ClientRef::from_host(ptr).key()).map(|s| s.phase());
                    let ok = if r.below(2) == 0 {
                        p.control(&b, ClientRef::from_host(ptr), t.as_bytes(), now);
                        b.published.borrow().last().is_some_and(|(_, _, body)| {
                            body.starts_with(b"{\"exp\"") || String::from_utf8_lossy(body).contains("\"ok\"")
                        })
                    } else {
                        let ok = p.ext_auth_start(&b, ClientRef::from_host(ptr), Some("JWT"), t.as_bytes(), now)
                            == AuthResult::Accept;
                        if !ok {
                            // mosquitto closes a connection whose re-authentication failed.
                            m.conns.remove(&ptr);
                            p.disconnect(&b, ClientRef::from_host(ptr), now);
                        }
                        ok
                    };
                    if ok {
                        assert_eq!(
                            before,
                            Some(crate::session::Phase::Live),
                            "seed {seed} step {step}: a refresh revived {before:?}"
                        );
                        if let Some(c) = m.conns.get_mut(&ptr) {
                            c.1 = exp;
                        }
                    }
                }
                4 | 5 => {
                    p.tick(&b, now);
                    settle_kicks(&p, &b, &mut m, now);
                }
                6 => {
                    if let Some(&ptr) = m.conns.keys().nth(r.below(m.conns.len().max(1) as u64) as usize) {
                        m.conns.remove(&ptr);
                        p.disconnect(&b, ClientRef::from_host(ptr), now);
                        let _ = p.acl_check(&b, ClientRef::from_host(ptr), Access::Write, "wills/x", 0, false, now);
                    }
                }
                7 => {
                    // SIGHUP: RELOAD, then BASIC_AUTH again for every connected client.
                    p.reload(&b, now);
                    let ptrs: Vec<usize> = m.conns.keys().copied().collect();
                    for ptr in ptrs {
                        let c = ClientRef::from_host(ptr);
                        if p.basic_auth(&b, c, None, Some(b"connect-password"), now) != AuthResult::Accept {
                            m.conns.remove(&ptr);
                            p.disconnect(&b, c, now);
                        }
                    }
                    p.tick(&b, now);
                    settle_kicks(&p, &b, &mut m, now);
                }
                8 => now += r.below(3000) as f64 / 1000.0,
                _ => now += r.below(8) as f64,
            }
            // Invariants.
            let sessions = p.sessions.borrow_mut();
            for (&ptr, (id, ..)) in &m.conns {
                let c = ClientRef::from_host(ptr);
                let Some(s) = sessions.get(c.key()) else { continue };
                assert_eq!(&*s.client_id, id.as_str(), "seed {seed} step {step}");
                // The username mosquitto holds is the one bound to the token in force.
                let held = b.usernames.borrow().get(&c).cloned();
                assert_eq!(held.as_deref(), s.username.as_deref(), "seed {seed} step {step}: username drifted");
                assert_eq!(s.username.as_deref(), s.subject().map(|x| &**x), "seed {seed} step {step}");
            }
            drop(sessions);
            for (&ptr, (_, exp, _)) in &m.conns {
                let c = ClientRef::from_host(ptr);
                let allowed = p.acl_check(&b, c, Access::Write, "data/x", 0, false, now) == Decision::Allow;
                let s = p.sessions.borrow_mut().get(c.key()).cloned();
                if allowed {
                    // Against the model's own clock: the token in force, plus the leeway.
                    assert!(now < exp + LEEWAY, "seed {seed} step {step}: allowed past exp + leeway");
                    let s = s.expect("allowed without a session");
                    assert!(s.is_live() && !s.past_deadline(now), "seed {seed} step {step}: allowed {s:?} at {now}");
                }
            }
        }
        // Everyone leaves; after a tick nothing is left.
        let ptrs: Vec<usize> = m.conns.keys().copied().collect();
        for ptr in ptrs {
            p.disconnect(&b, ClientRef::from_host(ptr), now);
        }
        p.tick(&b, now + 0.1);
        let left = {
            let s = p.sessions.borrow_mut();
            s.len() + s.gone()
        };
        assert_eq!(left, 0, "seed {seed}: sessions left");
    }
}

#[test]
fn a_connected_client_is_never_kept_past_its_deadline() {
    let (p, b, _d) = plugin();
    let c = b.client(1, "d0");
    let t = tok("d0", "d0", 1_800_000_010.0);
    assert_eq!(p.basic_auth(&b, c, None, Some(t.as_bytes()), 1_800_000_000.0), AuthResult::Accept);
    p.tick(&b, 1_800_000_010.0 + LEEWAY - 0.01);
    assert!(b.kicks.borrow().is_empty(), "kicked before exp + leeway");
    p.tick(&b, 1_800_000_010.0 + LEEWAY);
    assert_eq!(b.kicks.borrow().len(), 1);
}
