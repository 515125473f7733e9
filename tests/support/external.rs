//! Test suites in other languages (node's test runner, pytest, a browser driver) run as child
//! processes against the broker a Rust test started: bounded in time, output kept for the report.
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Run {
    pub success: bool,
    pub output: String,
}

/// Runs `program args` in `dir` (relative to the crate root) with `env`; after `timeout` it is
/// killed with everything it started (its own process group: node's test runner runs each file in
/// a child process, which would outlive its parent).
pub fn run(program: &str, args: &[&str], dir: &str, env: &[(&str, String)], timeout: Duration) -> Run {
    let cwd = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut child = Command::new(program)
        .args(args)
        .current_dir(&cwd)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} in {}: {e} (ci/setup.sh installs it)", cwd.display()));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill").arg("-KILL").arg(format!("-{}", child.id())).status();
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut output = out.join().unwrap_or_default();
    output.push_str(&err.join().unwrap_or_default());
    if status.is_none() {
        output.push_str(&format!("\n(killed after {} s)", timeout.as_secs()));
    }
    Run { success: status.is_some_and(|s| s.success()), output }
}
