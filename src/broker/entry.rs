//! mosquitto_plugin_version / init / cleanup and the event callbacks. Every callback catches
//! panics: a panic refuses (auth) or is ignored (reload) with a log line, never unwinds into C.
use super::v2_1::{reload_answer, sleep_ms, tick_answer, EVT_CLIENT_OFFLINE};
use super::{api, ffi, Mosquitto};
use crate::host::{Broker, ClientRef, Level, LOG_PREFIX};
use crate::plugin::options::{Faults, Options};
use crate::plugin::Plugin;
use std::ffi::{c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::codes::*;

/// The plugin's name and version for mosquitto_plugin_set_info (2.1).
const VERSION: &std::ffi::CStr =
    match std::ffi::CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => c"unknown",
    };

struct State {
    id: *mut ffi::mosquitto_plugin_id_t,
    plugin: Plugin,
    /// The control topics registered at init, refresh and logout (each callback is keyed by topic
    /// and must be unregistered with it), with the option that names each.
    control_topics: Vec<(CString, &'static str)>,
    /// Per control topic: whether this instance holds the broker's registration (on 2.1 a second
    /// instance shares the first one's, see control.rs).
    control_registered: Vec<bool>,
    /// Whether CLIENT_OFFLINE was registered (2.1).
    offline: bool,
    /// Whether ACL_CHECK was registered (options.authorization at start-up).
    acl: bool,
    /// Debug builds only: injected panics (plugin_opt_test_panic_*).
    faults: Faults,
}

type Callback = unsafe extern "C" fn(c_int, *mut c_void, *mut c_void) -> c_int;
// The callbacks every version gets; ACL_CHECK, CLIENT_OFFLINE and CONTROL are registered as configured
// and as the broker offers them.
const CALLBACKS: [(c_int, Callback); 5] = [
    (EVT_BASIC_AUTH, on_basic_auth),
    (EVT_EXT_AUTH_START, on_ext_auth_start),
    (EVT_RELOAD, on_reload),
    (EVT_TICK, on_tick),
    (EVT_DISCONNECT, on_disconnect),
];

/// Runs `f`, turning a panic into `on_panic` and an error log line.
fn guarded(what: &str, on_panic: c_int, f: impl FnOnce() -> c_int) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(rc) => rc,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Mosquitto::on_broker_thread().log(Level::Error, &format!("{LOG_PREFIX}: internal error in {what}: {msg}"));
            on_panic
        }
    }
}

fn bytes<'a>(p: *const std::ffi::c_char) -> Option<&'a [u8]> {
    if p.is_null() {
        return None;
    }
    // SAFETY: mosquitto passes NUL-terminated strings valid for the callback.
    Some(unsafe { CStr::from_ptr(p) }.to_bytes())
}

#[no_mangle]
pub extern "C" fn mosquitto_plugin_version(count: c_int, versions: *const c_int) -> c_int {
    if versions.is_null() || count <= 0 {
        return -1;
    }
    // SAFETY: mosquitto passes `count` ints.
    let supported = unsafe { std::slice::from_raw_parts(versions, count as usize) };
    if supported.contains(&5) {
        5
    } else {
        -1
    }
}

