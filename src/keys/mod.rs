//! Verification keys as key material: static keys (shared secret or PEM), JWK sets parsed from
//! files or from what src/net/keys fetched; kid selection. Which sources a configuration has is
//! src/loaded/ring.rs. Also the signer
//! for `mqtt-jwt mint` and the tests (`signer.rs`), which the plugin never calls.
mod der;
mod jwk;
mod pem;
mod rsa;
mod sig;
mod signer;

pub use jwk::{parse_jwk_set, Origin};
pub use pem::parse_pem_public_key;
pub use rsa::has_roca_fingerprint;
pub use sig::{short_secret, KeyBytes, SigKey};
#[cfg(test)]
pub(crate) use signer::hs256_token;
pub use signer::{encode_jws, encode_jws_with_header, Signer};

use crate::alg::{Alg, KeyKind};
use crate::logsafe::clean;

pub struct VerifyKey {
    pub kid: Option<String>,
    pub kind: KeyKind,
    /// A JWK's `alg` pins the key to that one algorithm.
    pub alg: Option<Alg>,
    pub key: SigKey,
}

/// Why a key cannot verify an algorithm; cheap to compute on every CONNECT, put in words only for
/// a refusal or a load error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfit {
    Kind,
    /// Pinned by the JWK's own `alg` to another algorithm.
    Pinned(Alg),
    /// An HMAC key shorter than this hash (RFC 7518 §3.2).
    ShortSecret,
}

impl VerifyKey {
    pub fn accepts(&self, alg: Alg) -> bool {
        self.unfit(alg).is_none()
    }

    pub fn unfit(&self, alg: Alg) -> Option<Unfit> {
        if alg.key_kind() != self.kind {
            Some(Unfit::Kind)
        } else if let Some(pin) = self.alg.filter(|a| *a != alg) {
            Some(Unfit::Pinned(pin))
        } else if !self.key.supports(alg) {
            Some(Unfit::ShortSecret)
        } else {
            None
        }
    }

    /// Why this key cannot verify `alg`, in words, or None when it can.
    pub fn refuses(&self, alg: Alg) -> Option<String> {
        self.unfit(alg).map(|u| match u {
            Unfit::Kind => format!("a {} cannot verify {}", self.kind.name(), alg.name()),
            Unfit::Pinned(pin) => format!("pinned to {} by its JWK \"alg\"", pin.name()),
            Unfit::ShortSecret => sig::short_secret(self.key.secret_len(), alg),
        })
    }

    fn name(&self) -> String {
        match &self.kid {
            Some(kid) => format!("key {}", clean(kid, 64)),
            None => format!("the {}", self.kind.name()),
        }
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
    /// The token's kid names more than one key of the set: none of them is tried.
    AmbiguousKid(usize),
    /// With the reason of the keys the token could have meant.
    NoKeyForAlg(String),
}

impl KeySet {
    pub fn candidates(&self, alg: Alg, kid: Option<&str>) -> Candidates<'_> {
        let mut found: Vec<&VerifyKey> = Vec::new();
        let mut named = 0;
        // Keys of the token's kind that it could have meant, rendered only for the refusal.
        let mut unfit: Vec<&VerifyKey> = Vec::new();
        for k in &self.keys {
            let kid_ok = match (kid, k.kid.as_deref()) {
                (Some(want), Some(have)) => want == have,
                // A token with a kid may still be checked by a key without one (a single static key).
                (Some(_), None) => true,
                (None, _) => true,
            };
            if kid_ok && kid.is_some() && k.kid.is_some() {
                named += 1;
            }
            match k.unfit(alg) {
                None if kid_ok => found.push(k),
                Some(Unfit::Pinned(_) | Unfit::ShortSecret) if kid_ok => unfit.push(k),
                _ => {}
            }
        }
        if named > 1 {
            return Candidates::AmbiguousKid(named);
        }
        if found.is_empty() {
            if kid.is_some() && named == 0 && self.keys.iter().any(|k| k.kid.is_some()) {
                return Candidates::UnknownKid;
            }
            let reasons: Vec<String> =
                unfit.iter().take(4).map(|k| format!("{}: {}", k.name(), k.refuses(alg).unwrap_or_default())).collect();
            let detail = if reasons.is_empty() {
                format!("no {} for {}", alg.key_kind().name(), alg.name())
            } else {
                format!("{}: {}", alg.name(), reasons.join("; "))
            };
            return Candidates::NoKeyForAlg(detail);
        }
        Candidates::Found(found)
    }

    /// Fails, saying why for each key, when no key can verify any of the `allowed` algorithms.
    pub fn check_usable(&self, allowed: &[Alg]) -> Result<(), String> {
        if !self.usable_algs(allowed).is_empty() {
            return Ok(());
        }
        let algs: Vec<_> = allowed.iter().map(|a| a.name()).collect();
        let reasons: Vec<String> = self
            .keys
            .iter()
            .take(12)
            .map(|k| {
                let own: Vec<Alg> = allowed.iter().copied().filter(|a| a.key_kind() == k.kind).collect();
                match own.first() {
                    None => format!("{} ({}) verifies none of them", k.name(), k.kind.name()),
                    Some(a) => format!("{}: {}", k.name(), k.refuses(*a).unwrap_or_default()),
                }
            })
            .collect();
        Err(format!("no configured key can verify {}: {}", algs.join(", "), reasons.join("; ")))
    }

    /// Algorithms from `allowed` that at least one key can verify.
    pub fn usable_algs(&self, allowed: &[Alg]) -> Vec<Alg> {
        allowed.iter().copied().filter(|a| self.keys.iter().any(|k| k.accepts(*a))).collect()
    }
}
