//! Which instances of this plugin share one `$CONTROL` topic registration. mosquitto 2.1 keeps
//! control topics broker-wide, so with `per_listener_settings true` and the plugin on several
//! listeners only the first instance can register the topic; the others join it here and its
//! callback hands each message to the instance that holds the publishing client's session.
//! Broker thread only (init, cleanup and callbacks all run there); the lock is for Rust's sake.
use super::{api, ffi, Mosquitto};
use crate::host::{Broker, Level, LOG_PREFIX};
use parking_lot::Mutex;
use std::ffi::{c_int, CStr, CString};

use super::codes::{ERR_ALREADY_EXISTS, ERR_SUCCESS, EVT_CONTROL};

/// (topic, instances in init order; the first registered the topic with the broker).
static SHARED: Mutex<Vec<(CString, Vec<usize>)>> = Mutex::new(Vec::new());

/// Registers the callback of `topic` for instance `member`: Ok(true) if it holds the registration,
/// Ok(false) if it shares another instance's (2.1, `per_listener_settings true`, plugin on several
/// listeners). A topic another plugin holds is a start-up error naming the option to change:
/// running without in-band refresh would end every session at its token's expiry.
///
/// # Safety
/// `id` is mosquitto's; `member` is a live State until `leave`.
pub unsafe fn register(
    api: &api::Api,
    id: *mut ffi::mosquitto_plugin_id_t,
    topic: &CStr,
    option: &str,
    cb: ffi::MOSQ_FUNC_generic_callback,
    member: usize,
) -> Result<bool, c_int> {
    // SAFETY: `id` is mosquitto's and `member` outlives the registration (the caller's contract);
    // `topic` is NUL-terminated.
    let rc = unsafe { (api.mosquitto_callback_register)(id, EVT_CONTROL, cb, topic.as_ptr().cast(), member as *mut _) };
    let name = topic.to_string_lossy();
    match rc {
        ERR_SUCCESS => {
            hold(topic, member);
            Ok(true)
        }
        ERR_ALREADY_EXISTS if join(topic, member) => {
            let msg = format!(
                "{LOG_PREFIX}: control topic {name} is registered by another instance of this plugin \
                 (per_listener_settings): sharing it"
            );
            Mosquitto::on_broker_thread().log(Level::Warning, &msg);
            Ok(false)
        }
        ERR_ALREADY_EXISTS => {
            let msg = format!(
                "{LOG_PREFIX}: cannot start: control topic {name} is registered by another plugin; set \
                 {option} to another topic"
            );
            Mosquitto::on_broker_thread().log(Level::Error, &msg);
            Err(rc)
        }
        rc => {
            Mosquitto::on_broker_thread()
                .log(Level::Error, &format!("{LOG_PREFIX}: cannot register control topic {name}: error {rc}"));
            Err(rc)
        }
    }
}

/// The instance `member` registered `topic` with the broker.
fn hold(topic: &CStr, member: usize) {
    let mut shared = SHARED.lock();
    match shared.iter_mut().find(|(t, _)| t.as_c_str() == topic) {
        Some((_, members)) => members.insert(0, member),
        None => shared.push((topic.to_owned(), vec![member])),
    }
}

/// Joins the registration of another instance of this plugin; false if none holds `topic` (then
/// another plugin registered it).
fn join(topic: &CStr, member: usize) -> bool {
    let mut shared = SHARED.lock();
    match shared.iter_mut().find(|(t, members)| t.as_c_str() == topic && !members.is_empty()) {
        Some((_, members)) => {
            members.push(member);
            true
        }
        None => false,
    }
}

pub fn leave(topic: &CStr, member: usize) {
    let mut shared = SHARED.lock();
    for (_, members) in shared.iter_mut().filter(|(t, _)| t.as_c_str() == topic) {
        members.retain(|m| *m != member);
    }
    shared.retain(|(_, members)| !members.is_empty());
}

/// The instances sharing `topic`, in init order.
pub fn members(topic: &CStr) -> Vec<usize> {
    SHARED.lock().iter().find(|(t, _)| t.as_c_str() == topic).map(|(_, m)| m.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_instance_joins_only_a_topic_one_of_ours_holds() {
        let (a, b) = (c"$CONTROL/test-share-a/v1", c"$CONTROL/test-share-b/v1");
        assert!(!join(a, 2), "nobody of ours holds it: another plugin does");
        hold(a, 1);
        assert!(join(a, 2));
        assert_eq!(members(a), vec![1, 2]);
        assert!(members(b).is_empty());
        leave(a, 1);
        assert_eq!(members(a), vec![2]);
        leave(a, 2);
        assert!(members(a).is_empty());
        assert!(!join(a, 3));
    }
}
