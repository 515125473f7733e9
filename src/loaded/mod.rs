//! One loaded configuration: what jwt.json built, replaced whole on reload so a cached verdict never
//! outlives the rules that produced it. Its jobs, one file each: the key sources (ring.rs, built by
//! key_sources.rs), verifying tokens through the verified-token cache and issuer interning
//! (authenticate.rs), binding the connection's identity to the token (identity.rs), building the
//! revocation checker (introspector.rs); the credentials exchanger and the logout verifier are
//! held here.
mod key_sources;
pub mod ring;
use crate::cache::VerifiedCache;
use crate::config::{Config, ConfigError, TokenSource};
use crate::metrics::Metrics;
use crate::net::introspect::Introspector;
use crate::notices::Notices;
use crate::pattern::compile_all;
use crate::verify::Verifier;
pub use key_sources::build_ring;
use parking_lot::Mutex;
pub use ring::{KeyRing, Source};
use std::sync::Arc;

mod authenticate;
mod identity;
mod introspector;

pub use authenticate::{Grant, Verified};
pub use identity::Identity;
use introspector::build_introspector;

pub struct Loaded {
    /// Unique per loaded configuration (an address could be reused after a reload frees one).
    pub generation: u64,
    pub config: Config,
    pub verifier: Verifier,
    pub keys: KeyRing,
    /// Log lines from this configuration's key refresh threads, for the broker thread to write.
    pub notices: Notices,
    cache: Mutex<Cache>,
    /// Revocation checks (options.revocation): worker threads, started with the key sources.
    pub introspector: Option<Introspector>,
    /// `options.credentialsExchange`: its token cache lives and dies with this configuration.
    pub exchange: Option<crate::net::exchange::Exchanger>,
    /// `options.logout`: the access-token checks with the logout audience and no `exp` required.
    logout: Option<Verifier>,
    /// The claims a verified token keeps beyond sub, iss and the times (see [`Loaded::verify_signed`]).
    keep: Vec<String>,
    /// Of those, the ones still kept once its permissions are compiled (identity bindings, `sid`).
    keep_granted: Vec<String>,
}

struct Cache {
    verified: VerifiedCache,
    /// The key ring's generation the entries were verified under.
    generation: u64,
}

impl Loaded {
    /// Builds a configuration without any network I/O (remote key sources fetch once [`KeyRing::start`]
    /// runs); warnings (e.g. skipped JWKs) are returned for the caller to log.
    pub fn new(config: Config) -> Result<(Loaded, Vec<String>), ConfigError> {
        Loaded::with_metrics(config, Arc::default())
    }

    /// Like [`Loaded::new`], counting into the plugin's `metrics` (they outlive reloads).
    pub fn with_metrics(config: Config, metrics: Arc<Metrics>) -> Result<(Loaded, Vec<String>), ConfigError> {
        let notices = Notices::default();
        let (keys, mut warnings) = build_ring(&config, &notices, &metrics)?;
        warnings.extend(config.revocation.iter().flat_map(|r| r.warnings()));
        let introspector =
            config.revocation.as_ref().map(|r| build_introspector(r, &keys, &notices, &metrics)).transpose()?;
        let c = &config.common;
        let verifier = Verifier {
            algorithms: config.algorithms.clone(),
            issuers: compile_all(&c.issuers),
            audiences: compile_all(&c.audiences),
            required_scopes: c.required_scopes.clone(),
            validate_expiration: c.validate_expiration,
            leeway: c.leeway_seconds as f64,
            max_token_bytes: c.max_token_bytes,
            last_header: Default::default(),
            issuers_seen: Default::default(),
        };
        let logout = config.logout.as_ref().map(|l| Verifier {
            audiences: vec![crate::pattern::Pattern::Exact(l.audience.clone())],
            required_scopes: Vec::new(),
            validate_expiration: false,
            algorithms: verifier.algorithms.clone(),
            issuers: verifier.issuers.clone(),
            leeway: verifier.leeway,
            max_token_bytes: verifier.max_token_bytes,
            last_header: Default::default(),
            issuers_seen: Default::default(),
        });
        let verified = VerifiedCache::new(config.verified_cache_entries);
        let cache = Mutex::new(Cache { verified, generation: keys.generation() });
        let exchange = match &config.credentials_exchange {
            Some(x) => {
                let discovered = shared_discovery(x, &keys);
                Some(crate::net::exchange::Exchanger::new(x.clone(), discovered, metrics.clone())?)
            }
            None => None,
        };
        static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let generation = GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // A dotted path (`realm_access.roles`) starts at a top-level claim.
        let top = |p: &Option<String>| p.as_deref().and_then(|p| p.split('.').next()).map(str::to_string);
        // The logout gate and the session index match the provider session (`sid`).
        let sid = config.logout.as_ref().map(|_| "sid".to_string());
        let keep_granted: Vec<String> =
            [top(&c.match_client_id_to_claim), top(&c.match_username_to_claim), sid].into_iter().flatten().collect();
        let mut keep = keep_granted.clone();
        for name in config.authorization.iter().flat_map(|a| a.claims_read()) {
            if !keep.contains(&name) {
                keep.push(name);
            }
        }
        let loaded = Loaded {
            generation,
            config,
            verifier,
            keys,
            notices,
            cache,
            introspector,
            exchange,
            logout,
            keep,
            keep_granted,
        };
        Ok((loaded, warnings))
    }

    pub fn token_source(&self) -> TokenSource {
        self.config.common.token_source
    }

    /// Whether a username binding (matchUsernameTo...) is configured.
    pub fn binds_username(&self) -> bool {
        self.config.common.match_username_to_subject || self.config.common.match_username_to_claim.is_some()
    }

    pub fn cached_tokens(&self) -> usize {
        self.cache.lock().verified.len()
    }
}

/// The discovery document a key source reads for the exchange's issuer: one fetch serves both.
fn shared_discovery(
    x: &crate::config::ExchangeConfig,
    keys: &KeyRing,
) -> Option<Arc<arc_swap::ArcSwapOption<crate::net::discovery::Discovered>>> {
    let crate::config::TokenEndpoint::Discovery(issuer) = &x.endpoint else { return None };
    keys.entries.iter().find_map(|e| match &e.source {
        Source::Remote(rk) if rk.spec().discovery.as_ref() == Some(issuer) => Some(rk.discovered()),
        _ => None,
    })
}
