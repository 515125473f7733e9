//! A minimal raw MQTT client: enough to see exactly what the broker answers to a CONNECT.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct Connect<'a> {
    /// 4 = MQTT 3.1.1, 5 = MQTT 5.
    pub version: u8,
    pub client_id: &'a str,
    pub username: Option<&'a [u8]>,
    pub password: Option<&'a [u8]>,
    pub keepalive: u16,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Outcome {
    /// CONNACK with this return (3.1.1) or reason (5) code.
    Connack(u8),
    /// The broker closed the connection without a CONNACK.
    Closed,
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

pub fn connect_packet(c: &Connect) -> Vec<u8> {
    connect_v5_packet(&c.full())
}

impl<'a> Connect<'a> {
    fn full(&self) -> ConnectV5<'a> {
        ConnectV5 {
            version: if self.version == 0 { 4 } else { self.version },
            client_id: self.client_id,
            username: self.username,
            password: self.password,
            keepalive: self.keepalive.max(10),
            ..Default::default()
        }
    }
}

fn read_varint(s: &mut TcpStream) -> std::io::Result<usize> {
    let mut n = 0usize;
    for i in 0..4 {
        let mut b = [0u8];
        s.read_exact(&mut b)?;
        n |= ((b[0] & 0x7f) as usize) << (7 * i);
        if b[0] & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(std::io::Error::other("bad remaining length"))
}

/// Reads one packet: (first byte, body).
pub fn read_packet(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut first = [0u8];
    s.read_exact(&mut first)?;
    let len = read_varint(s)?;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok((first[0], body))
}

/// Connects and returns the stream (when accepted) and what the broker answered.
pub fn connect(port: u16, c: &Connect) -> (Option<TcpStream>, Outcome) {
    connect_v5(port, &c.full())
}

/// Connect with the token as password (MQTT 3.1.1); the CONNACK code or Closed.
pub fn connect_with_password(port: u16, client_id: &str, username: Option<&str>, token: &str) -> Outcome {
    let c = Connect {
        version: 4,
        client_id,
        username: username.map(str::as_bytes),
        password: Some(token.as_bytes()),
        keepalive: 30,
    };
    connect(port, &c).1
}

/// PINGREQ/PINGRESP round trip on a fresh accepted connection proves the broker is responsive.
pub fn ping(s: &mut TcpStream) -> bool {
    s.write_all(&[0xc0, 0x00]).is_ok() && matches!(read_packet(s), Ok((0xd0, _)))
}

pub fn disconnect(mut s: TcpStream) {
    let _ = s.write_all(&[0xe0, 0x00]);
}

/// CONNECT with everything the session tests need: will, v5 authentication method and data,
/// session expiry interval.
#[derive(Debug, Clone, Default)]
pub struct ConnectV5<'a> {
    pub client_id: &'a str,
    pub username: Option<&'a [u8]>,
    pub password: Option<&'a [u8]>,
    pub will: Option<(&'a str, &'a [u8])>,
    /// Whether the will is retained.
    pub will_retain: bool,
    /// (method, data): MQTT 5 enhanced authentication.
    pub auth: Option<(&'a str, &'a [u8])>,
    pub session_expiry: Option<u32>,
    /// 4 or 5 (default 5).
    pub version: u8,
    /// Seconds (default 30).
    pub keepalive: u16,
    /// Clean session (3.1.1) / clean start (5) off: the broker keeps the session when it goes offline.
    pub keep_session: bool,
}

fn props(out: &mut Vec<u8>, p: &[u8]) {
    put_varint(out, p.len());
    out.extend_from_slice(p);
}

pub fn connect_v5_packet(c: &ConnectV5) -> Vec<u8> {
    let version = if c.version == 0 { 5 } else { c.version };
    let v5 = version == 5;
    let mut body = Vec::new();
    put_str(&mut body, b"MQTT");
    body.push(version);
    let username = match (version, c.username, c.password) {
        (4, None, Some(_)) => Some(&b""[..]),
        (_, u, _) => u,
    };
    let mut flags = if c.keep_session { 0 } else { 0x02u8 };
    if username.is_some() {
        flags |= 0x80;
    }
    if c.password.is_some() {
        flags |= 0x40;
    }
    if c.will.is_some() {
        flags |= 0x04; // will, QoS 0
        if c.will_retain {
            flags |= 0x20;
        }
    }
    body.push(flags);
    body.extend_from_slice(&(if c.keepalive == 0 { 30 } else { c.keepalive }).to_be_bytes());
    if v5 {
        let mut p = Vec::new();
        if let Some(se) = c.session_expiry {
            p.push(0x11);
            p.extend_from_slice(&se.to_be_bytes());
        }
        if let Some((method, data)) = c.auth {
            p.push(0x15);
            put_str(&mut p, method.as_bytes());
            p.push(0x16);
            put_str(&mut p, data);
        }
        props(&mut body, &p);
    }
    put_str(&mut body, c.client_id.as_bytes());
    if let Some((topic, payload)) = c.will {
        if v5 {
            props(&mut body, &[]);
        }
        put_str(&mut body, topic.as_bytes());
        put_str(&mut body, payload);
    }
    if let Some(u) = username {
        put_str(&mut body, u);
    }
    if let Some(p) = c.password {
        put_str(&mut body, p);
    }
    let mut pkt = vec![0x10];
    put_varint(&mut pkt, body.len());
    pkt.extend_from_slice(&body);
    pkt
}

