//! Verification keys: static keys (shared secret or PEM), JWK sets from files or fetched over
//! HTTP(S) (directly or by OIDC discovery) on background threads; kid selection.
mod cache_headers;
mod der;
pub mod discovery;
mod fetch;
pub(crate) mod http;
mod jwk;
mod load;
mod pem;
pub mod remote;
pub mod ring;
mod schedule;
mod sig;

pub use fetch::RemoteSpec;
pub use jwk::parse_jwk_set;
pub use load::build_ring;
pub use pem::parse_pem_public_key;
pub use ring::{KeyRing, Source};
pub use sig::{KeyBytes, SigKey};

use crate::alg::{Alg, KeyKind};

pub struct VerifyKey {
    pub kid: Option<String>,
    pub kind: KeyKind,
    /// A JWK's `alg` pins the key to that one algorithm.
    pub alg: Option<Alg>,
    pub key: SigKey,
}

impl VerifyKey {
    pub fn accepts(&self, alg: Alg) -> bool {
        alg.key_kind() == self.kind && self.alg.is_none_or(|a| a == alg)
    }
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material (an HMAC key is a secret).
        f.debug_struct("VerifyKey").field("kid", &self.kid).field("kind", &self.kind).field("alg", &self.alg).finish()
    }
}

#[derive(Debug, Default)]
pub struct KeySet {
    pub keys: Vec<VerifyKey>,
}

/// Keys tried for one token: by kid when the token names one, else every key of the right kind.
pub enum Candidates<'a> {
    Found(Vec<&'a VerifyKey>),
    UnknownKid,
    NoKeyForAlg,
}

impl KeySet {
    pub fn candidates(&self, alg: Alg, kid: Option<&str>) -> Candidates<'_> {
        let mut found: Vec<&VerifyKey> = Vec::new();
        let mut kid_seen = false;
        for k in &self.keys {
            let kid_ok = match (kid, k.kid.as_deref()) {
                (Some(want), Some(have)) => want == have,
                // A token with a kid may still be checked by a key without one (a single static key).
                (Some(_), None) => true,
                (None, _) => true,
            };
            if kid_ok && kid.is_some() && k.kid.is_some() {
                kid_seen = true;
            }
            if kid_ok && k.accepts(alg) {
                found.push(k);
            }
        }
        if found.is_empty() {
            if kid.is_some() && !kid_seen && self.keys.iter().any(|k| k.kid.is_some()) {
                return Candidates::UnknownKid;
            }
            return Candidates::NoKeyForAlg;
        }
        Candidates::Found(found)
    }

    /// Fails, saying why, when no key can verify any of the `allowed` algorithms.
    pub fn check_usable(&self, allowed: &[Alg]) -> Result<(), String> {
        if !self.usable_algs(allowed).is_empty() {
            return Ok(());
        }
        let kinds: Vec<_> = self.keys.iter().map(|k| k.kind.name()).collect();
        let algs: Vec<_> = allowed.iter().map(|a| a.name()).collect();
        Err(format!("no configured key can verify {} (keys: {})", algs.join(", "), kinds.join(", ")))
    }

    /// Algorithms from `allowed` that at least one key can verify.
    pub fn usable_algs(&self, allowed: &[Alg]) -> Vec<Alg> {
        allowed.iter().copied().filter(|a| self.keys.iter().any(|k| k.accepts(*a))).collect()
    }
}
