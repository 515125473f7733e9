//! One fetch of a remote key source: discovery when configured, then the JWK set, parsed and checked
//! against the configured algorithms. Runs on the source's background thread.
use crate::alg::Alg;
use crate::keys::{parse_jwk_set, KeySet, Origin};
use crate::net::discovery::{self, Discovered};
use crate::net::http;
use std::time::Duration;

/// Cache headers never make a source fetch more often than its minimum refresh interval, nor
/// keep a set longer than a day.
const MAX_HEADER_TTL: Duration = Duration::from_secs(86_400);
/// A configured ttlMs below this would spin.
const MIN_TTL: Duration = Duration::from_millis(100);

/// A remote key source as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSpec {
    /// The JWKS URL, or None with discovery.
    pub uri: Option<String>,
    /// The issuer whose discovery document names the JWKS URL.
    pub discovery: Option<String>,
    pub timeout: Duration,
    pub ttl: Duration,
    pub cache_enabled: bool,
    pub respect_cache_headers: bool,
    pub min_interval: Duration,
    pub algorithms: Vec<Alg>,
}

impl RemoteSpec {
    /// Names the source in log lines.
    pub fn label(&self) -> String {
        match (&self.uri, &self.discovery) {
            (Some(u), _) => crate::logsafe::clean(u, 200),
            (None, Some(iss)) => format!("issuer {} (discovery)", crate::logsafe::clean(iss, 200)),
            (None, None) => "-".into(),
        }
    }
}

pub struct Fetched {
    pub set: KeySet,
    pub warnings: Vec<String>,
    /// Until the next scheduled refresh.
    pub ttl: Duration,
    /// Of the response body: an unchanged set is not swapped in again.
    pub digest: [u8; 32],
    pub jwks_uri: String,
}

pub struct Fetcher {
    spec: RemoteSpec,
    agent: ureq::Agent,
    discovered: Option<Discovered>,
}

impl Fetcher {
    pub fn new(spec: RemoteSpec) -> Self {
        let agent = http::agent(spec.timeout);
        Fetcher { spec, agent, discovered: None }
    }

    pub fn discovered(&self) -> Option<&Discovered> {
        self.discovered.as_ref()
    }

    pub fn fetch(&mut self) -> Result<Fetched, String> {
        let jwks_uri = match (&self.spec.uri, &self.spec.discovery) {
            (Some(u), _) => u.clone(),
            (None, Some(issuer)) => match self.discovered.as_ref().and_then(|d| d.jwks_uri.clone()) {
                Some(u) => u,
                None => {
                    let d = discovery::fetch(&self.agent, issuer, self.spec.timeout)?;
                    let Some(u) = d.jwks_uri.clone() else {
                        return Err(format!(
                            "{}: discovery document has no jwks_uri",
                            discovery::discovery_url(issuer)
                        ));
                    };
                    self.discovered = Some(d);
                    u
                }
            },
            (None, None) => return Err("no uri".into()),
        };
        let result = self.fetch_jwks(&jwks_uri);
        if result.is_err() {
            // The provider may have moved its keys: ask discovery again next time.
            self.discovered = None;
        }
        result.map_err(|e| {
            if self.spec.uri.is_some() {
                e
            } else {
                format!("{}: {e}", crate::logsafe::clean(&jwks_uri, 200))
            }
        })
    }

    fn fetch_jwks(&self, url: &str) -> Result<Fetched, String> {
        let resp = http::get(&self.agent, url, self.spec.timeout)?;
        let (keys, warnings) = parse_jwk_set(&resp.body, Origin::Remote)?;
        let set = KeySet { keys };
        set.check_usable(&self.spec.algorithms)?;
        let s = &self.spec;
        let ttl = match resp.fresh_for {
            _ if !s.cache_enabled => s.min_interval,
            Some(f) if s.respect_cache_headers => f.clamp(s.min_interval, MAX_HEADER_TTL.max(s.min_interval)),
            _ => s.ttl.max(MIN_TTL),
        };
        let digest = crate::cache::digest(&resp.body);
        Ok(Fetched { set, warnings, ttl, digest, jwks_uri: url.to_string() })
    }
}
