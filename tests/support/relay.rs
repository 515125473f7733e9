//! The logout relay (`mqtt-jwt logout-relay`) as a child process, a form POST to it, and HAProxy
//! as the TCP load balancer in front of several brokers.
use super::broker::{free_port, target_dir};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn spawn_logged(cmd: &mut Command) -> (Child, Arc<Mutex<String>>) {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn");
    let log = Arc::new(Mutex::new(String::new()));
    let (mut err, sink) = (child.stderr.take().unwrap(), log.clone());
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (child, log)
}

pub struct Relay {
    pub port: u16,
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Relay {
    /// Starts the relay for `brokers` (ports on 127.0.0.1) with `extra` arguments (credentials) and
    /// waits until it listens and holds a connection to every broker.
    pub fn start(brokers: &[u16], extra: &[&str]) -> Relay {
        Self::start_on(free_port(), brokers, extra)
    }

    /// On a given port (one an identity provider was told about before the relay started).
    pub fn start_on(port: u16, brokers: &[u16], extra: &[&str]) -> Relay {
        let exe = option_env!("CARGO_BIN_EXE_mqtt-jwt").map_or_else(|| target_dir().join("mqtt-jwt"), Into::into);
        let mut cmd = Command::new(exe);
        cmd.arg("logout-relay").arg("--listen").arg(format!("127.0.0.1:{port}"));
        for b in brokers {
            cmd.arg("--broker").arg(format!("127.0.0.1:{b}"));
        }
        let (child, log) = spawn_logged(cmd.args(extra));
        let r = Relay { port, child, log };
        let connected = |l: &str| brokers.iter().all(|b| l.contains(&format!("connected to 127.0.0.1:{b}\n")));
        assert!(r.wait_log(connected, Duration::from_secs(10)), "relay did not connect:\n{}", r.log());
        r
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn wait_log(&self, f: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if f(&self.log()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// SIGTERM, then the exit status within `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs `body` with `content_type` to 127.0.0.1:`port`; the status code.
pub fn post(port: u16, content_type: &str, body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the relay");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /backchannel-logout HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).and_then(|()| s.write_all(body)).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// `logout_token=...` as an identity provider sends it.
pub fn logout_form(token: &str) -> Vec<u8> {
    format!("logout_token={token}").into_bytes()
}

/// HAProxy (Debian's package, installed by ci/setup.sh) balancing TCP round-robin over `backends`.
pub struct Haproxy {
    pub port: u16,
    child: Child,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    pub fn start(backends: &[u16]) -> Haproxy {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cfg = format!(
            "global\n  maxconn 2000\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 120s\n  timeout server 120s\n\
             frontend mqtt\n  bind 127.0.0.1:{port}\n  default_backend brokers\nbackend brokers\n  balance roundrobin\n"
        );
        for (i, b) in backends.iter().enumerate() {
            cfg.push_str(&format!("  server broker{i} 127.0.0.1:{b} check inter 500ms\n"));
        }
        let file = dir.path().join("haproxy.cfg");
        std::fs::write(&file, cfg).unwrap();
        let (child, log) = spawn_logged(Command::new(haproxy()).arg("-db").arg("-f").arg(&file));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "haproxy did not listen:\n{}", log.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
        Haproxy { port, child, log, _dir: dir }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

fn haproxy() -> &'static str {
    if Path::new("/usr/sbin/haproxy").exists() {
        "/usr/sbin/haproxy"
    } else {
        "haproxy"
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
