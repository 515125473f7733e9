//! The only unsafe code: mosquitto bindings, safe wrappers and the extern "C" entry points.
mod api;
mod codes;
mod control;
mod entry;
mod ffi;
mod mosquitto;
mod pin;
mod v2_1;

use mosquitto::Mosquitto;
