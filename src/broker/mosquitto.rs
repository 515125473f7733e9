//! The real [`Broker`]: mosquitto's functions, called on the broker thread only.
use super::codes::{level_code, ERR_SUCCESS};
use super::{api, ffi};
use crate::host::{Broker, ClientKey, ClientRef, Level};
use std::ffi::{c_int, CStr, CString};
use std::marker::PhantomData;

/// The broker, for the callback running on its thread. No broker function locks, so the handle
/// is neither Send nor Sync (the raw-pointer marker): a worker thread cannot be given one, and
/// only the entry points of src/broker/ make one (the constructor is private to it).
pub struct Mosquitto {
    _broker_thread: PhantomData<*const ()>,
}

impl Mosquitto {
    /// Entry points only: the caller runs on the broker thread (a callback, init or cleanup).
    pub(super) fn on_broker_thread() -> Mosquitto {
        Mosquitto { _broker_thread: PhantomData }
    }
}

// Compile-time proof that the handle stays on its thread: with `Send` (or `Sync`) implemented,
// both impls below would apply and the item lookup would be ambiguous.
const _: fn() = || {
    trait AmbiguousIfShared<A> {
        fn check() {}
    }
    impl<T: ?Sized> AmbiguousIfShared<()> for T {}
    struct IfSend;
    impl<T: ?Sized + Send> AmbiguousIfShared<IfSend> for T {}
    struct IfSync;
    impl<T: ?Sized + Sync> AmbiguousIfShared<IfSync> for T {}
    <Mosquitto as AmbiguousIfShared<_>>::check();
};

fn cstring(s: &str) -> CString {
    // Interior NULs cannot come from our own text; replace rather than drop the line.
    CString::new(s.replace('\0', "?")).unwrap_or_default()
}

fn owned(p: *const std::ffi::c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: mosquitto returns NUL-terminated strings that live at least for this callback.
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

fn client_ptr(c: ClientRef) -> *mut ffi::mosquitto {
    c.host_addr() as *mut ffi::mosquitto
}

impl Broker for Mosquitto {
    fn log(&self, level: Level, msg: &str) {
        let Some(api) = api::get() else { return };
        let msg = cstring(msg);
        // SAFETY: "%s" with one NUL-terminated string argument.
        unsafe { (api.mosquitto_log_printf)(level_code(level), c"%s".as_ptr(), msg.as_ptr()) };
    }

    fn client_id(&self, c: ClientRef) -> Option<String> {
        let api = api::get()?;
        // SAFETY: c comes from the event data of the running callback.
        owned(unsafe { (api.mosquitto_client_id)(client_ptr(c)) })
    }

    fn client_address(&self, c: ClientRef) -> Option<String> {
        let api = api::get()?;
        // SAFETY: as above.
        owned(unsafe { (api.mosquitto_client_address)(client_ptr(c)) })
    }

    fn client_username(&self, c: ClientRef) -> Option<String> {
        let api = api::get()?;
        // SAFETY: as above.
        owned(unsafe { (api.mosquitto_client_username)(client_ptr(c)) })
    }

    fn kick(&self, client_id: &str, with_will: bool) -> bool {
        let Some(api) = api::get() else { return false };
        let id = cstring(client_id);
        // SAFETY: called on the broker thread, never for the client whose callback is running.
        unsafe { (api.mosquitto_kick_client_by_clientid)(id.as_ptr(), with_will) == ERR_SUCCESS }
    }

    fn publish_to(&self, client_id: &str, topic: &str, payload: &[u8]) -> bool {
        let Some(api) = api::get() else { return false };
        let (id, topic) = (cstring(client_id), cstring(topic));
        let Ok(len) = c_int::try_from(payload.len()) else { return false };
        // SAFETY: mosquitto copies topic and payload; QoS 0, not retained, no properties.
        let rc = unsafe {
            (api.mosquitto_broker_publish_copy)(
                id.as_ptr(),
                topic.as_ptr(),
                len,
                payload.as_ptr().cast(),
                0,
                false,
                std::ptr::null_mut(),
            )
        };
        rc == ERR_SUCCESS
    }

    fn publish(&self, topic: &str, payload: &[u8], retain: bool) -> bool {
        let Some(api) = api::get() else { return false };
        let topic = cstring(topic);
        let Ok(len) = c_int::try_from(payload.len()) else { return false };
        // SAFETY: a NULL client id routes to all subscribers; mosquitto copies topic and payload; QoS 0,
        // no properties. Called on the broker thread (TICK).
        let rc = unsafe {
            (api.mosquitto_broker_publish_copy)(
                std::ptr::null(),
                topic.as_ptr(),
                len,
                payload.as_ptr().cast(),
                0,
                retain,
                std::ptr::null_mut(),
            )
        };
        rc == ERR_SUCCESS
    }

    fn set_username(&self, c: ClientRef, name: &str) -> bool {
        let Some(api) = api::get() else { return false };
        let name = cstring(name);
        // SAFETY: mosquitto copies the name; the client pointer is the callback's.
        unsafe { (api.mosquitto_set_username)(client_ptr(c), name.as_ptr()) == ERR_SUCCESS }
    }

    fn client_clean_start(&self, c: ClientRef) -> bool {
        let Some(api) = api::get() else { return false };
        // SAFETY: c comes from the event data of the running callback.
        unsafe { (api.mosquitto_client_clean_session)(client_ptr(c)) }
    }

    fn can_defer_auth(&self) -> bool {
        api::optional().can_defer_auth()
    }

    fn complete_auth(&self, client: ClientKey, client_id: &str, ok: bool) -> Option<ClientRef<'_>> {
        let o = api::optional();
        let (Some(complete), Some(lookup)) = (o.mosquitto_complete_basic_auth, o.mosquitto_client) else {
            return None;
        };
        let id = cstring(client_id);
        let rc = if ok { ERR_SUCCESS } else { super::codes::ERR_AUTH };
        // SAFETY: broker thread (TICK); mosquitto looks the id up among delayed CONNECTs and
        // ignores one it does not hold. The id string outlives the call.
        unsafe { complete(id.as_ptr(), rc as c_int) };
        if !ok {
            return None;
        }
        // SAFETY: a lookup by id on the broker thread; the connected client it returns (or NULL)
        // stays valid for this callback.
        let holder = ClientRef::from_host(unsafe { lookup(id.as_ptr()) } as usize);
        (holder.host_addr() != 0 && holder.key() == client).then_some(holder)
    }
}

#[cfg(test)]
mod tests {
    /// A handle the real broker dereferences must come from mosquitto: apart from this layer only
    /// the test hosts (the unit-test fake, the in-process benchmark) may make one.
    #[test]
    fn client_handles_are_made_only_by_broker_implementations() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let allowed = ["src/broker/", "src/host.rs", "src/plugin/fake.rs"];
        let mut stack = vec![root.join("src")];
        let mut offenders = Vec::new();
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                // Unit tests of the handlers play the broker's part through the fake's numbers.
                let test_file =
                    rel.starts_with("src/plugin/") && (rel.ends_with("_tests.rs") || rel.ends_with("/tests.rs"));
                let ok = allowed.iter().any(|a| rel.starts_with(a)) || test_file;
                if text.contains("ClientRef::from_host") && !ok {
                    offenders.push(rel);
                }
            }
        }
        assert!(offenders.is_empty(), "ClientRef::from_host outside the broker layer and test hosts: {offenders:?}");
    }
}
