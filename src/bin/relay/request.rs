//! What the relay checks of a request before publishing: the rate per source address, the method,
//! the form, the size and the JWT shape. Nothing else: the brokers verify the token.
use super::Relay;
use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::time::Instant;

/// Far above a real logout token (a few hundred bytes), far below abuse.
const MAX_BODY: usize = 8192;

/// The request's logout token, when the request is well-formed. Never logs or returns the token
/// in an error.
pub(super) fn check(
    relay: &Relay,
    request: &mut tiny_http::Request,
    from: Option<IpAddr>,
) -> Result<String, (u16, String)> {
    if !relay.limiter.lock().allow(from, Instant::now()) {
        return Err((429, "rate limit of this source address".into()));
    }
    if *request.method() != tiny_http::Method::Post {
        return Err((405, "not a POST".into()));
    }
    let form = request.headers().iter().any(|h| {
        h.field.equiv("Content-Type")
            && h.value
                .as_str()
                .split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !form {
        return Err((400, "not application/x-www-form-urlencoded".into()));
    }
    if request.body_length().is_some_and(|n| n > MAX_BODY) {
        return Err((413, format!("body larger than {MAX_BODY} bytes")));
    }
    let mut body = Vec::new();
    request
        .as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| (400, format!("cannot read the body: {e}")))?;
    if body.len() > MAX_BODY {
        return Err((413, format!("body larger than {MAX_BODY} bytes")));
    }
    let body = std::str::from_utf8(&body).map_err(|_| (400, "body is not UTF-8".to_string()))?;
    let tokens: Vec<String> = body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "logout_token")
        .map(|(_, v)| v.to_string())
        .collect();
    let [token] = tokens.as_slice() else {
        return Err((400, "no single logout_token in the form".into()));
    };
    let token = percent_decode(token).ok_or((400, "logout_token is not form-encoded".to_string()))?;
    if !jwt_shaped(&token) {
        return Err((400, "logout_token is not shaped like a JWT".into()));
    }
    Ok(token)
}

/// Three non-empty base64url parts.
fn jwt_shaped(t: &str) -> bool {
    let parts: Vec<&str> = t.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A token bucket per source address: `rate` per second, bursts of twice that.
pub(super) struct Limiter {
    rate: f64,
    buckets: HashMap<Option<IpAddr>, (f64, Instant)>,
}

impl Limiter {
    pub(super) fn new(rate: f64) -> Self {
        Limiter { rate, buckets: HashMap::new() }
    }

    pub(super) fn allow(&mut self, from: Option<IpAddr>, now: Instant) -> bool {
        let burst = (2.0 * self.rate).max(1.0);
        if self.buckets.len() > 10_000 {
            // Addresses idle long enough to be full again carry no state worth keeping.
            let full_after = burst / self.rate;
            self.buckets.retain(|_, (_, t)| now.duration_since(*t).as_secs_f64() < full_after);
        }
        let (tokens, last) = self.buckets.entry(from).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn form_values_decode_and_only_jwt_shapes_pass() {
        assert_eq!(percent_decode("a%2Eb+c").as_deref(), Some("a.b c"));
        assert_eq!(percent_decode("a%2"), None);
        assert!(jwt_shaped("aGVhZA.cGF5bG9hZA.c2ln"));
        assert!(!jwt_shaped("aGVhZA.cGF5bG9hZA"));
        assert!(!jwt_shaped("aGVhZA..c2ln"));
        assert!(!jwt_shaped("a.b.c.d.e"));
        assert!(!jwt_shaped("a b.c.d"));
    }

    #[test]
    fn the_rate_limit_is_per_source_address() {
        let mut l = Limiter::new(1.0);
        let t = Instant::now();
        let a = Some(IpAddr::from([127, 0, 0, 1]));
        let b = Some(IpAddr::from([127, 0, 0, 2]));
        assert!(l.allow(a, t) && l.allow(a, t));
        assert!(!l.allow(a, t), "burst of two used up");
        assert!(l.allow(b, t), "another address has its own bucket");
        assert!(l.allow(a, t + Duration::from_secs(1)), "refilled");
    }
}
