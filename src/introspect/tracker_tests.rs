//! The tracker's schedule, budget and verdict rules, without a broker.
use super::*;

fn policy(deny: bool, keep: bool) -> Policy {
    Policy {
        deny_on_error: deny,
        keep_on_recheck_failure: keep,
        recheck: 10.0,
        retry: 2.0,
        cache_ttl: 60.0,
        cache_max: 100,
    }
}

fn tracked(id: &str, token: &str) -> Tracked {
    Tracked::new(id.into(), Arc::from(token), None, Some(1000.0), false)
}

fn answer(d: Digest, a: Answer) -> Done {
    Done { digest: d, exp: Some(1000.0), outcome: Outcome::Answer(a) }
}

fn due(t: &mut Tracker, now: f64) -> Vec<DueCheck> {
    t.due(now, 100, 100).checks
}

#[test]
fn one_job_per_token_and_inactive_ends_every_holder() {
    let mut t = Tracker::new(policy(true, true));
    t.track(ClientKey::test(1), tracked("a", "T"), 0.0);
    t.track(ClientKey::test(2), tracked("b", "T"), 0.0);
    t.track(ClientKey::test(3), tracked("c", "U"), 5.0);
    let due = due(&mut t, 1.0);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].priority, Priority::First);
    let actions = t.apply(&answer(due[0].digest, Ok(Verdict::Inactive)), 1.0);
    assert_eq!(actions.len(), 2);
    assert_eq!(t.tracked(), 1);
    assert_eq!(t.cached(&due[0].digest, 2.0), Some(Verdict::Inactive));
    // Until exp, and never beyond.
    assert_eq!(t.cached(&due[0].digest, 999.0), Some(Verdict::Inactive));
    assert_eq!(t.cached(&due[0].digest, 1000.0), None);
}

#[test]
fn an_answer_for_a_token_nobody_holds_any_more_is_kept_until_its_exp_only() {
    let mut t = Tracker::new(policy(true, true));
    t.track(ClientKey::test(1), tracked("a", "T"), 0.0);
    let d = due(&mut t, 0.0)[0].digest;
    t.untrack(ClientKey::test(1));
    t.apply(&answer(d, Ok(Verdict::Inactive)), 1.0);
    assert_eq!(t.cached(&d, 999.0), Some(Verdict::Inactive));
    t.expire(1000.0);
    assert_eq!(t.cached_entries(), 0);
}

#[test]
fn active_is_cached_for_the_ttl_and_rechecked_each_interval() {
    let mut t = Tracker::new(policy(true, true));
    t.track(ClientKey::test(1), tracked("a", "T"), 0.0);
    let d = due(&mut t, 0.0)[0].digest;
    assert!(t.apply(&answer(d, Ok(Verdict::Active)), 0.0).is_empty());
    assert_eq!(t.cached(&d, 59.0), Some(Verdict::Active));
    assert_eq!(t.cached(&d, 60.0), None);
    // Within the last tenth of the interval (jitter), as a re-check.
    assert!(due(&mut t, 8.99).is_empty());
    let again = due(&mut t, 10.0);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].priority, Priority::Recheck);
}

#[test]
fn failures_follow_the_policy() {
    let err = |d| answer(d, Err("down".into()));
    // First check, fail closed: ended.
    let mut t = Tracker::new(policy(true, true));
    t.track(ClientKey::test(1), tracked("a", "T"), 0.0);
    let d = due(&mut t, 0.0)[0].digest;
    assert_eq!(t.apply(&err(d), 0.0), vec![Action::Unchecked(ClientKey::test(1), "a".into())]);
    // First check, fail open: retried after the retry interval.
    let mut t = Tracker::new(policy(false, true));
    t.track(ClientKey::test(1), tracked("a", "T"), 0.0);
    due(&mut t, 0.0);
    assert!(t.apply(&err(d), 0.0).is_empty());
    assert!(due(&mut t, 1.9).is_empty());
    assert_eq!(due(&mut t, 2.0).len(), 1);
    // A re-check that fails keeps the verdict...
    let mut t = Tracker::new(policy(true, true));
    t.track(ClientKey::test(1), tracked("a", "T"), 0.0);
    t.apply(&answer(d, Ok(Verdict::Active)), 0.0);
    assert!(t.apply(&err(d), 10.0).is_empty());
    // ...unless configured not to.
    let mut t = Tracker::new(policy(true, false));
    t.track(ClientKey::test(1), tracked("a", "T"), 0.0);
    t.apply(&answer(d, Ok(Verdict::Active)), 0.0);
    assert_eq!(t.apply(&err(d), 10.0).len(), 1);
}

#[test]
fn rechecks_over_the_budget_wait_then_are_shed_but_first_checks_always_go() {
    let mut t = Tracker::new(policy(true, true));
    for i in 0..10 {
        t.track(ClientKey::test(i), tracked(&format!("c{i}"), &format!("T{i}")), 0.0);
    }
    for c in due(&mut t, 0.0) {
        t.apply(&answer(c.digest, Ok(Verdict::Active)), 0.0);
    }
    // All ten due by 10 s; a budget of 3 re-checks per pass.
    let first = t.due(10.0, 100, 3);
    assert_eq!((first.checks.len(), first.shed), (3, 0));
    // Within the tolerance (2.5 s) the rest wait; past it they are shed for this round.
    assert_eq!(t.due(11.0, 100, 0).shed, 0);
    let late = t.due(13.0, 100, 2);
    assert_eq!((late.checks.len(), late.shed), (2, 5));
    // A new session's first check is not held back by an empty budget.
    t.track(ClientKey::test(99), tracked("new", "N"), 13.0);
    let d = t.due(13.0, 100, 0);
    assert_eq!(d.checks.len(), 1);
    assert_eq!(d.checks[0].priority, Priority::First);
    // Shed answers (re-checks that waited too long in the queue) keep the verdict.
    let shed = Done { digest: first.checks[0].digest, exp: None, outcome: Outcome::Shed };
    assert!(t.apply(&shed, 14.0).is_empty());
    assert_eq!(t.tracked(), 11);
}

#[test]
fn a_new_endpoint_drops_verdicts_but_keeps_sessions_checked() {
    let mut t = Tracker::new(policy(true, true));
    t.track(ClientKey::test(1), tracked("a", "T"), 0.0);
    t.track(ClientKey::test(2), tracked("b", "U"), 0.0);
    let d = due(&mut t, 0.0);
    t.apply(&answer(d[0].digest, Ok(Verdict::Active)), 0.0);
    t.new_endpoint(policy(true, true), 1.0);
    assert_eq!(t.cached(&d[0].digest, 1.5), None);
    let again = due(&mut t, 1.0 + 10.0);
    assert_eq!(again.len(), 2);
    let checked = again.iter().find(|c| c.digest == d[0].digest).unwrap();
    assert_eq!(checked.priority, Priority::Recheck);
    assert!(t.apply(&answer(d[0].digest, Err("500".into())), 12.0).is_empty(), "a failed re-check keeps it");
    // The same endpoint: verdicts stay.
    t.apply(&answer(d[0].digest, Ok(Verdict::Active)), 12.0);
    t.retune(policy(true, true), 13.0);
    assert_eq!(t.cached(&d[0].digest, 13.5), Some(Verdict::Active));
}
