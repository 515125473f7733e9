//! The credentials exchange on threads (mosquitto 2.1, where a CONNECT can wait): each request on a
//! thread of its own, bounded in number; the answers wait in a queue that TICK drains.
use super::Exchanged;
use crate::refusal::Refused;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Exchange requests in flight at once; beyond, a CONNECT is exchanged inline as on 2.0.
const MAX_THREADS: usize = 32;

pub type Answer = (u64, Result<Exchanged, Refused>);

#[derive(Default)]
pub struct Threads {
    answers: Arc<Mutex<Vec<Answer>>>,
    running: Arc<AtomicUsize>,
    next: AtomicU64,
}

impl Threads {
    /// Runs `exchange` on a new thread; its answer (None: none to give) comes back from
    /// [`Threads::take`] under the returned ticket. None: too many running, or no thread could be
    /// started; the caller exchanges inline instead.
    pub fn start(&self, exchange: impl FnOnce() -> Option<Result<Exchanged, Refused>> + Send + 'static) -> Option<u64> {
        if self.running.fetch_add(1, Ordering::AcqRel) >= MAX_THREADS {
            self.running.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        let (answers, running) = (self.answers.clone(), self.running.clone());
        let spawned = std::thread::Builder::new().name("jwt-exchange".into()).spawn(move || {
            if let Some(got) = exchange() {
                answers.lock().push((ticket, got));
            }
            running.fetch_sub(1, Ordering::AcqRel);
        });
        if spawned.is_err() {
            self.running.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(ticket)
    }

    /// The answers that arrived since the last call.
    pub fn take(&self) -> Vec<Answer> {
        std::mem::take(&mut *self.answers.lock())
    }
}
