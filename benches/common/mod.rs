//! Helpers shared by the benchmarks that run against real brokers: environment knobs and /proc readings.
#![allow(dead_code)]

pub fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

pub fn loadavg() -> String {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The last `lines` lines of a log.
pub fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// CPU time of this process (/proc/self/stat utime + stime, USER_HZ ticks: coarse, for the load note).
pub fn self_cpu_ns() -> u64 {
    const USER_HZ: u64 = 100;
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = s.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let f: Vec<u64> = after_comm.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) * (1_000_000_000 / USER_HZ)
}

/// Busy and total jiffies of the whole machine (/proc/stat "cpu" line).
pub fn machine_jiffies() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = s.lines().next().unwrap_or("");
    let f: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
    let total: u64 = f.iter().take(8).sum();
    (total - idle, total)
}
