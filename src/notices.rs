//! Log lines from background threads, queued for the broker thread: mosquitto's log function (like
//! every mosquitto_* function) may only be called on the broker thread, which drains this queue from
//! its callbacks (TICK, and BASIC_AUTH where TICK does not fire).
use crate::host::Level;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;

/// Enough for bursts; a broker that never drains (no callbacks at all) must not grow without bound.
const MAX_QUEUED: usize = 256;

#[derive(Clone, Default)]
pub struct Notices {
    inner: Arc<Mutex<Queue>>,
}

#[derive(Default)]
struct Queue {
    lines: VecDeque<(Level, String)>,
    dropped: usize,
}

impl Notices {
    pub fn push(&self, level: Level, line: String) {
        let mut q = self.inner.lock();
        if q.lines.len() >= MAX_QUEUED {
            q.lines.pop_front();
            q.dropped += 1;
        }
        q.lines.push_back((level, line));
    }

    /// Everything queued so far, oldest first; a note when lines had to be dropped.
    pub fn drain(&self) -> Vec<(Level, String)> {
        let mut q = self.inner.lock();
        if q.lines.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<_> = q.lines.drain(..).collect();
        if q.dropped > 0 {
            let note = format!("{}: {} background log line(s) dropped", crate::host::LOG_PREFIX, q.dropped);
            out.insert(0, (Level::Warning, note));
            q.dropped = 0;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_ordered() {
        let n = Notices::default();
        for i in 0..MAX_QUEUED + 3 {
            n.clone().push(Level::Info, i.to_string());
        }
        let lines = n.drain();
        assert_eq!(lines.len(), MAX_QUEUED + 1);
        assert!(lines[0].1.contains("3 background log line(s) dropped"));
        assert_eq!(lines[1].1, "3");
        assert!(n.drain().is_empty());
    }
}
