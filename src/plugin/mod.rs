//! Event handlers, written against the [`Broker`] trait so they run without mosquitto in unit tests.
//! All of them run on the broker thread.
mod acl;
mod auth;
mod exchange;
mod expiry;
#[cfg(test)]
mod fake;
mod identity;
mod logout;
mod metrics;
pub mod options;
mod refresh;
mod revocation;
#[cfg(test)]
mod tests;
mod waiting;
mod waiting_auth;
mod waiting_exchange;
mod wakeup;

use crate::config::{Config, FileError};
use crate::loaded::Loaded;
use crate::logsafe::clean;
use crate::metrics::Metrics;
use crate::refusal::Refused;
use crate::session::Sessions;
use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::host::{Broker, ClientRef, Level, LOG_PREFIX};

/// Every field but `exchanges` is touched on the broker thread only (worker threads hold their
/// own `Arc`s of what they need and answer through queues), so they are single-thread cells, not
/// locks: Plugin is neither Sync nor shared. A cell borrowed twice panics (caught at the C
/// boundary) where a lock would have deadlocked the broker.
pub struct Plugin {
    config_file: PathBuf,
    loaded: RefCell<Arc<Loaded>>,
    sessions: RefCell<Sessions>,
    /// Until when BASIC_AUTH calls are mosquitto re-checking connected clients after a reload.
    recheck_until: Cell<f64>,
    expiry: RefCell<expiry::Clock>,
    /// A reloaded configuration whose remote keys are still on their way: the running one keeps
    /// serving (mosquitto re-checks every connected client right after a reload) until they arrive.
    pending: RefCell<Option<Arc<Loaded>>>,
    /// Fixed at start-up: mosquitto callbacks cannot be added or removed by a reload.
    control_topic: Option<String>,
    /// `options.logout.topic` at start-up (a second MOSQ_EVT_CONTROL registration).
    logout_topic: Option<String>,
    /// Remembered back-channel logouts and used logout-token jtis: they outlive reloads.
    logouts: RefCell<crate::logout::Memory>,
    authorizes: bool,
    /// Verdict cache and re-check schedule of the revocation checks (broker thread only).
    revocation: RefCell<revocation::State>,
    /// What was published under `$SYS` and when (src/plugin/metrics.rs).
    publisher: RefCell<metrics::Publisher>,
    /// The counters: this plugin's only instance, shared with every loaded configuration's threads.
    metrics: Arc<Metrics>,
    /// Connections passed on to other plugins (nonJwtCredentials "defer").
    deferred: RefCell<identity::Deferred>,
    /// CONNECTs answered later (2.1) while the revocation endpoint is asked.
    waiting: RefCell<waiting::Waiting>,
    /// Exchanges running on threads for waiting CONNECTs, and their answers: the one part
    /// worker threads touch (its own locks and counters).
    exchanges: crate::net::exchange::Threads,
}

// Compile-time proof that Plugin stays single-thread state: with `Sync` implemented, both impls
// below would apply and the item lookup would be ambiguous.
const _: fn() = || {
    trait AmbiguousIfSync<A> {
        fn check() {}
    }
    impl<T: ?Sized> AmbiguousIfSync<()> for T {}
    struct IfSync;
    impl<T: ?Sized + Sync> AmbiguousIfSync<IfSync> for T {}
    <Plugin as AmbiguousIfSync<_>>::check();
};

fn load_config(file: &Path, metrics: &Arc<Metrics>) -> Result<(Loaded, Vec<String>), FileError> {
    let config = Config::load(file)?;
    Loaded::with_metrics(config, metrics.clone()).map_err(|error| FileError { file: file.to_path_buf(), error })
}

fn key_summary(loaded: &Loaded) -> String {
    let mut parts = Vec::new();
    for e in &loaded.keys.entries {
        let keys = e.keys();
        let n = keys.keys.len();
        let what = match (&e.source, n) {
            (crate::loaded::Source::Remote(_), 0) => format!("{}: no keys yet", e.label()),
            _ => format!("{}: {n} key(s)", e.label()),
        };
        parts.push(match &e.issuer {
            Some(iss) => format!("issuer {}: {what}", clean(iss, 100)),
            None => what,
        });
    }
    parts.join("; ")
}

