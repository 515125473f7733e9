//! Keeps this plugin's shared library mapped for the life of the process (RTLD_NODELETE), so that a
//! background thread still finishing an HTTP request when mosquitto unloads plugins at shutdown
//! never executes unmapped code.
use std::ffi::c_void;

pub fn pin_self() -> bool {
    // SAFETY: dladdr only reads the address; Dl_info is plain old data it fills in.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let here = pin_self as *const c_void;
    // SAFETY: `here` is a function of this library; `info` is a valid out-pointer.
    if unsafe { libc::dladdr(here, &mut info) } == 0 || info.dli_fname.is_null() {
        return false;
    }
    // SAFETY: dli_fname is the NUL-terminated path of the already loaded library; RTLD_NOLOAD
    // only takes another reference on it (never closed), RTLD_NODELETE keeps it past dlclose.
    let handle = unsafe { libc::dlopen(info.dli_fname, libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE) };
    !handle.is_null()
}
