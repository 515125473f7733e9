//! mosquitto's numbers (error codes, event ids, ACL access bits, log levels) and our enums, mapped
//! here only: the handlers see [`Access`], [`Decision`], [`AuthResult`] and [`Level`], never a
//! raw number. Values from bindgen's view of the 2.0.11 headers; 2.1's additions are in v2_1.rs.
use super::ffi;
use super::v2_1::ERR_AUTH_DELAYED;
use crate::acl::{Access, Decision};
use crate::host::{AuthResult, Level};
use std::ffi::c_int;

pub const ERR_SUCCESS: c_int = ffi::mosq_err_t_MOSQ_ERR_SUCCESS;
pub const ERR_AUTH: c_int = ffi::mosq_err_t_MOSQ_ERR_AUTH;
pub const ERR_DEFER: c_int = ffi::mosq_err_t_MOSQ_ERR_PLUGIN_DEFER;
pub const ERR_ACL_DENIED: c_int = ffi::mosq_err_t_MOSQ_ERR_ACL_DENIED;
pub const ERR_INVAL: c_int = ffi::mosq_err_t_MOSQ_ERR_INVAL;
pub const ERR_UNKNOWN: c_int = ffi::mosq_err_t_MOSQ_ERR_UNKNOWN;
/// 31; in 2.0.11's headers too.
pub const ERR_ALREADY_EXISTS: c_int = ffi::mosq_err_t_MOSQ_ERR_ALREADY_EXISTS;

use ffi::mosquitto_plugin_event as evt;
pub const EVT_BASIC_AUTH: c_int = evt::MOSQ_EVT_BASIC_AUTH as c_int;
pub const EVT_RELOAD: c_int = evt::MOSQ_EVT_RELOAD as c_int;
pub const EVT_TICK: c_int = evt::MOSQ_EVT_TICK as c_int;
pub const EVT_DISCONNECT: c_int = evt::MOSQ_EVT_DISCONNECT as c_int;
pub const EVT_EXT_AUTH_START: c_int = evt::MOSQ_EVT_EXT_AUTH_START as c_int;
pub const EVT_CONTROL: c_int = evt::MOSQ_EVT_CONTROL as c_int;
pub const EVT_ACL_CHECK: c_int = evt::MOSQ_EVT_ACL_CHECK as c_int;

/// The access of an ACL check; None for bits this plugin does not know (denied).
pub fn access(bits: c_int) -> Option<Access> {
    match u32::try_from(bits).ok()? {
        ffi::MOSQ_ACL_READ => Some(Access::Read),
        ffi::MOSQ_ACL_WRITE => Some(Access::Write),
        ffi::MOSQ_ACL_SUBSCRIBE => Some(Access::Subscribe),
        ffi::MOSQ_ACL_UNSUBSCRIBE => Some(Access::Unsubscribe),
        _ => None,
    }
}

/// ACL_CHECK may only answer SUCCESS, ACL_DENIED or DEFER (anything else disconnects).
pub fn acl_code(d: Decision) -> c_int {
    match d {
        Decision::Allow => ERR_SUCCESS,
        Decision::Deny => ERR_ACL_DENIED,
        Decision::Defer => ERR_DEFER,
    }
}

pub fn auth_code(r: AuthResult) -> c_int {
    match r {
        AuthResult::Accept => ERR_SUCCESS,
        AuthResult::Refuse => ERR_AUTH,
        AuthResult::Defer => ERR_DEFER,
        // Only when the broker said it can (Broker::can_defer_auth): 2.1.
        AuthResult::Delayed => ERR_AUTH_DELAYED,
    }
}

pub fn level_code(level: Level) -> c_int {
    (match level {
        Level::Debug => ffi::MOSQ_LOG_DEBUG,
        Level::Info => ffi::MOSQ_LOG_INFO,
        Level::Notice => ffi::MOSQ_LOG_NOTICE,
        Level::Warning => ffi::MOSQ_LOG_WARNING,
        Level::Error => ffi::MOSQ_LOG_ERR,
    }) as c_int
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_bits_are_mosquittos() {
        assert_eq!(access(1), Some(Access::Read));
        assert_eq!(access(2), Some(Access::Write));
        assert_eq!(access(4), Some(Access::Subscribe));
        assert_eq!(access(8), Some(Access::Unsubscribe));
        for other in [0, 3, 16, 64, -1] {
            assert_eq!(access(other), None);
        }
    }
}
