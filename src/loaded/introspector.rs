//! The revocation checker of one loaded configuration, built from options.revocation.
use crate::config::{ConfigError, KeyMaterial, Revocation, RevocationEndpoint};
use crate::introspect::request::{Checker, Kind, Url};
use crate::introspect::Introspector;
use crate::keys::{KeyRing, Source};
use crate::metrics::Metrics;
use crate::notices::Notices;
use std::sync::Arc;

/// The revocation endpoint and its workers (not started yet). No network I/O here: a discovered
/// endpoint is read from the key sources' discovery when a check runs.
pub(super) fn build_introspector(
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
                                Some((e.issuer.clone(), rk.introspection_endpoint()))
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
            Checker::introspection(i, secret(&i.client_secret)?, url, timeout)
        }
    };
    Ok(Introspector::new(checker, timeout, r.queue_size, r.workers, notices.clone(), metrics.clone()))
}

fn secret(m: &KeyMaterial) -> Result<String, ConfigError> {
    let at = "options.revocation.introspection.clientSecret";
    match m {
        KeyMaterial::Plain(s) => Ok(s.clone()),
        KeyMaterial::Env(var) => std::env::var(var)
            .map_err(|_| ConfigError::new(format!("{at}.env"), format!("environment variable {var} is not set"))),
        KeyMaterial::File(p) => std::fs::read_to_string(p)
            .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
            .map_err(|e| ConfigError::new(format!("{at}.filePath"), format!("cannot read {}: {e}", p.display()))),
    }
}
