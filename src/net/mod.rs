//! The network part: the only code with threads and HTTP. Key refresh (`keys`), OIDC discovery
//! (`discovery`), revocation checks (`introspect`) and the credentials exchange (`exchange`) all
//! use the one HTTP client setup in `http`. Threads never call mosquitto: they hand results to the
//! broker thread through queues and atomically swapped values (key sets, notices, answers), which
//! the event handlers drain.
pub(crate) mod cache_headers;
#[cfg(test)]
pub(crate) mod canned;
pub mod discovery;
pub mod exchange;
pub mod http;
pub mod introspect;
pub mod keys;
