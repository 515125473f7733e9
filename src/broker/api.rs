//! The broker functions the plugin calls, looked up in the running broker with dlsym at init.
//! Linking them by name would make every binary that links this crate's rlib (tests, the CLI)
//! need mosquitto's symbols; looking them up keeps those binaries self-contained.
use super::ffi;
use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

macro_rules! broker_api {
    ($($name:ident : $ty:ty;)*) => {
        #[allow(non_snake_case)]
        pub struct Api { $(pub $name: $ty,)* }

        // Compile-time proof that each type above is the header's prototype (bindgen output):
        // a fn item coerces to a fn pointer type only when the signatures are identical.
        const _: () = { $( let _: $ty = ffi::$name; )* };

        impl Api {
            /// # Safety
            /// Must run inside the broker process, where the mosquitto_* symbols are exported.
            unsafe fn lookup() -> Result<Api, &'static str> {
                Ok(Api { $($name: {
                    let sym = concat!(stringify!($name), "\0");
                    let p = libc::dlsym(libc::RTLD_DEFAULT, sym.as_ptr().cast::<c_char>());
                    if p.is_null() {
                        return Err(stringify!($name));
                    }
                    std::mem::transmute::<*mut c_void, $ty>(p)
                },)* })
            }
        }
    };
}

broker_api! {
    mosquitto_callback_register: unsafe extern "C" fn(*mut ffi::mosquitto_plugin_id_t, c_int, ffi::MOSQ_FUNC_generic_callback, *const c_void, *mut c_void) -> c_int;
    mosquitto_callback_unregister: unsafe extern "C" fn(*mut ffi::mosquitto_plugin_id_t, c_int, ffi::MOSQ_FUNC_generic_callback, *const c_void) -> c_int;
    mosquitto_log_printf: unsafe extern "C" fn(c_int, *const c_char, ...);
    mosquitto_client_id: unsafe extern "C" fn(*const ffi::mosquitto) -> *const c_char;
    mosquitto_client_address: unsafe extern "C" fn(*const ffi::mosquitto) -> *const c_char;
    mosquitto_client_username: unsafe extern "C" fn(*const ffi::mosquitto) -> *const c_char;
    mosquitto_set_username: unsafe extern "C" fn(*mut ffi::mosquitto, *const c_char) -> c_int;
    mosquitto_kick_client_by_clientid: unsafe extern "C" fn(*const c_char, bool) -> c_int;
    mosquitto_broker_publish_copy: unsafe extern "C" fn(*const c_char, *const c_char, c_int, *const c_void, c_int, bool, *mut ffi::mosquitto_property) -> c_int;
}

static API: OnceLock<Api> = OnceLock::new();

/// Looks the functions up once; the name of the first missing one on failure.
pub fn init() -> Result<&'static Api, &'static str> {
    if let Some(api) = API.get() {
        return Ok(api);
    }
    // SAFETY: called from mosquitto_plugin_init, inside the broker process.
    let api = unsafe { Api::lookup()? };
    Ok(API.get_or_init(|| api))
}

pub fn get() -> Option<&'static Api> {
    API.get()
}
