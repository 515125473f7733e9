//! A minimal MQTT 3.1.1 publisher for the logout relay: CONNECT, QoS 1 PUBLISH waiting for its
//! PUBACK, PINGREQ, DISCONNECT, over TCP or TLS. Hand-written (about 200 lines) rather than an MQTT
//! crate: the maintained ones (rumqttc, paho-mqtt) pull in tokio or a C library for what is four
//! packet types, and the relay needs nothing else (no subscriptions, no session state).
use rustls::pki_types::ServerName;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// How the relay proves who it is to each broker.
#[derive(Clone)]
pub enum Credentials {
    /// A JWT in the password field, re-read from the file at each (re)connect: a rotated token is
    /// picked up when the broker kicks the old one at its expiry.
    TokenFile { username: Option<String>, file: std::path::PathBuf },
    /// A password account (mosquitto's password file or dynamic security, nonJwtCredentials "defer").
    Password { username: String, file: std::path::PathBuf },
}

impl Credentials {
    fn read(&self) -> Result<(Option<String>, String), String> {
        let (user, file) = match self {
            Credentials::TokenFile { username, file } => (username.clone(), file),
            Credentials::Password { username, file } => (Some(username.clone()), file),
        };
        let secret = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        Ok((user, secret.trim_end_matches(['\r', '\n']).to_string()))
    }
}

pub struct Settings {
    pub client_id: String,
    pub credentials: Credentials,
    /// TLS to the brokers, with the CA file's roots.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// For a PUBACK, a CONNACK, or a PINGRESP.
    pub timeout: Duration,
    pub keepalive: u16,
    /// Where the plugin answers the publisher (`options.refresh.responseTopic`).
    pub response_topic: String,
}

/// One persistent connection to one broker, reconnected with backoff.
pub struct Link {
    pub addr: String,
    stream: Option<Box<dyn Stream>>,
    /// The same socket, to poll it for what the broker sent meanwhile (a kick closes it).
    probe: Option<TcpStream>,
    next_id: u16,
    backoff: Duration,
    retry_at: Instant,
    last_io: Instant,
}

const MAX_BACKOFF: Duration = Duration::from_secs(30);

fn remaining_length(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return;
        }
    }
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![first];
    remaining_length(body.len(), &mut p);
    p.extend_from_slice(body);
    p
}

fn read_packet(s: &mut dyn Stream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut first = [0u8];
    s.read_exact(&mut first)?;
    Ok((first[0], read_after_first(s, first[0])?))
}

/// A QoS 1 PUBLISH from the broker is acknowledged (the relay subscribes to nothing, but must not
/// leave one unanswered).
fn ack_if_needed(s: &mut dyn Stream, first: u8, body: &[u8]) -> std::io::Result<()> {
    if first >> 4 == 3 && (first >> 1) & 3 == 1 {
        let tlen = body.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]) as usize);
        if let Some(pid) = body.get(2 + tlen..4 + tlen) {
            s.write_all(&[0x40, 2, pid[0], pid[1]])?;
        }
    }
    Ok(())
}

