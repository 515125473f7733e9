//! The one shape of every secret or key in jwt.json: a string, or exactly one of `{"plain": ...}`,
//! `{"env": "VAR"}`, `{"filePath": "/path"}`. Parsed here (errors name the key path) and resolved
//! here (errors name the key path and where the value was looked for, never the value).
use super::walk::{ConfigError, Obj, Result};
use serde_json::Value;
use std::path::PathBuf;

#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Plain(String),
    Env(String),
    File(PathBuf),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The plain value is the secret itself: a debug print of the configuration must not show it.
        match self {
            Secret::Plain(_) => f.write_str("Plain(..)"),
            Secret::Env(var) => f.debug_tuple("Env").field(var).finish(),
            Secret::File(p) => f.debug_tuple("File").field(p).finish(),
        }
    }
}

/// A resolved secret and the key path it came from (`….env`, `….filePath`, or the key itself),
/// for errors about the value (an unusable PEM key, a short HMAC secret).
pub struct Resolved {
    pub at: String,
    pub value: String,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved").field("at", &self.at).finish_non_exhaustive()
    }
}

/// `key` of `o` as a secret; None when absent.
pub fn parse(o: &mut Obj, key: &'static str) -> Result<Option<Secret>> {
    let path = o.key_path(key);
    match o.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(Secret::Plain(s.clone()))),
        Some(v @ Value::Object(_)) => {
            let mut s = Obj::new(&path, v)?;
            let found = (s.string("plain")?, s.string("env")?, s.string("filePath")?);
            s.finish()?;
            match found {
                (Some(p), None, None) => Ok(Some(Secret::Plain(p.into()))),
                (None, Some(e), None) => Ok(Some(Secret::Env(e.into()))),
                (None, None, Some(f)) => Ok(Some(Secret::File(f.into()))),
                (None, None, None) => Err(ConfigError::new(path, "needs one of plain, env, filePath")),
                _ => Err(ConfigError::new(path, "give only one of plain, env, filePath")),
            }
        }
        Some(v) => Err(o.wrong(key, "a string or an object {plain | env | filePath}", v)),
    }
}

impl Secret {
    /// Reads the value; `at` is the key path the secret was configured under.
    pub fn resolve(&self, at: &str) -> Result<Resolved> {
        match self {
            Secret::Plain(s) => Ok(Resolved { at: at.to_string(), value: s.clone() }),
            Secret::Env(var) => {
                let at = format!("{at}.env");
                match std::env::var(var) {
                    Ok(value) => Ok(Resolved { at, value }),
                    Err(_) => Err(ConfigError::new(at, format!("environment variable {var} is not set"))),
                }
            }
            Secret::File(p) => {
                let at = format!("{at}.filePath");
                match std::fs::read_to_string(p) {
                    // A file that holds a secret usually ends with a newline nobody meant as part of it.
                    Ok(text) => Ok(Resolved { value: text.trim_end_matches(['\r', '\n']).to_string(), at }),
                    Err(e) => Err(ConfigError::new(at, format!("cannot read {}: {e}", p.display()))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(v: Value) -> Result<Option<Secret>> {
        let root = json!({ "clientSecret": v });
        let mut o = Obj::new("options.credentialsExchange", &root)?;
        parse(&mut o, "clientSecret")
    }

    #[test]
    fn every_form_and_its_errors() {
        assert_eq!(secret(json!("s")).unwrap(), Some(Secret::Plain("s".into())));
        assert_eq!(secret(json!({"plain": "s"})).unwrap(), Some(Secret::Plain("s".into())));
        assert_eq!(secret(json!({"env": "V"})).unwrap(), Some(Secret::Env("V".into())));
        assert_eq!(secret(json!({"filePath": "/f"})).unwrap(), Some(Secret::File("/f".into())));
        assert_eq!(secret(Value::Null).unwrap(), None);
        let e = secret(json!({})).unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.problem.as_str()),
            ("options.credentialsExchange.clientSecret", "needs one of plain, env, filePath")
        );
        let e = secret(json!({"env": "V", "filePath": "/f"})).unwrap_err();
        assert!(e.problem.starts_with("give only one"), "{e}");
        let e = secret(json!({"envv": "V"})).unwrap_err();
        assert_eq!(e.path, "options.credentialsExchange.clientSecret.envv");
        assert!(secret(json!(5)).unwrap_err().to_string().starts_with("options.credentialsExchange.clientSecret:"));
    }

    #[test]
    fn resolves_naming_the_key_path_never_the_value() {
        let r = Secret::Plain("hunter2".into()).resolve("a.b").unwrap();
        assert_eq!((r.at.as_str(), r.value.as_str()), ("a.b", "hunter2"));
        assert!(!format!("{r:?} {:?}", Secret::Plain("hunter2".into())).contains("hunter2"));
        let e = Secret::Env("MQTT_JWT_AUTH_TEST_UNSET_VAR".into()).resolve("a.b").unwrap_err();
        assert_eq!(e.path, "a.b.env");
        assert!(e.problem.contains("MQTT_JWT_AUTH_TEST_UNSET_VAR is not set"), "{e}");
        let e = Secret::File("/nonexistent/secret".into()).resolve("a.b").unwrap_err();
        assert_eq!(e.path, "a.b.filePath");
        assert!(e.problem.starts_with("cannot read /nonexistent/secret"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s");
        std::fs::write(&f, "from-a-file\r\n").unwrap();
        let r = Secret::File(f).resolve("a.b").unwrap();
        assert_eq!((r.at.as_str(), r.value.as_str()), ("a.b.filePath", "from-a-file"));
    }
}
