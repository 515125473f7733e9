//! Builds the key set a configuration names: a static key (`mode: local`) or a JWK set file.
use super::{parse_jwk_set, parse_pem_public_key, KeyBytes, KeySet, SigKey, VerifyKey};
use crate::alg::KeyKind;
use crate::config::{Config, ConfigError, KeyMaterial, Mode};

/// Keys and the warnings met while loading them (skipped JWKs).
pub fn load_keys(cfg: &Config) -> Result<(KeySet, Vec<String>), ConfigError> {
    let (keys, warnings) = match cfg.mode {
        Mode::Local => {
            let m = cfg.local.as_ref().ok_or_else(|| ConfigError::new("options.modes.local", "missing"))?;
            (vec![local_key(m)?], Vec::new())
        }
        Mode::Jwks => {
            let src = cfg.jwks.as_ref().ok_or_else(|| ConfigError::new("options.modes.jwks", "missing"))?;
            match (&src.file_path, &src.uri) {
                (Some(path), _) => {
                    let at = "options.modes.jwks.filePath";
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| ConfigError::new(at, format!("cannot read {}: {e}", path.display())))?;
                    parse_jwk_set(&text).map_err(|e| ConfigError::new(at, format!("{}: {e}", path.display())))?
                }
                (None, _) => return Err(ConfigError::new(
                    "options.modes.jwks.uri",
                    "fetching a JWK set over HTTP is not available in this version; use options.modes.jwks.filePath",
                )),
            }
        }
    };
    let set = KeySet { keys };
    if set.usable_algs(&cfg.algorithms).is_empty() {
        let kinds: Vec<_> = set.keys.iter().map(|k| k.kind.name()).collect();
        let algs: Vec<_> = cfg.algorithms.iter().map(|a| a.name()).collect();
        return Err(ConfigError::new(
            "algorithm",
            format!("no configured key can verify {} (keys: {})", algs.join(", "), kinds.join(", ")),
        ));
    }
    Ok((set, warnings))
}

fn local_key(m: &KeyMaterial) -> Result<VerifyKey, ConfigError> {
    let base = "options.modes.local";
    let (at, text) = match m {
        KeyMaterial::Plain(s) => (base.to_string(), s.clone()),
        KeyMaterial::Env(var) => {
            let at = format!("{base}.env");
            let v = std::env::var(var)
                .map_err(|_| ConfigError::new(&at, format!("environment variable {var} is not set")))?;
            (at, v)
        }
        KeyMaterial::File(p) => {
            let at = format!("{base}.filePath");
            let v = std::fs::read_to_string(p)
                .map_err(|e| ConfigError::new(&at, format!("cannot read {}: {e}", p.display())))?;
            (at, v)
        }
    };
    if text.trim_start().starts_with("-----BEGIN") {
        let (kind, key) = parse_pem_public_key(&text).map_err(|e| ConfigError::new(&at, e))?;
        return Ok(VerifyKey { kid: None, kind, alg: None, key });
    }
    // A file that holds a secret usually ends with a newline nobody meant as part of it.
    let secret = if matches!(m, KeyMaterial::File(_)) { text.trim_end_matches(['\r', '\n']) } else { text.as_str() };
    if secret.is_empty() {
        return Err(ConfigError::new(at, "the shared secret is empty"));
    }
    let key = SigKey::new(KeyKind::Hmac, KeyBytes::Secret(secret.as_bytes())).map_err(|e| ConfigError::new(&at, e))?;
    Ok(VerifyKey { kid: None, kind: KeyKind::Hmac, alg: None, key })
}
