//! What the host broker provides and expects, in our own types: the handlers are written against
//! [`Broker`] so they run without mosquitto in unit tests, and `src/broker/` maps mosquitto's C
//! API onto these. A leaf: it imports nothing of this crate.

pub const LOG_PREFIX: &str = "jwt-auth";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
}

/// An opaque handle on a connected client, valid for the duration of one callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientRef(pub usize);

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
    /// holds is ignored). True when, after a positive answer, `client` is the connection that
    /// now holds the id; `client` is only compared, never used.
    fn complete_auth(&self, client: ClientRef, client_id: &str, ok: bool) -> bool;
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