impl Plugin {
    /// Loads jwt.json and its keys; any problem is an error naming the file, the key path and the
    /// problem. With remote keys and `lazyConnect: false`, waits for the first fetch (mosquitto is
    /// not serving yet) and fails when it fails; with `lazyConnect: true` it starts without them.
    pub fn load(broker: &dyn Broker, config_file: &Path) -> Result<Plugin, FileError> {
        let metrics = Arc::new(Metrics::new());
        let (loaded, warnings) = load_config(config_file, &metrics)?;
        for w in warnings {
            broker.log(Level::Warning, &format!("{LOG_PREFIX}: {}: {w}", config_file.display()));
        }
        let file_err = |path: &str, problem: String| FileError {
            file: config_file.to_path_buf(),
            error: crate::config::ConfigError::new(path, problem),
        };
        loaded.keys.start().map_err(|e| file_err("", e))?;
        if let Some(i) = &loaded.introspector {
            i.start().map_err(|e| file_err("options.revocation", e))?;
        }
        if !loaded.config.lazy_connect && loaded.keys.has_remote() {
            let waited = loaded.keys.wait();
            log_notices(broker, &loaded);
            waited.map_err(|(path, e)| {
                let hint = "lazyConnect is false, so mosquitto does not start without keys; set options.lazyConnect to true to start anyway and retry in the background";
                file_err(&path, format!("cannot load keys from {e} ({hint})"))
            })?;
        }
        let algs: Vec<_> = loaded.config.algorithms.iter().map(|a| a.name()).collect();
        broker.log(
            Level::Info,
            &format!(
                "{LOG_PREFIX}: loaded {} (algorithms {}; {})",
                config_file.display(),
                algs.join(", "),
                key_summary(&loaded)
            ),
        );
        let control_topic = loaded.config.refresh.control_topic.clone();
        let logout_topic = loaded.config.logout.as_ref().map(|l| l.topic.clone());
        let authorizes = loaded.config.authorization.is_some();
        Ok(Plugin {
            config_file: config_file.to_path_buf(),
            loaded: RefCell::new(Arc::new(loaded)),
            // Reloads cannot add or remove options.logout (its topic is fixed at start-up).
            sessions: RefCell::new(Sessions::new(logout_topic.is_some())),
            recheck_until: Cell::new(0.0),
            expiry: RefCell::new(expiry::Clock::default()),
            pending: RefCell::new(None),
            control_topic,
            logout_topic,
            logouts: RefCell::new(crate::logout::Memory::default()),
            authorizes,
            revocation: RefCell::new(revocation::State::default()),
            publisher: RefCell::new(metrics::Publisher::default()),
            metrics,
            deferred: RefCell::new(identity::Deferred::default()),
            waiting: RefCell::new(waiting::Waiting::default()),
            exchanges: crate::net::exchange::Threads::default(),
        })
    }

    pub fn loaded(&self) -> Arc<Loaded> {
        self.loaded.borrow().clone()
    }

    pub fn live_sessions(&self) -> usize {
        self.sessions.borrow_mut().len()
    }

    pub fn has_session(&self, c: ClientRef) -> bool {
        self.sessions.borrow_mut().get(c.key()).is_some()
    }

    /// The topic of the MOSQ_EVT_CONTROL callback to register (fixed at start: reloads cannot change it).
    pub fn control_topic(&self) -> Option<String> {
        self.control_topic.clone()
    }

    /// Every topic of a MOSQ_EVT_CONTROL callback to register: refresh and logout.
    pub fn control_topics(&self) -> Vec<(String, &'static str)> {
        let refresh = self.control_topic.iter().map(|t| (t.clone(), "options.refresh.controlTopic"));
        refresh.chain(self.logout_topic.iter().map(|t| (t.clone(), "options.logout.topic"))).collect()
    }

    /// MOSQ_EVT_CONTROL, by topic.
    pub fn control_message(&self, broker: &dyn Broker, client: ClientRef, topic: &str, payload: &[u8], now: f64) {
        if self.logout_topic.as_deref() == Some(topic) {
            self.logout(broker, client, payload, now);
        } else if self.control_topic.as_deref() == Some(topic) {
            self.control(broker, client, payload, now);
        }
    }

