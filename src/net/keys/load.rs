//! Builds the key sources a configuration names: a static key (`mode: local`), a JWK set file, or
//! a remote JWK set (uri or discovery), alone or one per issuer. Nothing here touches the network:
//! remote sources start empty and fetch once [`KeyRing::start`] runs their threads.
use super::ring::{Entry, KeyRing, Source};
use super::{RemoteKeys, RemoteSpec};
use crate::alg::{Alg, KeyKind};
use crate::config::{Config, ConfigError, JwksSource, Mode, Resolved, Secret};
use crate::keys::{parse_jwk_set, parse_pem_public_key, short_secret, KeyBytes, KeySet, Origin, SigKey, VerifyKey};
use crate::metrics::Metrics;
use crate::notices::Notices;
use std::sync::Arc;
use std::time::Duration;

/// The key sources and the warnings met while loading the static ones (skipped JWKs).
pub fn build_ring(
    cfg: &Config,
    notices: &Notices,
    metrics: &Arc<Metrics>,
) -> Result<(KeyRing, Vec<String>), ConfigError> {
    let mut warnings = Vec::new();
    let mut entries = Vec::new();
    let by_issuer = !cfg.issuer_keys.is_empty();
    match cfg.mode {
        Mode::Local => {
            let m = cfg.local.as_ref().ok_or_else(|| ConfigError::new("options.modes.local", "missing"))?;
            let set = KeySet { keys: vec![local_key(m, &cfg.algorithms)?] };
            check_usable(&set, cfg, "algorithm")?;
            let source = Source::Static(Arc::new(set));
            entries.push(Entry { issuer: None, config_path: "options.modes.local".into(), source });
        }
        Mode::Jwks if by_issuer => {
            for (i, ik) in cfg.issuer_keys.iter().enumerate() {
                let at = format!("options.issuerKeys[{i}]");
                let (source, config_path) = jwks_source(&ik.keys, cfg, &at, notices, metrics, &mut warnings)?;
                entries.push(Entry { issuer: Some(ik.issuer.clone()), config_path, source });
            }
        }
        Mode::Jwks => {
            let src = cfg.jwks.as_ref().ok_or_else(|| ConfigError::new("options.modes.jwks", "missing"))?;
            let (source, config_path) = jwks_source(src, cfg, "options.modes.jwks", notices, metrics, &mut warnings)?;
            entries.push(Entry { issuer: None, config_path, source });
        }
    }
    Ok((KeyRing { entries, by_issuer }, warnings))
}

fn jwks_source(
    src: &JwksSource,
    cfg: &Config,
    at: &str,
    notices: &Notices,
    metrics: &Arc<Metrics>,
    warnings: &mut Vec<String>,
) -> Result<(Source, String), ConfigError> {
    if let Some(path) = &src.file_path {
        let at = format!("{at}.filePath");
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&at, format!("cannot read {}: {e}", path.display())))?;
        let (keys, w) = parse_jwk_set(&text, Origin::File)
            .map_err(|e| ConfigError::new(&at, format!("{}: {e}", path.display())))?;
        warnings.extend(w);
        let set = KeySet { keys };
        let alg_at = if cfg.issuer_keys.is_empty() { "algorithm" } else { at.as_str() };
        check_usable(&set, cfg, alg_at)?;
        return Ok((Source::Static(Arc::new(set)), at));
    }
    let spec = RemoteSpec {
        uri: src.uri.clone(),
        discovery: src.discovery.clone(),
        timeout: Duration::from_millis(src.timeout_ms),
        ttl: Duration::from_millis(src.cache_ttl_ms),
        cache_enabled: src.cache_enabled,
        respect_cache_headers: src.respect_cache_headers,
        min_interval: Duration::from_millis(src.min_refresh_interval_ms),
        algorithms: cfg.algorithms.clone(),
    };
    let at = if src.uri.is_some() { format!("{at}.uri") } else { format!("{at}.discovery") };
    Ok((Source::Remote(RemoteKeys::new(spec, notices.clone(), metrics.clone())), at))
}

fn check_usable(set: &KeySet, cfg: &Config, at: &str) -> Result<(), ConfigError> {
    set.check_usable(&cfg.algorithms).map_err(|e| ConfigError::new(at, e))
}

fn local_key(m: &Secret, algorithms: &[Alg]) -> Result<VerifyKey, ConfigError> {
    let Resolved { at, value: text } = m.resolve("options.modes.local")?;
    if text.trim_start().starts_with("-----BEGIN") {
        let (kind, key) = parse_pem_public_key(&text).map_err(|e| ConfigError::new(&at, e))?;
        return Ok(VerifyKey { kid: None, kind, alg: None, key });
    }
    let secret = text.as_str();
    if secret.is_empty() {
        return Err(ConfigError::new(at, "the shared secret is empty"));
    }
    let fix = "use a longer random secret (openssl rand -base64 64 makes one)";
    let key = SigKey::new(KeyKind::Hmac, KeyBytes::Secret(secret.as_bytes()))
        .map_err(|e| ConfigError::new(&at, format!("{e}: {fix}")))?;
    // Every HMAC algorithm allowed must get a long enough key, not only the shortest one.
    if let Some(a) = algorithms.iter().find(|a| a.key_kind() == KeyKind::Hmac && !key.supports(**a)) {
        let short = short_secret(secret.len(), *a);
        return Err(ConfigError::new(&at, format!("{short}: {fix}, or drop {} from \"algorithm\"", a.name())));
    }
    Ok(VerifyKey { kid: None, kind: KeyKind::Hmac, alg: None, key })
}