#[no_mangle]
pub extern "C" fn mosquitto_plugin_init(
    identifier: *mut ffi::mosquitto_plugin_id_t,
    userdata: *mut *mut c_void,
    options: *mut ffi::mosquitto_opt,
    option_count: c_int,
) -> c_int {
    let api = match api::init() {
        Ok(a) => a,
        // Without the broker's functions there is nothing to log with.
        Err(_) => return ERR_UNKNOWN,
    };
    guarded("plugin init", ERR_UNKNOWN, || {
        let broker = Mosquitto::on_broker_thread();
        let opts: &[ffi::mosquitto_opt] = if options.is_null() || option_count <= 0 {
            &[]
        } else {
            // SAFETY: mosquitto passes option_count options with NUL-terminated key/value.
            unsafe { std::slice::from_raw_parts(options, option_count as usize) }
        };
        let Options { config_file, faults } =
            Options::parse(opts.iter().filter_map(|o| Some((bytes(o.key)?, bytes(o.value)?))));
        let Some(config_file) = config_file else {
            broker.log(
                Level::Error,
                &format!("{LOG_PREFIX}: cannot start: plugin_opt_config_file is not set (it names the jwt.json)"),
            );
            return ERR_INVAL;
        };
        // Key refresh threads may still be inside an HTTP request when mosquitto unloads plugins at
        // exit; keeping the library mapped means they never run unmapped code.
        if !super::pin::pin_self() {
            broker.log(Level::Warning, &format!("{LOG_PREFIX}: could not pin the plugin library in memory"));
        }
        let plugin = match Plugin::load(&broker, &config_file) {
            Ok(p) => p,
            Err(e) => {
                broker.log(Level::Error, &format!("{LOG_PREFIX}: cannot start: {e}"));
                return ERR_INVAL;
            }
        };
        let control_topics = plugin
            .control_topics()
            .into_iter()
            .filter_map(|(t, option)| CString::new(t).ok().map(|t| (t, option)))
            .collect();
        let v2_1 = api::optional().is_2_1();
        if let Some(set_info) = api::optional().mosquitto_plugin_set_info {
            // SAFETY: identifier is mosquitto's; the broker copies both strings.
            unsafe { set_info(identifier, c"mqtt-jwt-auth".as_ptr(), VERSION.as_ptr()) };
        }
        let state = Box::into_raw(Box::new(State {
            id: identifier,
            acl: plugin.authorizes(),
            plugin,
            control_topics,
            control_registered: Vec::new(),
            offline: v2_1,
            faults,
        }));
        // SAFETY: state was just created above and is not shared yet.
        let acl = unsafe { (*state).acl }.then_some((EVT_ACL_CHECK, on_acl_check as Callback));
        let offline = v2_1.then_some((EVT_CLIENT_OFFLINE, on_client_offline as Callback));
        let all = CALLBACKS.iter().copied().chain(acl).chain(offline);
        for (event, cb) in all {
            // SAFETY: identifier is mosquitto's; state lives until cleanup.
            let rc = unsafe {
                (api.mosquitto_callback_register)(identifier, event, Some(cb), std::ptr::null(), state.cast())
            };
            if rc != ERR_SUCCESS {
                broker.log(Level::Error, &format!("{LOG_PREFIX}: cannot register callback {event}: error {rc}"));
                // SAFETY: registered callbacks are removed before the state is freed.
                unsafe { cleanup_state(state) };
                return rc;
            }
        }
        // SAFETY: state lives until cleanup_state, which leaves the shared registrations.
        let topics = unsafe { (*state).control_topics.clone() };
        for (topic, option) in topics {
            let cb = on_control as Callback;
            // SAFETY: identifier is mosquitto's; the state leaves the registry in cleanup_state.
            match unsafe { super::control::register(api, identifier, &topic, option, Some(cb), state as usize) } {
                // SAFETY: as above.
                Ok(held) => unsafe { (*state).control_registered.push(held) },
                Err(rc) => {
                    // SAFETY: as above.
                    unsafe { cleanup_state(state) };
                    return rc;
                }
            }
        }
        // SAFETY: userdata is a valid out-pointer from mosquitto.
        unsafe { *userdata = state.cast() };
        ERR_SUCCESS
    })
}

/// # Safety
/// `state` came from Box::into_raw in init and is not used afterwards.
unsafe fn cleanup_state(state: *mut State) {
    // SAFETY: `state` is live until the Box::from_raw below (the caller's contract).
    let st = unsafe { &*state };
    if let Some(api) = api::get() {
        let unregister = |event, cb: ffi::MOSQ_FUNC_generic_callback, data: *const c_void| {
            // SAFETY: unregisters what init registered with this id, event, callback and data
            // (mosquitto answers NOT_FOUND for one it does not hold).
            unsafe { (api.mosquitto_callback_unregister)(st.id, event, cb, data) };
        };
        for (event, cb) in CALLBACKS {
            unregister(event, Some(cb), std::ptr::null());
        }
        if st.acl {
            unregister(EVT_ACL_CHECK, Some(on_acl_check), std::ptr::null());
        }
        if st.offline {
            unregister(EVT_CLIENT_OFFLINE, Some(on_client_offline), std::ptr::null());
        }
        for (i, (t, _)) in st.control_topics.iter().enumerate() {
            if st.control_registered.get(i).copied().unwrap_or(false) {
                unregister(EVT_CONTROL, Some(on_control), t.as_ptr().cast());
            }
            super::control::leave(t, state as usize);
        }
    }
    // SAFETY: it came from Box::into_raw in init, and `st` is not used after this.
    drop(unsafe { Box::from_raw(state) });
}

