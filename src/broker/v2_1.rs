//! What mosquitto 2.1 changed in the plugin interface, as answers the entry points give. The build
//! uses Debian 12's 2.0.11 headers; the 2.1 values here are from mosquitto 2.1.2's
//! include/mosquitto/broker.h and src/plugin_*.c. Which broker is running is told by the functions
//! it exports (api::Optional), never by its version string.
use super::api;
use std::ffi::c_int;

/// MOSQ_EVT_CLIENT_OFFLINE (28 in 2.1.2's include/mosquitto/broker.h): a client with a persistent
/// session went offline; 2.1 sends DISCONNECT only when the session itself ends. Registered on 2.1
/// only (2.0 refuses unknown events).
pub const EVT_CLIENT_OFFLINE: c_int = 28;

/// MOSQ_ERR_AUTH_DELAYED (-5 in 2.1.2's include/mosquitto/defs.h): BASIC_AUTH answers later with
/// mosquitto_complete_basic_auth. Returned only where the broker exports that function.
pub const ERR_AUTH_DELAYED: c_int = -5;

/// The longest TICK lets the 2.1 broker sleep while anything is scheduled: 2.0's loop wakes this
/// often by itself, and a wall-clock step cannot delay a kick by more.
const MAX_SLEEP_MS: f64 = 100.0;
/// With nothing scheduled: background notices and periodic work wait at most this long on 2.1.
const IDLE_SLEEP_MS: i64 = 1000;

/// RELOAD: 2.0 wants DEFER (anything else skips re-registering the password/acl file checks,
/// security__init_single); 2.1 stops the broker on any answer but SUCCESS
/// (plugin__handle_reload_single, then signal__flag_check).
pub fn reload_answer() -> c_int {
    if api::optional().is_2_1() {
        super::codes::ERR_SUCCESS
    } else {
        super::codes::ERR_DEFER
    }
}

/// Milliseconds the broker may sleep: until `wakeup`, at least 1, at most MAX_SLEEP_MS while
/// anything is scheduled, IDLE_SLEEP_MS with nothing scheduled.
pub fn sleep_ms(wakeup: Option<f64>, now: f64) -> i64 {
    match wakeup {
        Some(t) => ((t - now) * 1000.0).ceil().clamp(1.0, MAX_SLEEP_MS) as i64,
        None => IDLE_SLEEP_MS,
    }
}

/// (next_s, next_ms) for 2.1's TICK event so that the broker sleeps at most `sleep` ms and still
/// ticks on every loop pass. 2.1.2's plugin__handle_tick_single (src/plugin_tick.c) uses the
/// answer twice: the loop waits at most `next_s * 1000 + next_ms` ms (0: no hurry; without
/// websockets the wait can then be seconds), and the callback is skipped until
/// `now + next_s + next_ms` (seconds corrected once for a nanosecond overflow). A plain
/// `next_ms = sleep` has the TICK skipped on a pass that comes sooner (any client traffic), and a
/// pass that skips it does not bound the wait: kicks were seconds late. Two seconds back and
/// 2000 ms forward keep the wait at `sleep` and put the skip-until time in the past.
pub fn tick_answer(sleep: i64) -> (i64, i64) {
    (-2, sleep + 2000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2.1.2's arithmetic (src/plugin_tick.c), to show what the broker makes of an answer:
    /// (the loop's longest wait in ms, whether the next pass `elapsed_ms` later ticks us).
    fn broker_reading(next_s: i64, next_ms: i64, now_ns: i64, elapsed_ms: i64) -> (i64, bool) {
        let wait = next_s * 1000 + next_ms;
        let now_s = 1_000_000i64;
        let (mut tick_s, mut tick_ns) = (now_s + next_s, now_ns + 1_000_000 * next_ms);
        if tick_ns > 1_000_000_000 {
            tick_ns -= 1_000_000_000;
            tick_s += 1;
        }
        let later_ns = now_ns + elapsed_ms * 1_000_000;
        let (later_s, later_ns) = (now_s + later_ns / 1_000_000_000, later_ns % 1_000_000_000);
        let cmp = if later_s == tick_s { later_ns - tick_ns } else { later_s - tick_s };
        (wait, cmp > 0)
    }

    #[test]
    fn the_broker_waits_at_most_the_sleep_and_never_skips_the_tick() {
        for sleep in [1, 37, 100, 1000] {
            for now_ns in [0, 1, 499_999_999, 999_000_000, 999_999_999] {
                let (s, ms) = tick_answer(sleep);
                for elapsed in [0, 1, sleep / 2, sleep] {
                    assert_eq!(broker_reading(s, ms, now_ns, elapsed), (sleep, true), "sleep {sleep} ns {now_ns}");
                }
            }
        }
        // The plain answer skips a pass that comes early (what made kicks late).
        assert_eq!(broker_reading(0, 100, 0, 10), (100, false));
    }

    #[test]
    fn sleeps_are_bounded() {
        assert_eq!(sleep_ms(None, 10.0), IDLE_SLEEP_MS);
        assert_eq!(sleep_ms(Some(10.0205), 10.0), 21);
        assert_eq!(sleep_ms(Some(9.0), 10.0), 1, "overdue: at once");
        assert_eq!(sleep_ms(Some(3600.0), 10.0), 100);
    }
}
