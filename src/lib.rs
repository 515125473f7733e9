//! mqtt-jwt-auth: a mosquitto 2.0 plugin that authenticates MQTT clients with JWTs.
//! Everything outside `broker` is safe, pure Rust testable without a broker.
#![deny(unsafe_code)]

pub mod acl;
pub mod alg;
#[allow(unsafe_code)]
pub mod broker;
pub mod cache;
pub mod config;
pub mod diagnose;
pub mod engine;
pub mod hashers;
pub mod host;
pub mod introspect;
pub mod keys;
pub mod logout;
pub mod logsafe;
pub mod metrics;
pub mod net;
pub mod notices;
pub mod pattern;
pub mod plugin;
pub mod refusal;
pub mod session;
pub mod shape;
pub mod verify;
