//! Starts mosquitto with this crate's plugin and a given jwt.json: the system's (Debian 12's 2.0.11)
//! or the one MQTT_JWT_MOSQUITTO names (ci/brokers.sh provides 2.0.21 and 2.1.2; ci/test.sh runs the
//! matrix).
use std::collections::BTreeSet;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// target/<profile>/ of the running test binary (deps/ is one below).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("deps dir");
    if deps.ends_with("deps") || deps.ends_with("examples") {
        deps.parent().expect("profile dir").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// The freshest build of the plugin: `cargo test` rebuilds the cdylib in deps/ but copies it up to
/// target/<profile>/ only when the library itself was asked for (`cargo build`).
pub fn plugin_path() -> PathBuf {
    if let Ok(p) = std::env::var("MQTT_JWT_PLUGIN") {
        return PathBuf::from(p);
    }
    let dir = target_dir();
    let candidates = [dir.join("deps/libmqtt_jwt_auth.so"), dir.join("libmqtt_jwt_auth.so")];
    let newest = candidates
        .iter()
        .filter_map(|p| Some((std::fs::metadata(p).ok()?.modified().ok()?, p)))
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p.clone());
    newest.unwrap_or_else(|| panic!("libmqtt_jwt_auth.so not built in {}", dir.display()))
}

/// The broker under test: MQTT_JWT_MOSQUITTO, else the system's `mosquitto`.
pub fn mosquitto_bin() -> PathBuf {
    std::env::var_os("MQTT_JWT_MOSQUITTO").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("mosquitto"))
}

/// The dynamic-security plugin of the broker under test: MQTT_JWT_DYNSEC, else next to a broker
/// that MQTT_JWT_MOSQUITTO names (ci/brokers.sh's layout: sbin/mosquitto, lib/), else Debian's.
pub fn dynsec_plugin() -> PathBuf {
    if let Some(p) = std::env::var_os("MQTT_JWT_DYNSEC") {
        return PathBuf::from(p);
    }
    if let Some(bin) = std::env::var_os("MQTT_JWT_MOSQUITTO") {
        let bin = PathBuf::from(bin);
        if let Some(root) = bin.parent().and_then(Path::parent) {
            return root.join("lib/mosquitto_dynamic_security.so");
        }
    }
    PathBuf::from("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")
}

pub fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys")
}

static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A free TCP port below 32768 on 127.0.0.1 (the ephemeral range fills with TIME_WAIT in storms).
pub fn free_port() -> u16 {
    let seed = std::process::id() as u64 ^ Instant::now().elapsed().as_nanos() as u64;
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407)
        ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    for _ in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let port = 20000 + (x % 12000) as u16;
        // A port free now may be taken by another test of this binary before its server binds it;
        // handing each port out once per process closes that window.
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && HANDED_OUT.lock().unwrap().insert(port) {
            return port;
        }
    }
    panic!("no free port found");
}

pub struct Broker {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
    log: Arc<Mutex<String>>,
}

pub struct Options {
    /// Extra mosquitto.conf lines after the plugin lines (e.g. a second plugin).
    pub extra_conf: String,
    /// Lines before the plugin line.
    pub pre_conf: String,
    /// Lines at the very top (global options such as per_listener_settings).
    pub top_conf: String,
    pub with_plugin: bool,
    /// Environment variables for mosquitto (secrets given as `{"env": NAME}`).
    pub env: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            extra_conf: String::new(),
            pre_conf: String::new(),
            top_conf: String::new(),
            with_plugin: true,
            env: Vec::new(),
        }
    }
}

impl Broker {
    /// Starts mosquitto with `jwt_json` as the plugin's configuration and waits until it listens.
    pub fn start(jwt_json: &str) -> Broker {
        Self::start_with(jwt_json, Options::default()).unwrap_or_else(|log| panic!("mosquitto did not start:\n{log}"))
    }