    /// SIGHUP: re-read jwt.json; a broken new file keeps the running configuration. Never waits for
    /// the network: remote keys that are not there yet make the new configuration pending.
    pub fn reload(&self, broker: &dyn Broker, now: f64) {
        // mosquitto re-runs BASIC_AUTH for every client right after this: those calls re-check each
        // session's current token (see auth.rs).
        self.recheck_until.set(now + 30.0);
        let (loaded, warnings) = match load_config(&self.config_file, &self.metrics) {
            Ok(e) => e,
            Err(e) => {
                let msg = format!("{LOG_PREFIX}: reload failed, keeping the running configuration: {e}");
                return broker.log(Level::Error, &msg);
            }
        };
        for w in warnings {
            broker.log(Level::Warning, &format!("{LOG_PREFIX}: {}: {w}", self.config_file.display()));
        }
        if loaded.config.authorization.is_some() != self.authorizes
            || loaded.config.refresh.control_topic != self.control_topic
            || loaded.config.logout.as_ref().map(|l| &l.topic) != self.logout_topic.as_ref()
        {
            let msg = format!(
                "{LOG_PREFIX}: reload failed, keeping the running configuration: adding or removing \
                 options.authorization, or changing options.refresh.controlTopic or options.logout (enabled, topic), needs a restart of mosquitto"
            );
            return broker.log(Level::Error, &msg);
        }
        loaded.keys.adopt(&self.loaded().keys);
        if let Err(e) = loaded.keys.start().and_then(|()| loaded.introspector.as_ref().map_or(Ok(()), |i| i.start())) {
            let msg = format!("{LOG_PREFIX}: reload failed, keeping the running configuration: {e}");
            return broker.log(Level::Error, &msg);
        }
        let loaded = Arc::new(loaded);
        // A previous pending reload is superseded (dropping it stops its threads).
        *self.pending.borrow_mut() = Some(loaded);
        if !self.settle_pending(broker) {
            let msg = format!("{LOG_PREFIX}: reloading {}: waiting for keys", self.config_file.display());
            broker.log(Level::Notice, &msg);
        }
    }

    /// Broker thread, from TICK and BASIC_AUTH: writes the background threads' log lines and
    /// installs a pending reload whose keys have arrived.
    pub fn drain_background(&self, broker: &dyn Broker) {
        log_notices(broker, &self.loaded());
        if self.pending.borrow_mut().is_some() {
            self.settle_pending(broker);
        }
    }

    /// True when no reload is pending any more (installed or abandoned).
    fn settle_pending(&self, broker: &dyn Broker) -> bool {
        let mut pending = self.pending.borrow_mut();
        let Some(p) = pending.as_ref() else { return true };
        log_notices(broker, p);
        let file = self.config_file.display();
        match p.keys.outcome() {
            None => return false,
            Some(Ok(())) => broker.log(Level::Notice, &format!("{LOG_PREFIX}: reloaded {file} ({})", key_summary(p))),
            Some(Err((path, e))) if !p.config.lazy_connect => {
                let msg = format!(
                    "{LOG_PREFIX}: reload failed, keeping the running configuration: {file}: {path}: cannot load keys from {e}"
                );
                broker.log(Level::Error, &msg);
                *pending = None;
                return true;
            }
            Some(Err(_)) => {
                let msg =
                    format!("{LOG_PREFIX}: reloaded {file} without keys (lazyConnect; retrying in the background)");
                broker.log(Level::Warning, &msg);
            }
        }
        if let Some(p) = pending.take() {
            let old = std::mem::replace(&mut *self.loaded.borrow_mut(), p);
            log_notices(broker, &old);
        }
        true
    }
}

fn log_notices(broker: &dyn Broker, loaded: &Loaded) {
    for (level, line) in loaded.notices.drain() {
        broker.log(level, &line);
    }
}

pub fn log_refusal(broker: &dyn Broker, client: ClientRef, what: &str, r: &Refused) {
    let id = broker.client_id(client).map(|s| clean(&s, 64)).unwrap_or_else(|| "-".into());
    let addr = broker.client_address(client).map(|s| clean(&s, 64)).unwrap_or_else(|| "-".into());
    broker.log(Level::Notice, &format!("{LOG_PREFIX}: {what} client {id} from {addr}: {r}"));
}
