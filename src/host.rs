//! What the host broker provides and expects, in our own types: the handlers are written against
//! [`Broker`] so they run without mosquitto in unit tests, and `src/broker/` maps mosquitto's C
//! API onto these. A leaf: it imports nothing of this crate.

use std::marker::PhantomData;

pub const LOG_PREFIX: &str = "jwt-auth";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
}

/// A connected client as the broker hands it to one callback: the lifetime `'cb` is that
/// callback's, so a handle cannot be kept after it returns (the real broker dereferences it).
/// Remember a client with [`ClientRef::key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientRef<'cb> {
    addr: usize,
    _callback: PhantomData<&'cb ()>,
}

impl<'cb> ClientRef<'cb> {
    /// For [`Broker`] implementations only: src/broker/'s entry points (the address of mosquitto's
    /// client) and the test hosts (any number). A test in src/broker/ checks that nothing else
    /// calls it.
    #[doc(hidden)]
    pub fn from_host(addr: usize) -> ClientRef<'cb> {
        ClientRef { addr, _callback: PhantomData }
    }

    /// What [`ClientRef::from_host`] was given, for the [`Broker`] implementation to use.
    pub fn host_addr(self) -> usize {
        self.addr
    }

    /// The client as something to remember beyond the callback.
    pub fn key(self) -> ClientKey {
        ClientKey(self.addr)
    }
}

/// Which connection, kept beyond a callback (sessions, waiting CONNECTs, revocation tracking):
/// only compared and hashed, never turned back into a handle the broker would dereference.
/// Unique among live connections (mosquitto's client address), so stale keys must be dropped
/// when a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey(usize);

#[cfg(test)]
impl ClientKey {
    /// The key of a test host's client `n` (as [`ClientRef::from_host`]`(n).key()`).
    pub fn test(n: usize) -> ClientKey {
        ClientKey(n)
    }
}

/// What the handlers need from the broker. The real one wraps mosquitto's functions (src/broker/).
pub trait Broker {
    fn log(&self, level: Level, msg: &str);
    fn client_id(&self, c: ClientRef) -> Option<String>;
    fn client_address(&self, c: ClientRef) -> Option<String>;
    fn client_username(&self, c: ClientRef) -> Option<String>;
    /// Replaces the connection's username; false if the broker refused (out of memory).
    fn set_username(&self, c: ClientRef, name: &str) -> bool;
    /// Disconnects a client (never the one whose callback is running).
    fn kick(&self, client_id: &str, with_will: bool) -> bool;
    /// Queues a message for one client only, whatever its subscriptions.
    fn publish_to(&self, client_id: &str, topic: &str, payload: &[u8]) -> bool;
    /// Publishes to every subscriber (QoS 0), as the broker itself: clients cannot publish to `$SYS`.
    fn publish(&self, topic: &str, payload: &[u8], retain: bool) -> bool;
    /// Whether BASIC_AUTH may answer "later" ([`AuthResult::Delayed`], mosquitto 2.1).
    fn can_defer_auth(&self) -> bool;
    /// Answers a delayed CONNECT by client id (broker thread only; an id the broker no longer
    /// holds is ignored). After a positive answer, when `client` is the connection that now holds
    /// the id: its handle, usable for the rest of this callback.
    fn complete_auth(&self, client: ClientKey, client_id: &str, ok: bool) -> Option<ClientRef<'_>>;
    /// Whether the connection asked for a clean start (no session resumed, no messages queued).
    fn client_clean_start(&self, c: ClientRef) -> bool;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthResult {
    Accept,
    Refuse,
    /// Not ours (another enhanced-auth method, or credentials that are not a JWT under
    /// nonJwtCredentials "defer"): let other plugins answer.
    Defer,
    /// Answered later, from TICK (mosquitto 2.1's MOSQ_ERR_AUTH_DELAYED): the revocation
    /// endpoint is being asked.
    Delayed,
}

/// The wall clock, read only at the edges (broker entry points, worker threads, the CLI): the
/// handlers take `now` as a parameter.
pub fn now_seconds() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
