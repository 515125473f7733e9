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
    let version = if c.version == 0 { 4 } else { c.version };
    let mut body = Vec::new();
    put_str(&mut body, b"MQTT");
    body.push(version);
    // MQTT 3.1.1 forbids a password without a username: send an empty one there.
    let username = match (version, c.username, c.password) {
        (4, None, Some(_)) => Some(&b""[..]),
        (_, u, _) => u,
    };
    let mut flags = 0x02u8; // clean session / clean start
    if username.is_some() {
        flags |= 0x80;
    }
    if c.password.is_some() {
        flags |= 0x40;
    }
    body.push(flags);
    body.extend_from_slice(&c.keepalive.max(10).to_be_bytes());
    if version == 5 {
        body.push(0); // no properties
    }
    put_str(&mut body, c.client_id.as_bytes());
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
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("tcp connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(&connect_packet(c)).unwrap();
    match read_packet(&mut s) {
        Ok((0x20, body)) if body.len() >= 2 => {
            let code = body[1];
            (if code == 0 { Some(s) } else { None }, Outcome::Connack(code))
        }
        _ => (None, Outcome::Closed),
    }
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