/// Connects; the stream when accepted, and the CONNACK code (or Closed).
pub fn connect_v5(port: u16, c: &ConnectV5) -> (Option<TcpStream>, Outcome) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("tcp connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(&connect_v5_packet(c)).unwrap();
    match read_packet(&mut s) {
        Ok((0x20, body)) if body.len() >= 2 => {
            let code = body[1];
            (if code == 0 { Some(s) } else { None }, Outcome::Connack(code))
        }
        _ => (None, Outcome::Closed),
    }
}

/// MQTT 5 AUTH with reason 0x19 (re-authenticate); returns the first packet's (type byte, body).
pub fn reauthenticate(s: &mut TcpStream, method: &str, data: &[u8]) -> std::io::Result<(u8, Vec<u8>)> {
    let mut p = Vec::new();
    p.push(0x15);
    put_str(&mut p, method.as_bytes());
    p.push(0x16);
    put_str(&mut p, data);
    let mut body = vec![0x19];
    props(&mut body, &p);
    let mut pkt = vec![0xf0];
    put_varint(&mut pkt, body.len());
    pkt.extend_from_slice(&body);
    s.write_all(&pkt)?;
    read_packet(s)
}

/// SUBSCRIBE to one filter at QoS 0 and wait for the SUBACK; the granted code.
pub fn subscribe(s: &mut TcpStream, v5: bool, filter: &str) -> u8 {
    let mut body = vec![0x00, 0x01];
    if v5 {
        body.push(0);
    }
    put_str(&mut body, filter.as_bytes());
    body.push(0);
    let mut pkt = vec![0x82];
    put_varint(&mut pkt, body.len());
    pkt.extend_from_slice(&body);
    s.write_all(&pkt).unwrap();
    loop {
        let (t, b) = read_packet(s).expect("suback");
        if t == 0x90 {
            return *b.last().unwrap();
        }
    }
}

/// PUBLISH at QoS 0.
/// A PUBLISH packet: QoS 0 without `packet_id`, QoS 1 with it.
pub fn publish_packet(v5: bool, topic: &str, packet_id: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, topic.as_bytes());
    if let Some(id) = packet_id {
        body.extend_from_slice(&id.to_be_bytes());
    }
    if v5 {
        body.push(0);
    }
    body.extend_from_slice(payload);
    let mut pkt = vec![if packet_id.is_some() { 0x32 } else { 0x30 }];
    put_varint(&mut pkt, body.len());
    pkt.extend_from_slice(&body);
    pkt
}

pub fn publish(s: &mut TcpStream, v5: bool, topic: &str, payload: &[u8]) -> std::io::Result<()> {
    s.write_all(&publish_packet(v5, topic, None, payload))
}

/// The next PUBLISH received within `timeout`: (topic, payload). Other packets are skipped.
pub fn next_publish(s: &mut TcpStream, v5: bool, timeout: Duration) -> Option<(String, Vec<u8>)> {
    s.set_read_timeout(Some(timeout)).unwrap();
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        let Ok((t, b)) = read_packet(s) else { return None };
        if t & 0xf0 != 0x30 {
            continue;
        }
        let tlen = u16::from_be_bytes([b[0], b[1]]) as usize;
        let topic = String::from_utf8_lossy(&b[2..2 + tlen]).into_owned();
        let mut rest = &b[2 + tlen..];
        if t & 0x06 != 0 {
            rest = &rest[2..]; // packet id
        }
        if v5 {
            let mut plen = 0usize;
            let mut i = 0;
            loop {
                let byte = rest[i];
                plen |= ((byte & 0x7f) as usize) << (7 * i);
                i += 1;
                if byte & 0x80 == 0 {
                    break;
                }
            }
            rest = &rest[i + plen..];
        }
        return Some((topic, rest.to_vec()));
    }
    None
}

/// Waits until the broker closes the connection (reading and discarding packets); the time it took,
/// or None if it stayed open for `timeout`. A DISCONNECT packet counts as closing.
pub fn wait_closed(s: &mut TcpStream, timeout: Duration) -> Option<Duration> {
    let start = std::time::Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf = [0u8; 1024];
    while start.elapsed() < timeout {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(n) if buf[..n].first() == Some(&0xe0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

/// PUBLISH at QoS 1 and wait for the PUBACK: its reason code (MQTT 5; 0 for 3.1.1 PUBACKs).
/// 0x10 "no matching subscribers" is a success and reads as 0.
pub fn publish_qos1(s: &mut TcpStream, v5: bool, topic: &str, payload: &[u8]) -> Option<u8> {
    s.write_all(&publish_packet(v5, topic, Some(7), payload)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    loop {
        let (t, b) = read_packet(s).ok()?;
        if t == 0x40 {
            let code = if b.len() > 2 { b[2] } else { 0 };
            return Some(if code == 0x10 { 0 } else { code });
        }
    }
}
