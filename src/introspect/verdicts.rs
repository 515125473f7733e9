//! The verdict cache: answers by token digest, each until a deadline (never past the token's exp).
//! Bounded, and expired entries leave in amortized O(1): a min-heap of deadlines is popped as time
//! passes, so neither a full cache nor a large one costs a scan of everything on the broker thread.
use super::Verdict;
use crate::cache::Digest;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

fn ms(t: f64) -> u64 {
    (t.max(0.0) * 1000.0) as u64
}

#[derive(Default)]
pub struct Verdicts {
    max: usize,
    map: HashMap<Digest, (Verdict, u64)>,
    /// (deadline ms, digest); an entry whose deadline no longer matches the map's is stale.
    heap: BinaryHeap<Reverse<(u64, Digest)>>,
}

impl Verdicts {
    pub fn new(max: usize) -> Self {
        Verdicts { max, map: HashMap::new(), heap: BinaryHeap::new() }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Heap entries, live or stale (for the memory bound in tests).
    pub fn scheduled(&self) -> usize {
        self.heap.len()
    }

    pub fn get(&self, d: &Digest, now: f64) -> Option<Verdict> {
        self.map.get(d).filter(|(_, until)| ms(now) < *until).map(|(v, _)| *v)
    }

    /// Keeps `v` for `d` until `until` (seconds since the epoch).
    pub fn insert(&mut self, d: Digest, v: Verdict, until: f64, now: f64) {
        if self.max == 0 || until <= now {
            return;
        }
        self.expire(now);
        if !self.map.contains_key(&d) {
            while self.map.len() >= self.max && self.evict_soonest() {}
        }
        let until = ms(until);
        self.map.insert(d, (v, until));
        self.heap.push(Reverse((until, d)));
        // Re-inserted tokens (each re-check renews an active verdict) leave stale heap entries:
        // rebuild once they outnumber the live ones, which costs O(1) per insert on average.
        if self.heap.len() > 64 + 2 * self.map.len() {
            self.heap = self.map.iter().map(|(d, (_, u))| Reverse((*u, *d))).collect();
        }
    }

    /// Drops the entries whose deadline has passed.
    pub fn expire(&mut self, now: f64) {
        let now = ms(now);
        while let Some(Reverse((until, d))) = self.heap.peek().copied() {
            if until > now {
                break;
            }
            self.heap.pop();
            if self.map.get(&d).is_some_and(|(_, u)| *u == until) {
                self.map.remove(&d);
            }
        }
        if self.map.is_empty() && self.map.capacity() > 1024 {
            // Memory returns once the tokens it held have expired.
            self.map.shrink_to_fit();
            self.heap.shrink_to_fit();
        }
    }

    /// Full of live entries: the one that would leave first goes (it costs one more request).
    fn evict_soonest(&mut self) -> bool {
        while let Some(Reverse((until, d))) = self.heap.pop() {
            if self.map.get(&d).is_some_and(|(_, u)| *u == until) {
                self.map.remove(&d);
                return true;
            }
        }
        false
    }

    /// New bounds after a reload: an active verdict never outlives the new TTL.
    pub fn retune(&mut self, max: usize, active_ttl: f64, now: f64) {
        self.max = max;
        let cap = ms(now + active_ttl);
        let mut changed = false;
        for (v, u) in self.map.values_mut() {
            if *v == Verdict::Active && *u > cap {
                *u = cap;
                changed = true;
            }
        }
        if changed {
            self.heap = self.map.iter().map(|(d, (_, u))| Reverse((*u, *d))).collect();
        }
        while self.map.len() > self.max && self.evict_soonest() {}
        self.expire(now);
    }

    pub fn clear(&mut self) {
        self.map = HashMap::new();
        self.heap = BinaryHeap::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::digest;

    fn d(i: usize) -> Digest {
        digest(&i.to_string())
    }

    #[test]
    fn entries_leave_when_their_time_passes_without_filling_up() {
        let mut c = Verdicts::new(1000);
        for i in 0..500 {
            c.insert(d(i), Verdict::Inactive, 10.0, 0.0);
        }
        assert_eq!(c.get(&d(1), 9.9), Some(Verdict::Inactive));
        // Far below the bound, the first round's entries still go once expired.
        c.insert(d(10_000), Verdict::Active, 20.0, 10.0);
        assert_eq!(c.len(), 1);
        assert!(c.scheduled() <= 1 + 64);
    }

    #[test]
    fn a_full_cache_evicts_the_soonest_to_expire() {
        let mut c = Verdicts::new(3);
        c.insert(d(1), Verdict::Active, 50.0, 0.0);
        c.insert(d(2), Verdict::Active, 10.0, 0.0);
        c.insert(d(3), Verdict::Active, 90.0, 0.0);
        c.insert(d(4), Verdict::Active, 70.0, 0.0);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(&d(2), 1.0), None);
        assert_eq!(c.get(&d(1), 1.0), Some(Verdict::Active));
    }

    #[test]
    fn renewals_do_not_grow_the_heap_and_zero_max_stores_nothing() {
        let mut c = Verdicts::new(10);
        for i in 0..10_000 {
            c.insert(d(1), Verdict::Active, 100.0 + i as f64, i as f64 * 0.001);
        }
        assert_eq!(c.len(), 1);
        assert!(c.scheduled() <= 66, "{}", c.scheduled());
        assert_eq!(c.get(&d(1), 5000.0), Some(Verdict::Active));
        let mut z = Verdicts::new(0);
        z.insert(d(1), Verdict::Active, 100.0, 0.0);
        assert!(z.is_empty());
    }

    #[test]
    fn a_stream_of_new_tokens_into_a_full_cache_stays_bounded() {
        let mut c = Verdicts::new(1000);
        for i in 0..50_000 {
            c.insert(d(i), Verdict::Active, 1e6 + i as f64, 0.0);
        }
        assert_eq!(c.len(), 1000);
        assert!(c.scheduled() <= 64 + 2 * 1000, "{}", c.scheduled());
        assert_eq!(c.get(&d(49_999), 1.0), Some(Verdict::Active), "the newest stays, the soonest to expire go");
    }

    #[test]
    fn retune_caps_active_verdicts_to_the_new_ttl() {
        let mut c = Verdicts::new(10);
        c.insert(d(1), Verdict::Active, 100.0, 0.0);
        c.insert(d(2), Verdict::Inactive, 100.0, 0.0);
        c.retune(10, 5.0, 1.0);
        assert_eq!(c.get(&d(1), 6.1), None);
        assert_eq!(c.get(&d(2), 6.1), Some(Verdict::Inactive));
    }
}
