//! One loaded configuration: the verifier, its key sources, the verified-token cache and the
//! identity rules. Replaced whole on reload, so a cached verdict never outlives the rules that
//! produced it; the cache is also emptied whenever a key source swaps in a new set.
use crate::cache::{digest, VerifiedCache};
use crate::config::{Config, ConfigError, Revocation, RevocationEndpoint, TokenSource};
use crate::logsafe::clean;
use crate::metrics::Metrics;
use crate::net::introspect::request::{Checker, Kind, Url};
use crate::net::introspect::Introspector;
use crate::net::keys::{build_ring, KeyRing, Source};
use crate::notices::Notices;
use crate::pattern::compile_all;
use crate::refusal::{Reason, Refused};
use crate::token::Token;
use crate::verify::Verifier;
use parking_lot::Mutex;
use std::sync::Arc;

pub struct Loaded {
    /// Unique per loaded configuration (an address could be reused after a reload frees one).
    pub generation: u64,
    pub config: Config,
    pub verifier: Verifier,
    pub keys: KeyRing,
    /// Log lines from this engine's key refresh threads, for the broker thread to write.
    pub notices: Notices,
    cache: Mutex<Cache>,
    /// Revocation checks (options.revocation): worker threads, started with the key sources.
    pub introspector: Option<Introspector>,
    /// `options.credentialsExchange`: its token cache lives and dies with this configuration.
    pub exchange: Option<crate::net::exchange::Exchanger>,
    /// `options.logout`: the access-token checks with the logout audience and no `exp` required.
    logout: Option<Verifier>,
    /// Which claims a verified token keeps beyond sub, iss and the times (see [`Loaded::slim`]).
    keep: Keep,
    /// The issuers seen so far, shared by every token and session of that issuer.
    issuers: Mutex<Vec<Arc<str>>>,
}

/// The claims later decisions read from a verified token: authorization (rules and claim lists read
/// any claim), the revocation and exchange paths (they read `iss` from the map), the claim
/// bindings. Only these are kept, so a cached token costs tens of bytes instead of a claims map.
enum Keep {
    All,
    Only(Vec<String>),
}

/// Distinct issuers interned; beyond that (no issuer list configured and many issuers) each token
/// gets its own copy.
const MAX_INTERNED_ISSUERS: usize = 64;

struct Cache {
    verified: VerifiedCache,
    /// The key ring's generation the entries were verified under.
    generation: u64,
}

/// What the connection's identity becomes once its token is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The username bound to the token (matchUsernameTo...), None when no binding is configured;
    /// the token's own `sub` when bound to it (shared, not copied).
    pub username: Option<Arc<str>>,
    /// The username mosquitto should carry from now on, when it differs from what the client sent.
    pub set_username: Option<String>,
}

