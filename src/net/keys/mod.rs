//! Remote JWK sets: each source's background thread (`remote`), one fetch (`fetch`: discovery,
//! then the set) and when the next one is due (`schedule`).
pub mod fetch;
pub mod remote;
mod schedule;

pub use fetch::RemoteSpec;
pub use remote::RemoteKeys;
