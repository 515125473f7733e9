//! Event handlers, written against the [`Broker`] trait so they run without mosquitto in unit tests.
//! All of them run on the broker thread.
mod auth;
mod expiry;
#[cfg(test)]
mod fake;
mod refresh;
#[cfg(test)]
mod tests;

use crate::config::{Config, FileError};
use crate::engine::Engine;
use crate::logsafe::clean;
use crate::refusal::Refused;
use crate::session::Sessions;
use parking_lot::{Mutex, RwLock};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use auth::AuthResult;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientRef(pub usize);

/// What the handlers need from the broker. The real one wraps mosquitto's functions (src/broker/).
pub trait Broker {
    fn log(&self, level: Level, msg: &str);
    fn client_id(&self, c: ClientRef) -> Option<String>;
    fn client_address(&self, c: ClientRef) -> Option<String>;
    fn client_username(&self, c: ClientRef) -> Option<String>;
    /// Replaces the connection's username; false if the broker refused (out of memory).
    fn set_username(&self, c: ClientRef, name: &str) -> bool;
    /// Disconnects a client (never the one whose callback is running).
    fn kick(&self, client_id: &str, with_will: bool) -> bool;
    /// Queues a message for one client only, whatever its subscriptions.
    fn publish_to(&self, client_id: &str, topic: &str, payload: &[u8]) -> bool;
}

pub struct Plugin {
    config_file: PathBuf,
    engine: RwLock<Arc<Engine>>,
    sessions: Mutex<Sessions>,
    /// Until when BASIC_AUTH calls are mosquitto re-checking connected clients after a reload.
    recheck_until: Mutex<f64>,
    expiry: Mutex<expiry::Clock>,
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
        let algs: Vec<_> =
            engine.verifier.keys.usable_algs(&engine.config.algorithms).iter().map(|a| a.name()).collect();
        broker.log(
            Level::Info,
            &format!(
                "{LOG_PREFIX}: loaded {} ({} key(s), algorithms {})",
                config_file.display(),
                engine.verifier.keys.keys.len(),
                algs.join(", ")
            ),
        );
        Ok(Plugin {
            config_file: config_file.to_path_buf(),
            engine: RwLock::new(Arc::new(engine)),
            sessions: Mutex::new(Sessions::default()),
            recheck_until: Mutex::new(0.0),
            expiry: Mutex::new(expiry::Clock::default()),
        })
    }

    pub fn engine(&self) -> Arc<Engine> {
        self.engine.read().clone()
    }

    pub fn live_sessions(&self) -> usize {
        self.sessions.lock().len()
    }

    /// The topics of MOSQ_EVT_CONTROL callbacks to register (fixed at start: reloads cannot change them).
    pub fn control_topic(&self) -> Option<String> {
        self.engine().config.refresh.control_topic.clone()
    }

    /// SIGHUP: re-read jwt.json; a broken new file keeps the running configuration. mosquitto then
    /// re-runs BASIC_AUTH for every client: those calls re-check each session's current token.
    pub fn reload(&self, broker: &dyn Broker, now: f64) {
        *self.recheck_until.lock() = now + 30.0;
        match load_engine(&self.config_file) {
            Ok((engine, warnings)) => {
                for w in warnings {
                    broker.log(Level::Warning, &format!("{LOG_PREFIX}: {}: {w}", self.config_file.display()));
                }
                *self.engine.write() = Arc::new(engine);
                broker.log(Level::Notice, &format!("{LOG_PREFIX}: reloaded {}", self.config_file.display()));
            }
            Err(e) => broker
                .log(Level::Error, &format!("{LOG_PREFIX}: reload failed, keeping the running configuration: {e}")),
        }
    }
}

pub fn log_refusal(broker: &dyn Broker, client: ClientRef, what: &str, r: &Refused) {
    let id = broker.client_id(client).map(|s| clean(&s, 64)).unwrap_or_else(|| "-".into());
    let addr = broker.client_address(client).map(|s| clean(&s, 64)).unwrap_or_else(|| "-".into());
    broker.log(Level::Notice, &format!("{LOG_PREFIX}: {what} client {id} from {addr}: {r}"));
}
