//! The only unsafe code: mosquitto bindings, safe wrappers and the extern "C" entry points.
mod api;
mod entry;
mod ffi;
mod mosquitto;
mod pin;

pub use mosquitto::Mosquitto;
