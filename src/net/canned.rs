//! A canned HTTP/1.1 endpoint on loopback for unit tests of the code that calls identity providers
//! (token endpoint, introspection): reads a request, answers with a fixed (status, JSON body).
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver};

/// Reads one request (headers, then `content-length` bytes of body); None at the end of the
/// connection or on a broken request.
pub(crate) fn read_request(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut len = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(body)
}

/// Writes a JSON answer; `close` announces the end of the connection. False when the peer is gone.
pub(crate) fn write_answer(s: &mut TcpStream, status: u16, body: &str, close: bool) -> bool {
    let connection = if close { "connection: close\r\n" } else { "" };
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{connection}\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).and_then(|()| s.write_all(body.as_bytes())).is_ok()
}

/// Serves `answers` (status, body) in order, one connection each, at `path`; returns the URL and
/// a receiver of the request bodies.
pub(crate) fn one_shot(answers: Vec<(u16, String)>, path: &str) -> (String, Receiver<String>) {
    one_shot_after(answers, path, std::time::Duration::ZERO)
}

/// [`one_shot`], each answer written `delay` after its request was read (a slow endpoint).
pub(crate) fn one_shot_after(
    answers: Vec<(u16, String)>,
    path: &str,
    delay: std::time::Duration,
) -> (String, Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}{path}", l.local_addr().unwrap());
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for (status, body) in answers {
            let Ok((s, _)) = l.accept() else { return };
            let mut r = BufReader::new(s);
            let Some(req) = read_request(&mut r) else { return };
            let _ = tx.send(String::from_utf8_lossy(&req).into_owned());
            std::thread::sleep(delay);
            write_answer(r.get_mut(), status, &body, true);
        }
    });
    (url, rx)
}