impl Loaded {
    /// Builds an engine without any network I/O (remote key sources fetch once [`KeyRing::start`]
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
        };
        let logout = config.logout.as_ref().map(|l| Verifier {
            audiences: vec![crate::pattern::Pattern::Exact(l.audience.clone())],
            required_scopes: Vec::new(),
            validate_expiration: false,
            algorithms: verifier.algorithms.clone(),
            issuers: verifier.issuers.clone(),
            leeway: verifier.leeway,
            max_token_bytes: verifier.max_token_bytes,
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
        let keep = if config.authorization.is_some() || config.revocation.is_some() || exchange.is_some() {
            Keep::All
        } else {
            // A dotted path (`realm_access.roles`) starts at a top-level claim.
            let top = |p: &Option<String>| p.as_deref().and_then(|p| p.split('.').next()).map(str::to_string);
            // The logout gate and the session index match the provider session (`sid`).
            let sid = config.logout.as_ref().map(|_| "sid".to_string());
            Keep::Only(
                [top(&c.match_client_id_to_claim), top(&c.match_username_to_claim), sid]
                    .into_iter()
                    .flatten()
                    .collect(),
            )
        };
        let issuers = Mutex::new(Vec::new());
        let engine = Loaded {
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
            issuers,
        };
        Ok((engine, warnings))
    }

    pub fn token_source(&self) -> TokenSource {
        self.config.common.token_source
    }

    /// Verifies a token, using the cache of already verified signatures. Never blocks: the keys are
    /// whatever the key sources hold now; an unknown kid (or no keys yet) asks for a background
    /// refresh and refuses this token.
    pub fn authenticate(&self, token: &str, now: f64) -> Result<Arc<Token>, Refused> {
        self.check_size(token)?;
        let cached = {
            let mut c = self.cache.lock();
            let generation = self.keys.generation();
            if c.generation != generation {
                c.verified.clear();
                c.generation = generation;
            }
            c.verified.enabled()
        };
        if !cached {
            return self.verify_uncached(token, now).map(|t| Arc::new(self.slim(t)));
        }
        let d = digest(token);
        let hit = self.cache.lock().verified.get(&d, now);
        let t = match hit {
            Some(t) => t,
            None => {
                let t = Arc::new(self.slim(self.verify_signed(token)?));
                // Past exp + leeway the time check refuses it anyway; without exp checks, MAX_TTL bounds it.
                let until = match (self.verifier.validate_expiration, t.exp) {
                    (true, Some(exp)) => exp + self.verifier.leeway,
                    _ => f64::INFINITY,
                };
                self.cache.lock().verified.insert(d, t.clone(), until, now);
                t
            }
        };
        self.verifier.check_time(&t, now)?;
        Ok(t)
    }

    /// Drops the claims no later decision reads, and shares the issuer string.
    fn slim(&self, mut t: Token) -> Token {
        if let Keep::Only(names) = &self.keep {
            if names.is_empty() {
                t.claims = Default::default();
            } else {
                t.claims.retain(|k, _| names.contains(k));
            }
        }
        if let Some(iss) = t.iss.take() {
            let mut known = self.issuers.lock();
            t.iss = match known.iter().find(|k| **k == iss) {
                Some(k) => Some(k.clone()),
                None if known.len() < MAX_INTERNED_ISSUERS => {
                    known.push(iss.clone());
                    Some(iss)
                }
                None => Some(iss),
            };
        }
        t
    }

    /// Whether a username binding (matchUsernameTo...) is configured.
    pub fn binds_username(&self) -> bool {
        self.config.common.match_username_to_subject || self.config.common.match_username_to_claim.is_some()
    }

    /// Signature, claims and time, without the cache.
    pub fn verify_uncached(&self, token: &str, now: f64) -> Result<Token, Refused> {
        self.check_size(token)?;
        let t = self.verify_signed(token)?;
        self.verifier.check_time(&t, now)?;
        Ok(t)
    }

    fn check_size(&self, token: &str) -> Result<(), Refused> {
        if token.len() > self.verifier.max_token_bytes {
            return Err(Refused::new(
                Reason::TooLarge,
                format!("{} bytes, limit {}", token.len(), self.verifier.max_token_bytes),
            ));
        }
        Ok(())
    }

    /// A back-channel logout token (OIDC Back-Channel Logout §2.6), with the keys of its issuer.
    /// The `jti` replay check is the caller's (it needs state that outlives reloads).
    pub fn verify_logout(&self, token: &str, now: f64) -> Result<crate::logout::Logout, Refused> {
        let (Some(v), Some(l)) = (&self.logout, &self.config.logout) else {
            return Err(Refused::new(Reason::Internal, "options.logout is not configured"));
        };
        self.check_size(token)?;
        let rules = crate::logout::Rules { max_age: l.max_age_seconds as f64, leeway: self.verifier.leeway };
        self.with_keys(token, |keys| crate::logout::verify(v, keys, token, rules, now))
    }

    fn verify_signed(&self, token: &str) -> Result<Token, Refused> {
        let keep = match &self.keep {
            Keep::All => None,
            Keep::Only(names) => Some(names.as_slice()),
        };
        self.with_keys(token, |keys| self.verifier.verify_signed_keeping(token, keys, keep))
    }

    /// Runs `f` with the keys of the token's issuer; a miss asks that source for a refresh.
    fn with_keys<T>(
        &self,
        token: &str,
        f: impl FnOnce(&crate::keys::KeySet) -> Result<T, Refused>,
    ) -> Result<T, Refused> {
        let entry = self.keys.select(|| crate::verify::unverified_issuer(token))?;
        let keys = entry.keys();
        f(&keys).map_err(|mut r| {
            match r.reason {
                Reason::UnknownKid => entry.missed(),
                Reason::NoKeys => {
                    entry.missed();
                    r.detail = format!("no verification keys are loaded yet from {}", entry.label());
                }
                _ => {}
            }
            r
        })
    }

    pub fn cached_tokens(&self) -> usize {
        self.cache.lock().verified.len()
    }

    /// Ties the connection to the token: client id and username bindings.
    pub fn bind_identity(
        &self,
        t: &Token,
        client_id: Option<&str>,
        username: Option<&str>,
    ) -> Result<Identity, Refused> {
        let c = &self.config.common;
        if c.match_client_id_to_subject {
            let sub =
                t.sub.as_deref().ok_or_else(|| Refused::new(Reason::BadSubject, "no sub to match the client id"))?;
            if client_id != Some(sub) {
                return Err(Refused::new(Reason::ClientIdMismatch, "client id is not the token's subject"));
            }
        }
        if let Some(claim) = &c.match_client_id_to_claim {
            let want = string_claim(t, claim)?;
            if client_id != Some(want) {
                return Err(Refused::new(
                    Reason::ClientIdMismatch,
                    format!("client id is not claim {}", clean(claim, 64)),
                ));
            }
        }
        let wanted: Option<Arc<str>> = if c.match_username_to_subject {
            Some(t.sub.clone().ok_or_else(|| Refused::new(Reason::BadSubject, "no sub to set the username from"))?)
        } else if let Some(claim) = &c.match_username_to_claim {
            Some(string_claim(t, claim)?.into())
        } else {
            None
        };
        let Some(bound) = wanted else { return Ok(Identity { username: None, set_username: None }) };
        let wanted = &*bound;
        // When the token travels in the username field, that field is the token, not a name to compare.
        let sent = match c.token_source {
            TokenSource::Password => username.filter(|u| !u.is_empty()),
            TokenSource::Username => None,
        };
        match sent {
            Some(u) if u == wanted => Ok(Identity { username: Some(bound), set_username: None }),
            Some(_) if c.refuse_username_mismatch => {
                Err(Refused::new(Reason::UsernameMismatch, "username differs from the token's identity"))
            }
            _ => Ok(Identity { set_username: Some(wanted.to_string()), username: Some(bound) }),
        }
    }
}

