//! OIDC Back-Channel Logout 1.0: the rules of §2.6 for a logout token, on top of the signature and
//! claim checks of [`Verifier`] (same keys and algorithm allow-list as access tokens, `aud` the
//! configured logout audience), and which sessions and tokens a verified logout covers. Pure.
use crate::keys::KeySet;
use crate::refusal::{Reason, Refused};
use crate::verify::{header_of, Verifier};
use serde_json::Value;

mod memory;
#[cfg(test)]
mod tests;

pub use memory::{Expiring, Memory};

pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A verified logout: the identity (`sub`) or the provider session (`sid`) it ends, or both.
#[derive(Debug, Clone, PartialEq)]
pub struct Logout {
    pub iss: String,
    pub sub: Option<String>,
    pub sid: Option<String>,
    pub iat: f64,
    pub jti: String,
}

/// The time rules: `iat` no older than `max_age`, with the configured leeway.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub max_age: f64,
    pub leeway: f64,
}

fn bad(detail: impl Into<String>) -> Refused {
    Refused::new(Reason::BadLogoutToken, detail)
}

/// Signature, `typ`, `iss`, `aud`, `iat`, `exp`, `events`, `sub`/`sid`, `jti`, no `nonce`. The
/// `jti` replay check needs state: [`Memory::first_use`]. `v` must have been built for logout
/// tokens (audience: the logout audience; expiry not required).
pub fn verify(v: &Verifier, keys: &KeySet, token: &str, rules: Rules, now: f64) -> Result<Logout, Refused> {
    let t = v.verify_signed(token, keys)?;
    // Signed, so the header parses. `typ` is compared case-insensitively (RFC 7515 §4.1.9), and the
    // media-type form `application/logout+jwt` is the same type.
    if let Some(typ) = header_of(token).and_then(|h| h.get("typ").cloned()) {
        let typ = typ.as_str().map(str::to_ascii_lowercase);
        let typ = typ.as_deref().map(|s| s.strip_prefix("application/").unwrap_or(s));
        if typ != Some("logout+jwt") {
            return Err(bad("typ is not logout+jwt"));
        }
    }
    let iss = match t.claims.get("iss") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(bad("no iss")),
    };
    let iat = t.iat.get().ok_or_else(|| bad("no iat"))?;
    if iat > now + rules.leeway {
        return Err(Refused::new(Reason::IssuedInFuture, format!("{}s ahead", (iat - now).ceil())));
    }
    if now - iat > rules.max_age + rules.leeway {
        return Err(bad(format!("issued {}s ago, more than maxAgeSeconds", (now - iat).floor())));
    }
    if let Some(exp) = t.exp.get() {
        if now >= exp + rules.leeway {
            return Err(Refused::new(Reason::Expired, format!("{}s ago", (now - exp).floor())));
        }
    }
    match t.claims.get("events").and_then(Value::as_object).and_then(|e| e.get(BACKCHANNEL_EVENT)) {
        Some(Value::Object(_)) => {}
        Some(_) => return Err(bad("the back-channel logout event is not a JSON object")),
        None => return Err(bad("events does not hold the back-channel logout event")),
    }
    // A nonce would make it replayable as an ID token, and an ID token as a logout token.
    if t.claims.contains_key("nonce") {
        return Err(bad("has a nonce"));
    }
    let sid = match t.claims.get("sid") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => return Err(bad("sid is not a non-empty string")),
    };
    if t.sub.is_none() && sid.is_none() {
        return Err(bad("neither sub nor sid"));
    }
    let jti = match t.claims.get("jti") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 => s.clone(),
        Some(_) => return Err(bad("jti is not a string of 1 to 256 bytes")),
        None => return Err(bad("no jti")),
    };
    Ok(Logout { iss, sub: t.sub.map(|s| s.to_string()), sid, iat, jti })
}

impl Logout {
    /// Whether this logout ends a session, or refuses a token, with these claims. With a `sid` it
    /// covers that provider session, and tokens of its `sub` that carry no `sid` at all (they cannot
    /// be told apart); with a `sub` only, every token of that subject. Only tokens issued at or
    /// before the logout: one issued later belongs to a new login. A token without `iat` cannot be
    /// placed in time and is covered (fail closed).
    pub fn covers(&self, iss: Option<&str>, sub: Option<&str>, sid: Option<&str>, iat: Option<f64>) -> bool {
        if iss != Some(self.iss.as_str()) || iat.is_some_and(|i| i > self.iat) {
            return false;
        }
        match (&self.sid, &self.sub) {
            (Some(s), _) if sid == Some(s.as_str()) => true,
            (Some(_), Some(u)) => sid.is_none() && sub == Some(u.as_str()),
            (Some(_), None) => false,
            (None, Some(u)) => sub == Some(u.as_str()),
            (None, None) => false,
        }
    }
}
