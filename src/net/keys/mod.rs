//! Remote key sets: each one's background thread (`remote`), one fetch (`fetch`: discovery, then
//! the set) and when the next one is due (`schedule`). The ring of a configuration's sources is
//! src/loaded/ring.rs.
pub mod fetch;
pub mod remote;
mod schedule;

pub use fetch::RemoteSpec;
pub use remote::RemoteKeys;