fn string_claim<'a>(t: &'a Token, claim: &str) -> Result<&'a str, Refused> {
    match t.claim(claim) {
        // Like the subject: the value becomes a username or client id that topic patterns substitute.
        Some(serde_json::Value::String(s))
            if !s.is_empty() && !s.chars().any(|c| c.is_control() || c == '+' || c == '#') =>
        {
            Ok(s)
        }
        Some(_) => Err(Refused::new(
            Reason::BadClaim,
            format!("claim {} is not a usable string (empty, control or wildcard characters)", clean(claim, 64)),
        )),
        None => Err(Refused::new(Reason::BadClaim, format!("claim {} is missing", clean(claim, 64)))),
    }
}

/// The revocation endpoint and its workers (not started yet). No network I/O here: a discovered
/// endpoint is read from the key sources' discovery when a check runs.
fn build_introspector(
    r: &Revocation,
    keys: &KeyRing,
    notices: &Notices,
    metrics: &Arc<Metrics>,
) -> Result<Introspector, ConfigError> {
    let timeout = std::time::Duration::from_millis(r.timeout_ms);
    let checker = match &r.endpoint {
        RevocationEndpoint::Plain(p) => {
            Checker { url: Url::Fixed(p.uri.clone()), kind: Kind::Plain(p.clone()), timeout }
        }
        RevocationEndpoint::Introspection(i) => {
            let url = match &i.uri {
                Some(u) => Url::Fixed(u.clone()),
                None => {
                    let discovered: Vec<_> = keys
                        .entries
                        .iter()
                        .filter_map(|e| match &e.source {
                            Source::Remote(rk) if rk.spec().discovery.is_some() => {
                                Some((e.issuer.clone(), rk.discovered()))
                            }
                            _ => None,
                        })
                        .collect();
                    if discovered.is_empty() {
                        return Err(ConfigError::new(
                            "options.revocation.introspection.uri",
                            "missing: give a uri, or use OIDC discovery for the keys (its introspection_endpoint is then used)",
                        ));
                    }
                    Url::Discovered(discovered)
                }
            };
            let secret = i.client_secret.resolve("options.revocation.introspection.clientSecret")?;
            Checker::introspection(i, secret.value, url, timeout)
        }
    };
    Ok(Introspector::new(checker, timeout, r.queue_size, r.workers, notices.clone(), metrics.clone()))
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
