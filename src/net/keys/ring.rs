//! Every key source of a configuration: one (`mode: local`, `options.modes.jwks`) or one per issuer
//! (`options.issuerKeys`, where the token's `iss` picks the source and an unknown issuer is refused
//! without any fetch).
use super::RemoteKeys;
use crate::keys::KeySet;
use crate::logsafe::clean;
use crate::refusal::{Reason, Refused};
use std::sync::Arc;
use std::time::Duration;

pub enum Source {
    /// Loaded once from the configuration (local key, JWK set file).
    Static(Arc<KeySet>),
    Remote(RemoteKeys),
}

pub struct Entry {
    /// Some when the ring is keyed by issuer.
    pub issuer: Option<String>,
    /// Key path in jwt.json, for error messages.
    pub config_path: String,
    pub source: Source,
}

impl Entry {
    pub fn keys(&self) -> Arc<KeySet> {
        match &self.source {
            Source::Static(s) => s.clone(),
            Source::Remote(r) => r.keys(),
        }
    }

    /// A token named a kid this source does not have, or came while it has no keys: refresh early.
    pub fn missed(&self) {
        if let Source::Remote(r) = &self.source {
            r.request_refresh();
        }
    }

    pub fn label(&self) -> String {
        match &self.source {
            Source::Static(_) => self.config_path.clone(),
            Source::Remote(r) => r.label().to_string(),
        }
    }
}

pub struct KeyRing {
    pub entries: Vec<Entry>,
    pub by_issuer: bool,
}

impl KeyRing {
    /// The source for a token: the only one, or the one of its (not yet verified) `iss`, read by
    /// `issuer` only when there are several (the verifier parses tokens, key material does not).
    /// The signature is then checked with that issuer's keys only, so the choice cannot be abused.
    pub fn select(&self, issuer: impl FnOnce() -> Result<Option<String>, Refused>) -> Result<&Entry, Refused> {
        if !self.by_issuer {
            return self.entries.first().ok_or_else(|| Refused::new(Reason::NoKeys, "no key source"));
        }
        let iss = issuer()?;
        let iss = iss.ok_or_else(|| Refused::new(Reason::WrongIssuer, "no iss"))?;
        self.entries.iter().find(|e| e.issuer.as_deref() == Some(iss.as_str())).ok_or_else(|| {
            Refused::new(Reason::WrongIssuer, format!("iss {} is not a configured issuer", clean(&iss, 100)))
        })
    }

    /// Changes whenever any source swaps in a new set.
    pub fn generation(&self) -> u64 {
        self.remotes().map(|r| r.generation()).fold(0u64, u64::wrapping_add)
    }

    pub fn remotes(&self) -> impl Iterator<Item = &RemoteKeys> {
        self.entries.iter().filter_map(|e| match &e.source {
            Source::Remote(r) => Some(r),
            Source::Static(_) => None,
        })
    }

    pub fn has_remote(&self) -> bool {
        self.remotes().next().is_some()
    }

    /// Starts every remote source's background thread.
    pub fn start(&self) -> Result<(), String> {
        self.remotes().try_for_each(RemoteKeys::start)
    }

    /// On reload: a remote source that is configured exactly as before starts with the keys it had,
    /// so connected clients (re-checked by mosquitto after a reload) see no gap.
    pub fn adopt(&self, old: &KeyRing) {
        for e in &self.entries {
            let Source::Remote(new) = &e.source else { continue };
            let same = old.entries.iter().find_map(|o| match &o.source {
                Source::Remote(r) if o.issuer == e.issuer && r.spec() == new.spec() => Some(r),
                _ => None,
            });
            if let Some(r) = same {
                new.seed(r.keys());
                new.discovered().store(r.discovered().load_full());
            }
        }
    }

    /// None while a source's first fetch is under way; then Ok, or the first failure with its key path.
    pub fn outcome(&self) -> Option<Result<(), (String, String)>> {
        for e in &self.entries {
            if let Source::Remote(r) = &e.source {
                match r.outcome()? {
                    Ok(()) => {}
                    Err(err) => return Some(Err((e.config_path.clone(), format!("{}: {err}", r.label())))),
                }
            }
        }
        Some(Ok(()))
    }

    /// Blocks until every remote source has answered once (start-up with lazyConnect false, CLI).
    pub fn wait(&self) -> Result<(), (String, String)> {
        for e in &self.entries {
            if let Source::Remote(r) = &e.source {
                // Discovery and the JWK set: two requests, each bounded by the timeout.
                let bound = r.spec().timeout * 2 + Duration::from_secs(5);
                r.wait_outcome(bound).map_err(|err| (e.config_path.clone(), format!("{}: {err}", r.label())))?;
            }
        }
        Ok(())
    }
}