/// The rest of a packet whose first byte was read: its body.
fn read_after_first(s: &mut dyn Stream, _first: u8) -> std::io::Result<Vec<u8>> {
    let mut len = 0usize;
    for i in 0..4 {
        let mut b = [0u8];
        s.read_exact(&mut b)?;
        len |= ((b[0] & 0x7f) as usize) << (7 * i);
        if b[0] & 0x80 == 0 {
            break;
        }
        if i == 3 {
            return Err(std::io::Error::other("bad remaining length"));
        }
    }
    // The broker sends the relay small answers only (it subscribes to nothing).
    if len > 1 << 20 {
        return Err(std::io::Error::other("packet too large"));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok(body)
}

impl Link {
    pub fn new(addr: String) -> Link {
        let now = Instant::now();
        Link {
            addr,
            stream: None,
            probe: None,
            next_id: 0,
            backoff: Duration::from_millis(250),
            retry_at: now,
            last_io: now,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.stream.is_some()
    }

    /// Connects when not connected and the backoff has passed.
    pub fn ensure(&mut self, st: &Settings) -> Result<(), String> {
        if self.stream.is_some() {
            return Ok(());
        }
        if Instant::now() < self.retry_at {
            return Err("not connected (waiting to reconnect)".into());
        }
        match self.connect(st) {
            Ok((s, probe)) => {
                self.stream = Some(s);
                self.probe = Some(probe);
                self.backoff = Duration::from_millis(250);
                self.last_io = Instant::now();
                Ok(())
            }
            Err(e) => {
                self.retry_at = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                Err(e)
            }
        }
    }

    fn connect(&self, st: &Settings) -> Result<(Box<dyn Stream>, TcpStream), String> {
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&self.addr)
            .map_err(|e| format!("cannot resolve: {e}"))?
            .next()
            .ok_or("cannot resolve: no address")?;
        let tcp = TcpStream::connect_timeout(&addr, st.timeout).map_err(|e| format!("cannot connect: {e}"))?;
        tcp.set_read_timeout(Some(st.timeout)).and_then(|()| tcp.set_write_timeout(Some(st.timeout))).ok();
        tcp.set_nodelay(true).ok();
        let probe = tcp.try_clone().map_err(|e| format!("cannot clone the socket: {e}"))?;
        let mut s: Box<dyn Stream> = match &st.tls {
            None => Box::new(tcp),
            Some(cfg) => {
                let host = self.addr.rsplit_once(':').map_or(self.addr.as_str(), |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(host.to_string()).map_err(|e| format!("TLS server name: {e}"))?;
                let conn = rustls::ClientConnection::new(cfg.clone(), name).map_err(|e| format!("TLS: {e}"))?;
                Box::new(rustls::StreamOwned::new(conn, tcp))
            }
        };
        let (user, secret) = st.credentials.read()?;
        let mut body = Vec::new();
        string(b"MQTT", &mut body);
        body.push(4);
        // MQTT 3.1.1 allows a password only with a username: an empty one when none is given (the
        // plugin reads the token from the password and binds the username itself).
        body.push(0x02 | 0x40 | 0x80);
        body.extend_from_slice(&st.keepalive.to_be_bytes());
        string(st.client_id.as_bytes(), &mut body);
        string(user.as_deref().unwrap_or("").as_bytes(), &mut body);
        string(secret.as_bytes(), &mut body);
        s.write_all(&packet(0x10, &body)).and_then(|()| s.flush()).map_err(|e| format!("CONNECT: {e}"))?;
        let (first, ack) = read_packet(s.as_mut()).map_err(|e| format!("no CONNACK: {e}"))?;
        match (first >> 4, ack.get(1)) {
            (2, Some(0)) => Ok((s, probe)),
            (2, Some(code)) => Err(format!("refused with CONNACK code {code}")),
            _ => Err(format!("unexpected packet type {} instead of CONNACK", first >> 4)),
        }
    }

    /// One QoS 1 PUBLISH, acknowledged, and the plugin's answer to it (its JSON payload on the
    /// response topic): the PUBACK alone proves nothing — an MQTT 3.1.1 broker acknowledges a
    /// publish its ACLs deny all the same, and a broker without `options.logout` ignores it. On a
    /// dead connection it reconnects once at once (the broker may have restarted since the last
    /// logout) and sends it again.
    pub fn publish(&mut self, st: &Settings, topic: &str, payload: &[u8]) -> Result<String, String> {
        let had = self.stream.is_some();
        match self.ensure(st).and_then(|()| self.publish_once(st, topic, payload)) {
            Ok(answer) => Ok(answer),
            Err(e) if had => {
                self.retry_at = Instant::now();
                self.ensure(st).and_then(|()| self.publish_once(st, topic, payload)).map_err(|e2| format!("{e}; {e2}"))
            }
            Err(e) => Err(e),
        }
    }

    fn publish_once(&mut self, st: &Settings, topic: &str, payload: &[u8]) -> Result<String, String> {
        // Answers left over from an earlier, timed-out publish must not pass for this one's.
        if let Err(e) = self.drain(st) {
            self.stream = None;
            return Err(e);
        }
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        let id = self.next_id;
        let mut body = Vec::with_capacity(topic.len() + payload.len() + 4);
        string(topic.as_bytes(), &mut body);
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(payload);
        let (mut acked, mut answer) = (false, None);
        let response = st.response_topic.as_bytes();
        let result = self.exchange(st, &packet(0x32, &body), |first, b| {
            if first >> 4 == 4 && b.get(..2) == Some(&id.to_be_bytes()[..]) {
                acked = true;
            } else if first >> 4 == 3 {
                let tlen = b.get(..2).map_or(0, |x| u16::from_be_bytes([x[0], x[1]]) as usize);
                let skip = 2 + tlen + if (first >> 1) & 3 > 0 { 2 } else { 0 };
                if b.get(2..2 + tlen) == Some(response) {
                    answer = b.get(skip..).map(|p| String::from_utf8_lossy(p).into_owned());
                }
            }
            acked && answer.is_some()
        });
        match result {
            Ok(()) => Ok(answer.unwrap_or_default()),
            Err(e) if acked => Err(format!(
                "no answer from the plugin (is options.logout on, and may this account publish to {topic}?): {e}"
            )),
            Err(e) => Err(format!("no PUBACK: {e}")),
        }
    }

    /// A PINGREQ when the connection has been idle for half the keepalive; a reconnect when down.
    pub fn keepalive(&mut self, st: &Settings) -> Result<(), String> {
        if self.stream.is_some() {
            if let Err(e) = self.drain(st) {
                self.stream = None;
                return Err(e);
            }
        }
        if self.stream.is_none() {
            return self.ensure(st);
        }
        if self.last_io.elapsed() < Duration::from_secs(u64::from(st.keepalive / 2).max(1)) {
            return Ok(());
        }
        self.exchange(st, &[0xC0, 0], |first, _| first >> 4 == 13).map_err(|e| format!("no PINGRESP: {e}"))
    }

    /// Reads what the broker sent since the last exchange (the plugin's answers), so that a closed
    /// connection (the broker kicked the relay, e.g. at its token's expiry) is noticed within a
    /// keepalive pass and reconnected with a re-read token, not at the next logout.
    fn drain(&mut self, st: &Settings) -> Result<(), String> {
        let (Some(s), Some(probe)) = (self.stream.as_mut(), self.probe.as_ref()) else { return Ok(()) };
        let quick = |t: Duration| probe.set_read_timeout(Some(t)).map_err(|e| e.to_string());
        let result = (|| {
            for _ in 0..1000 {
                quick(Duration::from_millis(1))?;
                let mut first = [0u8];
                match s.read(&mut first) {
                    Ok(0) => return Err("the broker closed the connection".to_string()),
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                        return Ok(())
                    }
                    Err(e) => return Err(e.to_string()),
                }
                quick(st.timeout)?;
                let rest = read_after_first(s.as_mut(), first[0]).map_err(|e| e.to_string())?;
                ack_if_needed(s.as_mut(), first[0], &rest).map_err(|e| e.to_string())?;
            }
            Ok(())
        })();
        let _ = quick(st.timeout);
        result
    }

    /// Sends `p` and reads until `done` says the answer came, within the timeout. Anything else the
    /// broker sends (the plugin's answers on the response topic) is read and dropped; a QoS 1 one is
    /// acknowledged. Any failure drops the connection.
    fn exchange(&mut self, st: &Settings, p: &[u8], mut done: impl FnMut(u8, &[u8]) -> bool) -> Result<(), String> {
        let Some(s) = self.stream.as_mut() else { return Err("not connected".into()) };
        let deadline = Instant::now() + st.timeout;
        let result = (|| -> std::io::Result<()> {
            s.write_all(p)?;
            s.flush()?;
            for _ in 0..1000 {
                if Instant::now() > deadline {
                    break;
                }
                let (first, body) = read_packet(s.as_mut())?;
                if done(first, &body) {
                    return Ok(());
                }
                ack_if_needed(s.as_mut(), first, &body)?;
            }
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"))
        })();
        match result {
            Ok(()) => {
                self.last_io = Instant::now();
                Ok(())
            }
            Err(e) => {
                self.stream = None;
                Err(e.to_string())
            }
        }
    }

    pub fn disconnect(&mut self) {
        self.probe = None;
        if let Some(mut s) = self.stream.take() {
            let _ = s.write_all(&[0xE0, 0]).and_then(|()| s.flush());
        }
    }
}

/// TLS settings trusting the CA certificates of `cafile` (PEM) only.
pub fn tls_config(cafile: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(cafile).map_err(|e| format!("{}: {e}", cafile.display()))?;
    for c in certs {
        let c = c.map_err(|e| format!("{}: {e}", cafile.display()))?;
        roots.add(c).map_err(|e| format!("{}: {e}", cafile.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no CA certificate", cafile.display()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}
