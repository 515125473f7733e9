//! mqtt-jwt-auth: a mosquitto 2.0 plugin that authenticates MQTT clients with JWTs.
//!
//! Layers, each importing only from the ones below it (tests/layers.rs checks every `crate::` path):
//! - `broker`: the FFI edge, the only `unsafe`; entry points and mosquitto's callbacks.
//! - `plugin`: the event handlers, safe and driven through the [`host::Broker`] trait, so they are
//!   tested with a fake broker.
//! - `loaded` (one loaded configuration), `session`, `diagnose`; `net` (threads and HTTP: key
//!   refresh, discovery, introspection workers, the credentials exchange), which talks to the
//!   handlers only through queues; below them `logout`, `introspect`, then the pure core:
//!   `verify`, `keys`, `config`, `acl`, `cache`.
//! - leaves: `host` (types shared with the broker edge), `token`, `notices`, `metrics` and helpers.
//!
//! What is true outside `broker`: no `unsafe` and no mosquitto call. Not all of it is pure: `net`
//! runs threads and HTTP, and loading the configuration reads files and the environment.
//!
//! Unit tests: small ones inline at the end of their file (`#[cfg(test)] mod tests { use super::*; }`);
//! a module's larger tests in `foo/tests.rs`, declared inside foo by `#[cfg(test)] mod tests;`
//! (several topics: `foo/tests/<topic>.rs`, as the plugin's scenarios). Other modules are named
//! from `crate::`, never `super::super::`. Tests that need a broker live in tests/.
#![deny(unsafe_code)]

pub mod acl;
pub mod alg;
#[allow(unsafe_code)]
pub mod broker;
pub mod cache;
pub mod config;
pub mod diagnose;
pub mod hashers;
pub mod host;
pub mod introspect;
pub mod keys;
pub mod loaded;
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
pub mod token;
pub mod verify;
