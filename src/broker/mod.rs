//! The only unsafe code: mosquitto bindings, safe wrappers and the extern "C" entry points.
mod api;
mod entry;
mod ffi;
mod mosquitto;

pub use mosquitto::Mosquitto;