    /// Like start, but returns the broker's log when it exits instead of listening.
    pub fn start_with(jwt_json: &str, opts: Options) -> Result<Broker, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let jwt = dir.path().join("jwt.json");
        std::fs::write(&jwt, jwt_json).unwrap();
        let port = free_port();
        let mut conf = format!(
            "{}user root\nlistener {port} 127.0.0.1\nallow_anonymous false\nlog_type all\nlog_dest stderr\n{}",
            opts.top_conf, opts.pre_conf
        );
        if opts.with_plugin {
            conf.push_str(&format!("plugin {}\nplugin_opt_config_file {}\n", plugin_path().display(), jwt.display()));
        } else {
            conf = conf.replace("allow_anonymous false", "allow_anonymous true");
        }
        conf.push_str(&opts.extra_conf);
        let conf_path = dir.path().join("mosquitto.conf");
        std::fs::write(&conf_path, conf).unwrap();
        // MQTT_JWT_BROKER_WRAPPER (e.g. "valgrind --leak-check=full ..."): a command put in front of
        // mosquitto, split at whitespace (ci/memcheck.sh).
        let wrapper = broker_wrapper();
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(mosquitto_bin());
                c
            }
            None => Command::new(mosquitto_bin()),
        };
        let mut child = cmd
            .arg("-c")
            .arg(&conf_path)
            .envs(opts.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mosquitto not installed (ci/setup.sh installs it)");
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let deadline = Instant::now() + start_timeout();
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return Err(log.lock().unwrap().clone());
            }
            // A connect alone may reach another server on the port while this broker is still
            // failing to bind it; the log cannot tell (tests and benchmarks turn logging down).
            if listens(child.id(), port) && TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("timeout waiting for port {port}\n{}", log.lock().unwrap()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Broker { port, dir, child, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits for mosquitto's "New client connected ... as ID (pN, TAIL" line, whatever the protocol
    /// number's spelling (2.0 logs p2 for 3.1.1, 2.1 logs p4). TAIL: e.g. "c1, k30, u'sensor-7')".
    pub fn wait_connected(&self, id: &str, tail: &str, timeout: Duration) -> bool {
        let head = format!(" as {id} (p");
        let matches = |l: &str| {
            let Some(i) = l.find(&head) else { return false };
            // After "pN, ": the rest as given.
            l[i + head.len()..].split_once(", ").is_some_and(|(_, rest)| rest.starts_with(tail))
        };
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let found = self.log().lines().any(matches);
            if found {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Waits until the log contains `needle` (log lines arrive asynchronously).
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for mosquitto to exit (after a signal); None if it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn signal(&self, sig: &str) {
        Command::new("kill").arg(format!("-{sig}")).arg(self.child.id().to_string()).status().unwrap();
    }
}

/// The command (program and arguments) that MQTT_JWT_BROKER_WRAPPER puts in front of mosquitto.
pub fn broker_wrapper() -> Vec<String> {
    std::env::var("MQTT_JWT_BROKER_WRAPPER").unwrap_or_default().split_whitespace().map(str::to_string).collect()
}

/// How long a broker may take to listen: much longer under a wrapper such as valgrind.
pub fn start_timeout() -> Duration {
    if broker_wrapper().is_empty() {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(90)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // Under a wrapper (valgrind), a clean exit lets it write its leak report: SIGTERM first.
        if !broker_wrapper().is_empty() && self.is_alive() {
            self.signal("TERM");
            if self.wait_exit(Duration::from_secs(60)).is_some() {
                return;
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether process `pid` holds a listening TCP socket on `port` (Linux: /proc/net/tcp and the
/// process's descriptors).
fn listens(pid: u32, port: u16) -> bool {
    let suffix = format!(":{port:04X}");
    let inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|t| {
            t.lines()
                .skip(1)
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    (f.len() > 9 && f[1].ends_with(&suffix) && f[3] == "0A").then(|| format!("socket:[{}]", f[9]))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .any(|l| inodes.iter().any(|i| l.as_os_str() == i.as_str()))
}