#[no_mangle]
pub extern "C" fn mosquitto_plugin_cleanup(
    userdata: *mut c_void,
    _options: *mut ffi::mosquitto_opt,
    _count: c_int,
) -> c_int {
    if userdata.is_null() {
        return ERR_SUCCESS;
    }
    guarded("plugin cleanup", ERR_SUCCESS, || {
        // SAFETY: userdata is the State from init; mosquitto calls cleanup once.
        unsafe { cleanup_state(userdata.cast()) };
        ERR_SUCCESS
    })
}

/// # Safety
/// userdata is the State registered in init.
unsafe fn state<'a>(userdata: *mut c_void) -> &'a State {
    // SAFETY: the caller's contract.
    unsafe { &*(userdata as *const State) }
}

unsafe extern "C" fn on_basic_auth(_event: c_int, event_data: *mut c_void, userdata: *mut c_void) -> c_int {
    guarded("basic auth", ERR_AUTH, || {
        // SAFETY: mosquitto passes its basic-auth event and our State.
        let (ed, st) = unsafe { (&*(event_data as *const ffi::mosquitto_evt_basic_auth), state(userdata)) };
        let client = ClientRef::from_host(ed.client as usize);
        // Copy both before the handler may call set_username, which frees ed.username.
        let username = bytes(ed.username).map(<[u8]>::to_vec);
        let password = bytes(ed.password).map(<[u8]>::to_vec);
        st.faults.at_basic_auth(username.as_deref());
        let now = crate::host::now_seconds();
        auth_code(st.plugin.basic_auth(
            &Mosquitto::on_broker_thread(),
            client,
            username.as_deref(),
            password.as_deref(),
            now,
        ))
    })
}

unsafe extern "C" fn on_ext_auth_start(_event: c_int, event_data: *mut c_void, userdata: *mut c_void) -> c_int {
    guarded("enhanced auth", ERR_AUTH, || {
        // SAFETY: mosquitto passes its extended-auth event and our State.
        let (ed, st) = unsafe { (&*(event_data as *const ffi::mosquitto_evt_extended_auth), state(userdata)) };
        let method = bytes(ed.auth_method).and_then(|m| std::str::from_utf8(m).ok());
        let data: &[u8] = if ed.data_in.is_null() {
            &[]
        } else {
            // SAFETY: data_in holds data_in_len bytes for the callback.
            unsafe { std::slice::from_raw_parts(ed.data_in.cast::<u8>(), ed.data_in_len as usize) }
        };
        let client = ClientRef::from_host(ed.client as usize);
        auth_code(st.plugin.ext_auth_start(
            &Mosquitto::on_broker_thread(),
            client,
            method,
            data,
            crate::host::now_seconds(),
        ))
    })
}

unsafe extern "C" fn on_control(_event: c_int, event_data: *mut c_void, userdata: *mut c_void) -> c_int {
    guarded("control message", ERR_SUCCESS, || {
        // SAFETY: mosquitto passes its control event and our State.
        let (ed, mut st) = unsafe { (&*(event_data as *const ffi::mosquitto_evt_control), state(userdata)) };
        let client = ClientRef::from_host(ed.client as usize);
        // A shared registration (2.1, several instances): the instance that holds the client's session.
        if let Some(topic) = bytes(ed.topic).and_then(|t| CString::new(t).ok()) {
            let holder = super::control::members(&topic).into_iter().find(|&p| {
                // SAFETY: members are live States (removed in cleanup_state before they are freed).
                unsafe { state(p as *mut c_void) }.plugin.has_session(client)
            });
            if let Some(p) = holder {
                // SAFETY: as above.
                st = unsafe { state(p as *mut c_void) };
            }
        }
        let payload: &[u8] = if ed.payload.is_null() {
            &[]
        } else {
            // SAFETY: payload holds payloadlen bytes for the callback.
            unsafe { std::slice::from_raw_parts(ed.payload.cast::<u8>(), ed.payloadlen as usize) }
        };
        let topic = bytes(ed.topic).and_then(|t| std::str::from_utf8(t).ok()).unwrap_or_default();
        st.plugin.control_message(&Mosquitto::on_broker_thread(), client, topic, payload, crate::host::now_seconds());
        ERR_SUCCESS
    })
}

