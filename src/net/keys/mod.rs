//! Key sources: the ring of a configuration's sources (`ring`, built by `load`: static keys, JWK
//! set files, remote sets), each remote set's background thread (`remote`), one fetch (`fetch`:
//! discovery, then the set) and when the next one is due (`schedule`).
pub mod fetch;
mod load;
pub mod remote;
pub mod ring;
mod schedule;

pub use fetch::RemoteSpec;
pub use load::build_ring;
pub use remote::RemoteKeys;
pub use ring::{KeyRing, Source};
