//! Key sources in jwt.json: `options.modes.jwks` (file, uri or OIDC discovery) and the
//! `options.issuerKeys` addition (one source per issuer).
use super::walk::{ConfigError, Obj, Result};
use super::{Common, IssuerKeys, JwksSource, DEFAULT_MIN_REFRESH_MS};
use serde_json::Value;
use std::path::PathBuf;

/// `options.modes.jwks` or one `options.issuerKeys` entry (`issuer` given: discovery reads it).
pub(super) fn parse_jwks(mut o: Obj, issuer: Option<&str>) -> Result<JwksSource> {
    let uri = o.string("uri")?.map(str::to_string);
    if let Some(u) = &uri {
        check_http_url(&o.key_path("uri"), u)?;
    }
    let file_path = o.string("filePath")?.map(PathBuf::from);
    let discovery = o.bool("discovery", false)?;
    let timeout_ms = o.u64("timeoutMs", 10_000)?;
    if !(1..=600_000).contains(&timeout_ms) {
        return Err(ConfigError::new(o.key_path("timeoutMs"), "must be between 1 and 600000"));
    }
    let min_refresh_interval_ms = o.u64("minRefreshIntervalMs", DEFAULT_MIN_REFRESH_MS)?;
    if !(100..=86_400_000).contains(&min_refresh_interval_ms) {
        return Err(ConfigError::new(o.key_path("minRefreshIntervalMs"), "must be between 100 and 86400000"));
    }
    let (cache_enabled, cache_ttl_ms, respect_cache_headers) = match o.object("cache")? {
        Some(mut c) => {
            let r = (c.bool("enabled", true)?, c.u64("ttlMs", 60_000)?, c.bool("respectCacheHeaders", false)?);
            c.finish()?;
            r
        }
        None => (true, 60_000, false),
    };
    let path = o.path.clone();
    o.finish()?;
    let given = [uri.is_some(), file_path.is_some(), discovery].iter().filter(|b| **b).count();
    match given {
        0 => return Err(ConfigError::new(path, "needs a uri, a filePath or discovery: true")),
        1 => {}
        _ => return Err(ConfigError::new(path, "give only one of uri, filePath, discovery (not both)")),
    }
    let discovery = match (discovery, issuer) {
        (false, _) => None,
        (true, Some(iss)) => Some(iss.to_string()),
        // Filled from options.common.issuer once that is parsed (resolve_discovery).
        (true, None) => Some(String::new()),
    };
    Ok(JwksSource {
        file_path,
        uri,
        discovery,
        timeout_ms,
        cache_enabled,
        cache_ttl_ms,
        respect_cache_headers,
        min_refresh_interval_ms,
    })
}

/// `options.modes.jwks.discovery` uses `options.common.issuer`, which must then name one exact URL.
pub(super) fn resolve_discovery(mut j: JwksSource, common: &Common) -> Result<JwksSource> {
    if j.discovery.is_none() {
        return Ok(j);
    }
    let at = "options.modes.jwks.discovery";
    let [issuer] = common.issuers.as_slice() else {
        return Err(ConfigError::new(at, "needs options.common.issuer set to exactly one issuer URL"));
    };
    if issuer.contains('*') || issuer.starts_with('/') {
        return Err(ConfigError::new(at, "needs options.common.issuer to be an exact issuer URL, not a pattern"));
    }
    check_http_url("options.common.issuer", issuer)?;
    j.discovery = Some(issuer.clone());
    Ok(j)
}

pub(super) fn parse_issuer_keys(options: &mut Obj) -> Result<Vec<IssuerKeys>> {
    let path = options.key_path("issuerKeys");
    let items = match options.get("issuerKeys") {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(v) => {
            return Err(options.wrong("issuerKeys", "a non-empty array of {issuer, uri | filePath | discovery}", v))
        }
    };
    let mut out: Vec<IssuerKeys> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut o = Obj::new(&format!("{path}[{i}]"), item)?;
        let issuer = match o.string("issuer")? {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => return Err(ConfigError::new(o.key_path("issuer"), "missing: the exact iss of this issuer's tokens")),
        };
        if out.iter().any(|k| k.issuer == issuer) {
            return Err(ConfigError::new(o.key_path("issuer"), format!("{issuer:?} is listed twice")));
        }
        let keys = parse_jwks(o, Some(&issuer))?;
        if keys.discovery.is_some() {
            check_http_url(&format!("{path}[{i}].issuer"), &issuer)?;
        }
        out.push(IssuerKeys { issuer, keys });
    }
    Ok(out)
}

/// An absolute http(s) URL with a host: anything else cannot be fetched.
fn check_http_url(path: &str, url: &str) -> Result<()> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace) => Ok(()),
        _ => Err(ConfigError::new(
            path,
            format!("{:?} is not an http:// or https:// URL", crate::logsafe::clean(url, 200)),
        )),
    }
}
