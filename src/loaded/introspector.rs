//! The revocation checker of one loaded configuration, built from options.revocation.
use super::{KeyRing, Source};
use crate::config::{ConfigError, Revocation, RevocationEndpoint};
use crate::metrics::Metrics;
use crate::net::introspect::request::{Checker, Kind, Url};
use crate::net::introspect::Introspector;
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
