//! Starts a test server process that announces itself with one JSON line on stdout
//! (`{"port": ..., "issuer": ...}`), retrying a start that does not come up in time.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Runs `make()` (a configured Command) up to three times until its process prints its JSON line within
/// `timeout`; returns the process and that line. A rare hang of a server at start-up was seen in CI
/// runs: one more attempt beats a failed suite. Panics with the last attempt's stderr.
pub fn start(what: &str, timeout: Duration, make: impl Fn() -> Command) -> (Child, serde_json::Value) {
    let mut last = String::new();
    for _ in 0..3 {
        match try_start(&make, timeout) {
            Ok(started) => return started,
            Err(e) => last = e,
        }
    }
    panic!("{what} did not start (3 attempts; ci/setup.sh installs what it needs):\n{last}");
}

fn try_start(make: &impl Fn() -> Command, timeout: Duration) -> Result<(Child, serde_json::Value), String> {
    // stdin stays open for the server's life: closing it (the test ends, or dies) makes it leave.
    let mut child = make()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run: {e}"))?;
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = match rx.recv_timeout(timeout) {
        Ok(l) if !l.is_empty() => l,
        _ => {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            let _ = child.wait();
            return Err(err);
        }
    };
    // Keep reading stderr so the server never blocks on a full pipe.
    if let Some(mut e) = child.stderr.take() {
        std::thread::spawn(move || std::io::copy(&mut e, &mut std::io::sink()));
    }
    let v = serde_json::from_str(&line).map_err(|e| format!("start line {line:?}: {e}"))?;
    Ok((child, v))
}
