//! A reader over a JSON object that remembers where it is, so every error names its key path,
//! and that refuses keys nobody asked for (a typo must not silently weaken security).
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// A configuration problem: the key path (`options.common.audience`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError { path: path.into(), problem: problem.into() }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.problem)
        } else {
            write!(f, "{}: {}", self.path, self.problem)
        }
    }
}

pub type Result<T> = std::result::Result<T, ConfigError>;

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub struct Obj<'a> {
    pub path: String,
    map: &'a Map<String, Value>,
    known: BTreeSet<&'static str>,
}

impl<'a> Obj<'a> {
    pub fn new(path: &str, v: &'a Value) -> Result<Self> {
        match v {
            Value::Object(map) => Ok(Obj { path: path.to_string(), map, known: BTreeSet::new() }),
            other => Err(ConfigError::new(path, format!("expected an object, found {}", type_name(other)))),
        }
    }

    pub fn key_path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Every read goes through here: the key becomes known at this level, and it must be listed in
    /// [`super::keys::KEYS`], the list the docs are checked against.
    fn ask(&mut self, key: &'static str) {
        self.known.insert(key);
        debug_assert!(
            super::keys::is_key(&self.key_path(key)),
            "{}: not listed in config::keys::KEYS",
            self.key_path(key)
        );
        #[cfg(test)]
        super::keys::record(&self.key_path(key));
    }

    /// Whether `key` is present at all, null included (null can mean "switch off").
    pub fn has(&mut self, key: &'static str) -> bool {
        self.ask(key);
        self.map.contains_key(key)
    }

    /// The raw value of `key`; a JSON null counts as absent.
    pub fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.ask(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn bool(&mut self, key: &'static str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.wrong(key, "true or false", v)),
        }
    }

    pub fn string(&mut self, key: &'static str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    pub fn u64(&mut self, key: &'static str, default: u64) -> Result<u64> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64().unwrap_or(default)),
            Some(v) => Err(self.wrong(key, "a non-negative integer", v)),
        }
    }

    /// A string or an array of strings, as a list.
    pub fn strings(&mut self, key: &'static str) -> Result<Vec<String>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(ConfigError::new(
                        format!("{}[{i}]", self.key_path(key)),
                        format!("expected a string, found {}", type_name(other)),
                    )),
                })
                .collect(),
            Some(v) => Err(self.wrong(key, "a string or an array of strings", v)),
        }
    }

    pub fn object(&mut self, key: &'static str) -> Result<Option<Obj<'a>>> {
        let path = self.key_path(key);
        self.get(key).map(|v| Obj::new(&path, v)).transpose()
    }

    pub fn wrong(&self, key: &str, expected: &str, found: &Value) -> ConfigError {
        ConfigError::new(self.key_path(key), format!("expected {expected}, found {}", type_name(found)))
    }

    /// Fails on the first key that no reader asked for.
    pub fn finish(self) -> Result<()> {
        match self.map.keys().find(|k| !self.known.contains(k.as_str())) {
            None => Ok(()),
            Some(k) => {
                let mut known: Vec<_> = self.known.iter().copied().collect();
                known.sort_unstable();
                Err(ConfigError::new(self.key_path(k), format!("unknown key (known here: {})", known.join(", "))))
            }
        }
    }
}
