//! A fake of the broker interface for unit tests: records logs, usernames, kicks and messages.
use crate::host::{Broker, ClientKey, ClientRef, Level};
use std::cell::RefCell;
use std::collections::HashMap;

#[derive(Default)]
pub struct FakeBroker {
    pub ids: RefCell<HashMap<ClientRef<'static>, String>>,
    pub usernames: RefCell<HashMap<ClientRef<'static>, String>>,
    pub logs: RefCell<Vec<(Level, String)>>,
    pub kicks: RefCell<Vec<(String, bool)>>,
    pub published: RefCell<Vec<(String, String, Vec<u8>)>>,
    /// Broadcasts: topic, payload, retain.
    pub broadcast: RefCell<Vec<(String, Vec<u8>, bool)>>,
    /// Behaves as mosquitto 2.1: BASIC_AUTH may answer later.
    pub defers: bool,
    /// complete_auth calls: client id, positive.
    pub completions: RefCell<Vec<(String, bool)>>,
    /// Connections that asked to resume a session (the others start clean).
    pub persistent: RefCell<std::collections::HashSet<ClientRef<'static>>>,
}

/// Writes `cfg` as the jwt.json of a new plugin and loads it against `b`; the folder must outlive
/// the plugin (a reload reads the file again).
pub fn load_with(cfg: &serde_json::Value, b: FakeBroker) -> (super::Plugin, FakeBroker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwt.json");
    std::fs::write(&file, cfg.to_string()).unwrap();
    let p = super::Plugin::load(&b, &file).unwrap();
    (p, b, dir)
}

/// [`load_with`] a default fake broker.
pub fn load(cfg: &serde_json::Value) -> (super::Plugin, FakeBroker, tempfile::TempDir) {
    load_with(cfg, FakeBroker::default())
}

impl FakeBroker {
    pub fn client(&self, n: usize, id: &str) -> ClientRef<'static> {
        let c = ClientRef::from_host(n);
        self.ids.borrow_mut().insert(c, id.to_string());
        c
    }

    pub fn logged(&self, needle: &str) -> bool {
        self.logs.borrow().iter().any(|(_, l)| l.contains(needle))
    }
}

/// The fake's clients are numbers: a callback's handle as the maps' key.
fn fixed(c: ClientRef) -> ClientRef<'static> {
    ClientRef::from_host(c.host_addr())
}

impl Broker for FakeBroker {
    fn log(&self, level: Level, msg: &str) {
        self.logs.borrow_mut().push((level, msg.to_string()));
    }
    fn client_id(&self, c: ClientRef) -> Option<String> {
        self.ids.borrow().get(&fixed(c)).cloned()
    }
    fn client_address(&self, _c: ClientRef) -> Option<String> {
        Some("127.0.0.1".into())
    }
    fn client_username(&self, c: ClientRef) -> Option<String> {
        self.usernames.borrow().get(&fixed(c)).cloned()
    }
    fn set_username(&self, c: ClientRef, name: &str) -> bool {
        self.usernames.borrow_mut().insert(fixed(c), name.to_string());
        true
    }
    fn kick(&self, client_id: &str, with_will: bool) -> bool {
        self.kicks.borrow_mut().push((client_id.to_string(), with_will));
        true
    }
    fn publish_to(&self, client_id: &str, topic: &str, payload: &[u8]) -> bool {
        self.published.borrow_mut().push((client_id.to_string(), topic.to_string(), payload.to_vec()));
        true
    }
    fn publish(&self, topic: &str, payload: &[u8], retain: bool) -> bool {
        self.broadcast.borrow_mut().push((topic.to_string(), payload.to_vec(), retain));
        true
    }
    fn can_defer_auth(&self) -> bool {
        self.defers
    }
    fn client_clean_start(&self, c: ClientRef) -> bool {
        !self.persistent.borrow().contains(&fixed(c))
    }
    /// A client removed from `ids` meanwhile has gone: as mosquitto, the answer is then ignored.
    fn complete_auth(&self, client: ClientKey, client_id: &str, ok: bool) -> Option<ClientRef<'_>> {
        self.completions.borrow_mut().push((client_id.to_string(), ok));
        let ids = self.ids.borrow();
        ids.iter().find(|(c, id)| ok && c.key() == client && id.as_str() == client_id).map(|(c, _)| *c)
    }
}
