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
                    // SAFETY: `sym` is NUL-terminated; dlsym only looks the name up.
                    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, sym.as_ptr().cast::<c_char>()) };
                    if p.is_null() {
                        return Err(stringify!($name));
                    }
                    // SAFETY: the symbol is the broker's function of that name, whose prototype
                    // the const block above proves equal to `$ty`.
                    unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
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
    mosquitto_client_clean_session: unsafe extern "C" fn(*const ffi::mosquitto) -> bool;
    mosquitto_set_username: unsafe extern "C" fn(*mut ffi::mosquitto, *const c_char) -> c_int;
    mosquitto_kick_client_by_clientid: unsafe extern "C" fn(*const c_char, bool) -> c_int;
    mosquitto_broker_publish_copy: unsafe extern "C" fn(*const c_char, *const c_char, c_int, *const c_void, c_int, bool, *mut ffi::mosquitto_property) -> c_int;
}

/// Functions only some brokers export, looked up without failing: their presence is how the plugin
/// tells the versions apart (never the version string). Prototypes from mosquitto 2.1.2's
/// include/mosquitto/broker.h (the build uses Debian 12's 2.0.11 headers, which lack them).
pub struct Optional {
    /// 2.1: names the plugin in the broker's log; also the marker of the 2.1 plugin interface.
    pub mosquitto_plugin_set_info:
        Option<unsafe extern "C" fn(*mut ffi::mosquitto_plugin_id_t, *const c_char, *const c_char) -> c_int>,
    /// 2.1: answers a CONNECT that BASIC_AUTH answered MOSQ_ERR_AUTH_DELAYED; ignores an id that
    /// is not waiting (src/plugin_public.c).
    pub mosquitto_complete_basic_auth: Option<unsafe extern "C" fn(*const c_char, c_int)>,
    /// The connected client holding an id (not a delayed one: those are in another table).
    pub mosquitto_client: Option<unsafe extern "C" fn(*const c_char) -> *mut ffi::mosquitto>,
}

impl Optional {
    /// # Safety
    /// As Api::lookup.
    unsafe fn lookup() -> Optional {
        // SAFETY: C string literals; dlsym only looks the names up.
        let (complete, client, p) = unsafe {
            (
                libc::dlsym(libc::RTLD_DEFAULT, c"mosquitto_complete_basic_auth".as_ptr()),
                libc::dlsym(libc::RTLD_DEFAULT, c"mosquitto_client".as_ptr()),
                libc::dlsym(libc::RTLD_DEFAULT, c"mosquitto_plugin_set_info".as_ptr()),
            )
        };
        // The transmutes: a non-null symbol is the broker's function of that name, with the
        // prototype of 2.1.2's broker.h written in the field's type.
        Optional {
            mosquitto_complete_basic_auth: (!complete.is_null()).then(|| {
                // SAFETY: see above.
                unsafe { std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*const c_char, c_int)>(complete) }
            }),
            mosquitto_client: (!client.is_null()).then(|| {
                // SAFETY: see above.
                unsafe {
                    std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*const c_char) -> *mut ffi::mosquitto>(
                        client,
                    )
                }
            }),
            mosquitto_plugin_set_info: (!p.is_null()).then(|| {
                // SAFETY: see above.
                unsafe {
                    std::mem::transmute::<
                        *mut c_void,
                        unsafe extern "C" fn(*mut ffi::mosquitto_plugin_id_t, *const c_char, *const c_char) -> c_int,
                    >(p)
                }
            }),
        }
    }

    /// The broker has 2.1's plugin interface: RELOAD answers SUCCESS, TICK reads next_ms,
    /// CLIENT_OFFLINE exists, `$CONTROL` topics are registered broker-wide.
    pub fn is_2_1(&self) -> bool {
        self.mosquitto_plugin_set_info.is_some()
    }

    /// BASIC_AUTH may answer MOSQ_ERR_AUTH_DELAYED and complete later (2.1).
    pub fn can_defer_auth(&self) -> bool {
        self.mosquitto_complete_basic_auth.is_some() && self.mosquitto_client.is_some()
    }
}

static API: OnceLock<Api> = OnceLock::new();
static OPTIONAL: OnceLock<Optional> = OnceLock::new();

/// The optional functions (looked up once, inside the broker; all absent elsewhere).
pub fn optional() -> &'static Optional {
    // SAFETY: dlsym only looks names up; a missing one is None.
    OPTIONAL.get_or_init(|| unsafe { Optional::lookup() })
}

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
