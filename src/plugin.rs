//! Event handlers, written against the [`Broker`] trait so they run without mosquitto in unit tests.
use crate::config::{Config, FileError, TokenSource};
use crate::engine::Engine;
use crate::logsafe::clean;
use crate::refusal::{Reason, Refused};
use parking_lot::RwLock;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const LOG_PREFIX: &str = "jwt-auth";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
}

/// An opaque handle on a connected client, valid for the duration of one callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientRef(pub usize);

/// What the handlers need from the broker. The real one wraps mosquitto's functions (src/broker/).
pub trait Broker {
    fn log(&self, level: Level, msg: &str);
    fn client_id(&self, c: ClientRef) -> Option<String>;
    fn client_address(&self, c: ClientRef) -> Option<String>;
    /// Replaces the connection's username; false if the broker refused (out of memory).
    fn set_username(&self, c: ClientRef, name: &str) -> bool;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthResult {
    Accept,
    Refuse,
}

pub struct Plugin {
    config_file: PathBuf,
    engine: RwLock<Arc<Engine>>,
}

pub fn now_seconds() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn load_engine(file: &Path) -> Result<(Engine, Vec<String>), FileError> {
    let config = Config::load(file)?;
    Engine::new(config).map_err(|error| FileError { file: file.to_path_buf(), error })
}

impl Plugin {
    /// Loads jwt.json and its keys; any problem is an error naming the file, the key path and the problem.
    pub fn load(broker: &dyn Broker, config_file: &Path) -> Result<Plugin, FileError> {
        let (engine, warnings) = load_engine(config_file)?;
        for w in warnings {
            broker.log(Level::Warning, &format!("{LOG_PREFIX}: {}: {w}", config_file.display()));
        }
        let algs: Vec<_> = engine.verifier.keys.usable_algs(&engine.config.algorithms).iter().map(|a| a.name()).collect();
        broker.log(
            Level::Info,
            &format!(
                "{LOG_PREFIX}: loaded {} ({} key(s), algorithms {})",
                config_file.display(),
                engine.verifier.keys.keys.len(),
                algs.join(", ")
            ),
        );
        Ok(Plugin { config_file: config_file.to_path_buf(), engine: RwLock::new(Arc::new(engine)) })
    }

    pub fn engine(&self) -> Arc<Engine> {
        self.engine.read().clone()
    }

    /// SIGHUP: re-read jwt.json; a broken new file keeps the running configuration.
    pub fn reload(&self, broker: &dyn Broker) {
        match load_engine(&self.config_file) {
            Ok((engine, warnings)) => {
                for w in warnings {
                    broker.log(Level::Warning, &format!("{LOG_PREFIX}: {}: {w}", self.config_file.display()));
                }
                *self.engine.write() = Arc::new(engine);
                broker.log(Level::Notice, &format!("{LOG_PREFIX}: reloaded {}", self.config_file.display()));
            }
            Err(e) => broker.log(Level::Error, &format!("{LOG_PREFIX}: reload failed, keeping the running configuration: {e}")),
        }
    }

    /// MOSQ_EVT_BASIC_AUTH. `password` is the raw bytes mosquitto passed (None when absent or empty).
    pub fn basic_auth(
        &self,
        broker: &dyn Broker,
        client: ClientRef,
        username: Option<&[u8]>,
        password: Option<&[u8]>,
        now: f64,
    ) -> AuthResult {
        let engine = self.engine();
        match self.try_auth(&engine, broker, client, username, password, now) {
            Ok(()) => AuthResult::Accept,
            Err(r) => {
                log_refusal(broker, client, &r);
                AuthResult::Refuse
            }
        }
    }

    fn try_auth(
        &self,
        engine: &Engine,
        broker: &dyn Broker,
        client: ClientRef,
        username: Option<&[u8]>,
        password: Option<&[u8]>,
        now: f64,
    ) -> Result<(), Refused> {
        let (raw, field) = match engine.token_source() {
            TokenSource::Password => (password, "password"),
            TokenSource::Username => (username, "username"),
        };
        let raw = raw.filter(|r| !r.is_empty()).ok_or_else(|| Refused::new(Reason::NoToken, format!("no {field}")))?;
        let token = std::str::from_utf8(raw).map_err(|_| Refused::new(Reason::Malformed, "not UTF-8"))?;
        let t = engine.authenticate(token, now)?;
        let c = &engine.config.common;
        let needs_id = c.match_client_id_to_subject || c.match_client_id_to_claim.is_some();
        let id = if needs_id { broker.client_id(client) } else { None };
        let username = username.and_then(|u| std::str::from_utf8(u).ok());
        let identity = engine.bind_identity(&t, id.as_deref(), username)?;
        if let Some(name) = identity.set_username {
            if !broker.set_username(client, &name) {
                return Err(Refused::new(Reason::Internal, "the broker could not set the username"));
            }
        }
        Ok(())
    }
}

pub fn log_refusal(broker: &dyn Broker, client: ClientRef, r: &Refused) {
    let id = broker.client_id(client).map(|s| clean(&s, 64)).unwrap_or_else(|| "-".into());
    let addr = broker.client_address(client).map(|s| clean(&s, 64)).unwrap_or_else(|| "-".into());
    broker.log(Level::Notice, &format!("{LOG_PREFIX}: refused client {id} from {addr}: {r}"));
}