unsafe extern "C" fn on_acl_check(_event: c_int, event_data: *mut c_void, userdata: *mut c_void) -> c_int {
    // A panic denies: ACL_CHECK may only answer SUCCESS, ACL_DENIED or DEFER.
    guarded("acl check", ERR_ACL_DENIED, || {
        // SAFETY: mosquitto passes its ACL event and our State.
        let (ed, st) = unsafe { (&*(event_data as *const ffi::mosquitto_evt_acl_check), state(userdata)) };
        let Some(topic) = bytes(ed.topic).and_then(|t| std::str::from_utf8(t).ok()) else { return ERR_ACL_DENIED };
        st.faults.at_acl_check(topic);
        let client = ClientRef::from_host(ed.client as usize);
        let now = crate::host::now_seconds();
        let Some(access) = access(ed.access) else { return ERR_ACL_DENIED };
        acl_code(st.plugin.acl_check(&Mosquitto::on_broker_thread(), client, access, topic, ed.qos, ed.retain, now))
    })
}

unsafe extern "C" fn on_tick(_event: c_int, event_data: *mut c_void, userdata: *mut c_void) -> c_int {
    guarded("tick", ERR_SUCCESS, || {
        // SAFETY: our State.
        let plugin = &unsafe { state(userdata) }.plugin;
        let now = crate::host::now_seconds();
        plugin.tick(&Mosquitto::on_broker_thread(), now);
        if api::optional().is_2_1() && !event_data.is_null() {
            // SAFETY: mosquitto passes its tick event. 2.1.2's include/mosquitto/broker.h has the
            // same layout as 2.0.11's, with `next_ns` renamed `next_ms` (2.0 never reads either).
            let ed = unsafe { &mut *(event_data as *mut ffi::mosquitto_evt_tick) };
            let (next_s, next_ms) = tick_answer(sleep_ms(plugin.next_wakeup(now), now));
            ed.next_s = next_s as _;
            ed.next_ns = next_ms as _;
        }
        ERR_SUCCESS
    })
}

unsafe extern "C" fn on_disconnect(_event: c_int, event_data: *mut c_void, userdata: *mut c_void) -> c_int {
    guarded("disconnect", ERR_SUCCESS, || {
        // SAFETY: mosquitto passes its disconnect event and our State.
        let (ed, st) = unsafe { (&*(event_data as *const ffi::mosquitto_evt_disconnect), state(userdata)) };
        st.plugin.disconnect(
            &Mosquitto::on_broker_thread(),
            ClientRef::from_host(ed.client as usize),
            crate::host::now_seconds(),
        );
        ERR_SUCCESS
    })
}

/// 2.1: a client with a persistent session went offline (DISCONNECT comes only when the session
/// itself ends, much later or never). The connection is gone: end its session exactly as on DISCONNECT.
unsafe extern "C" fn on_client_offline(_event: c_int, event_data: *mut c_void, userdata: *mut c_void) -> c_int {
    guarded("client offline", ERR_SUCCESS, || {
        // SAFETY: mosquitto 2.1.2 passes struct mosquitto_evt_client_offline, which has the layout of
        // mosquitto_evt_disconnect (future, client, reason, future2; include/mosquitto/broker.h).
        let (ed, st) = unsafe { (&*(event_data as *const ffi::mosquitto_evt_disconnect), state(userdata)) };
        st.plugin.disconnect(
            &Mosquitto::on_broker_thread(),
            ClientRef::from_host(ed.client as usize),
            crate::host::now_seconds(),
        );
        ERR_SUCCESS
    })
}

unsafe extern "C" fn on_reload(_event: c_int, _event_data: *mut c_void, userdata: *mut c_void) -> c_int {
    let answer = reload_answer();
    guarded("reload", answer, || {
        // SAFETY: our State.
        unsafe { state(userdata) }.plugin.reload(&Mosquitto::on_broker_thread(), crate::host::now_seconds());
        answer
    })
}
