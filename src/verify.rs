//! Token → verified claims. Pure: no I/O, no broker, no clock of its own (the caller passes `now`).
//! The configured allow-list and the key's kind decide the algorithm; the token only names one of them.
use crate::alg::Alg;
use crate::keys::{Candidates, KeySet};
use crate::logsafe::clean;
use crate::pattern::Pattern;
use crate::refusal::{Reason, Refused};
use crate::token::{Claims, Token};
use json::{parse_object, pick, Build, Field};
use serde_json::{Map, Value};
use std::sync::Arc;

mod json;
mod scan;
#[cfg(test)]
mod tests;

/// The checks of one configuration; the keys are passed per call (they rotate, and with several
/// issuers the token's `iss` picks them).
pub struct Verifier {
    pub algorithms: Vec<Alg>,
    pub issuers: Vec<Pattern>,
    pub audiences: Vec<Pattern>,
    pub required_scopes: Vec<String>,
    pub validate_expiration: bool,
    pub leeway: f64,
    pub max_token_bytes: usize,
    /// The last header that passed, as sent: an identity provider signs every token with the same
    /// few headers, so most CONNECTs skip decoding and parsing it.
    pub last_header: HeaderMemo,
    /// The issuers seen so far, one string shared by every token and session of that issuer.
    pub issuers_seen: IssuerNames,
}

/// Distinct issuers interned; beyond that (no issuer list configured and many issuers) each token
/// keeps its own copy.
const MAX_INTERNED_ISSUERS: usize = 64;

#[derive(Default)]
pub struct IssuerNames(parking_lot::Mutex<Vec<Arc<str>>>);

impl IssuerNames {
    fn intern(&self, iss: &str) -> Arc<str> {
        let mut known = self.0.lock();
        match known.iter().find(|k| ***k == *iss) {
            Some(k) => k.clone(),
            None if known.len() < MAX_INTERNED_ISSUERS => {
                let k: Arc<str> = Arc::from(iss);
                known.push(k.clone());
                k
            }
            None => Arc::from(iss),
        }
    }
}

/// A header segment and what [`Verifier::verify_signed_keeping`] read from it (for this verifier's
/// allow-list: a memo is never shared between verifiers).
#[derive(Default)]
pub struct HeaderMemo(parking_lot::Mutex<Option<Arc<Header>>>);

struct Header {
    segment: Box<str>,
    alg: Alg,
    kid: Option<Box<str>>,
}

/// The bytes of a compact JWS: base64url and the dots (a table: this runs over every byte of every
/// token, before anything else).
const COMPACT: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.';
        b += 1;
    }
    t
};

/// The header parameters read below (the others are checked as JSON, not built).
const HEADER: [&str; 3] = ["alg", "kid", "crit"];
/// The claims [`Verifier::token_from_fields`] reads, in the order of its fields.
const CHECKED: [&str; 8] = ["sub", "iss", "exp", "nbf", "iat", "aud", "scope", "scp"];

/// A segment decoded on the heap, by the same decoder as [`b64url_into`].
fn b64url(part: &str) -> Option<Vec<u8>> {
    base64_simd::URL_SAFE_NO_PAD.decode_to_vec(part.as_bytes()).ok()
}

/// Decodes a segment into `buf` when it fits (signatures and most claims sets do), else into
/// `spill`: no allocation for the common token. SIMD base64url, strict as the `base64` crate's
/// URL_SAFE_NO_PAD (no padding, canonical trailing bits; `decodes_like_the_base64_crate` checks).
/// Not inlined, so that ci/profile-connect.sh can name its cost.
#[inline(never)]
fn b64url_into<'b>(part: &str, buf: &'b mut [u8], spill: &'b mut Vec<u8>) -> Option<&'b [u8]> {
    use base64_simd::AsOut;
    let e = base64_simd::URL_SAFE_NO_PAD;
    // The length check first: decode panics on a short buffer.
    let n = e.decoded_length(part.as_bytes()).ok()?;
    if n <= buf.len() {
        e.decode(part.as_bytes(), buf[..n].as_out()).ok().map(|d| &*d)
    } else {
        *spill = b64url(part)?;
        Some(spill)
    }
}

fn malformed(detail: &str) -> Refused {
    Refused::new(Reason::Malformed, detail)
}

impl Verifier {
    /// Signature and time-independent claims. Time is checked by [`Verifier::check_time`].
    pub fn verify_signed(&self, token: &str, keys: &KeySet) -> Result<Token, Refused> {
        self.verify_signed_keeping(token, keys, None)
    }

    /// Like [`Verifier::verify_signed`], keeping in [`Token::claims`] only the claims this
    /// verifier checks and those named in `keep` (None: all). The others are still read, with
    /// the same duplicate-key checks at every depth, but never built into values.
    pub fn verify_signed_keeping(&self, token: &str, keys: &KeySet, keep: Option<&[String]>) -> Result<Token, Refused> {
        if token.is_empty() {
            return Err(Refused::new(Reason::NoToken, "empty"));
        }
        if token.len() > self.max_token_bytes {
            return Err(Refused::new(
                Reason::TooLarge,
                format!("{} bytes, limit {}", token.len(), self.max_token_bytes),
            ));
        }
        // A token that verifies has only base64url characters and dots (its segments decoded, or
        // equal a header that did): the scan over every byte runs only to name a refusal's cause.
        self.verify_compact(token, keys, keep).map_err(|r| {
            if token.bytes().all(|b| COMPACT[b as usize]) {
                r
            } else {
                malformed("not a compact JWS (characters outside base64url)")
            }
        })
    }

    fn verify_compact(&self, token: &str, keys: &KeySet, keep: Option<&[String]>) -> Result<Token, Refused> {
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            // RFC 7516: the compact JWE has five parts (header, key, IV, ciphertext, tag).
            if token.split('.').count() == 5 {
                return Err(Refused::new(Reason::EncryptedToken, "five parts: a JWE, not a signed JWT"));
            }
            return Err(malformed("not three dot-separated parts"));
        };
        let header = self.header(h64)?;
        let (alg, kid) = (header.alg, header.kid.as_deref());
        if keys.keys.is_empty() {
            return Err(Refused::new(Reason::NoKeys, "no verification keys are loaded"));
        }
        let keys = match keys.candidates(alg, kid) {
            Candidates::Found(k) => k,
            Candidates::UnknownKid => {
                return Err(Refused::new(Reason::UnknownKid, format!("kid {}", clean(kid.unwrap_or(""), 64))))
            }
            Candidates::AmbiguousKid(n) => {
                let kid = clean(kid.unwrap_or(""), 64);
                return Err(Refused::new(
                    Reason::UnknownKid,
                    format!("kid {kid} names {n} keys of the set: ambiguous"),
                ));
            }
            Candidates::NoKeyForAlg(detail) => return Err(Refused::new(Reason::NoKeyForAlgorithm, detail)),
        };
        let signed = &token[..h64.len() + 1 + p64.len()];
        // RSA-4096's 512 bytes are the largest signature commonly met.
        let (mut buf, mut spill) = ([0u8; 512], Vec::new());
        let sig = b64url_into(s64, &mut buf, &mut spill).ok_or_else(|| malformed("signature is not base64url"))?;
        let ok = keys.iter().any(|k| k.key.verify(alg, signed.as_bytes(), sig));
        if !ok {
            return Err(Refused::new(Reason::BadSignature, alg.name()));
        }
        let (mut buf, mut spill) = ([0u8; 1024], Vec::new());
        let payload = b64url_into(p64, &mut buf, &mut spill).ok_or_else(|| malformed("payload is not base64url"))?;
        // Signed by a trusted key, so not a transport accident: the issuer signed a non-JWT.
        let build = keep.map_or(Build::All, Build::Only);
        let claims =
            pick(payload, CHECKED, build).map_err(|e| Refused::new(Reason::BadClaimsSet, format!("payload: {e}")))?;
        self.token_from_fields(claims.fields, claims.built)
    }

    /// The algorithm and kid of a header segment that names an allowed algorithm and no `crit`.
    fn header(&self, h64: &str) -> Result<Arc<Header>, Refused> {
        if let Some(h) = self.last_header.0.lock().as_ref().filter(|h| *h.segment == *h64) {
            return Ok(h.clone());
        }
        let header = b64url(h64).ok_or_else(|| malformed("header is not base64url"))?;
        let header = pick(&header, HEADER, Build::Only(&[])).map_err(|e| malformed(&format!("header: {e}")))?;
        let [alg_field, kid_field, crit] = &header.fields;
        let alg_name = alg_field.as_str().ok_or_else(|| malformed("header has no alg"))?;
        let alg = self
            .algorithms
            .iter()
            .copied()
            .find(|a| a.name() == alg_name)
            .ok_or_else(|| Refused::new(Reason::AlgorithmNotAllowed, format!("alg {}", clean(alg_name, 16))))?;
        if *crit != Field::Absent {
            return Err(Refused::new(Reason::CritHeader, "no critical header extension is supported"));
        }
        // A present kid must be a string: `"kid": null` is not "no kid" (that would try every key).
        let kid = match kid_field {
            Field::Absent => None,
            Field::Str(k) => Some(Box::from(&**k)),
            _ => return Err(malformed("kid is not a string")),
        };
        let header = Arc::new(Header { segment: h64.into(), alg, kid });
        *self.last_header.0.lock() = Some(header.clone());
        Ok(header)
    }

    /// The checks of the claims, read into fields ([`CHECKED`]'s order); `claims` is what the token keeps.
    fn token_from_fields(&self, fields: [Field; 8], claims: Claims) -> Result<Token, Refused> {
        let [sub, iss, exp, nbf, iat, aud, scope, scp] = fields;
        let exp = numeric_date(&exp, "exp")?;
        let nbf = numeric_date(&nbf, "nbf")?;
        let iat = numeric_date(&iat, "iat")?;
        if self.validate_expiration && exp.is_none() {
            return Err(Refused::new(Reason::MissingExpiry, "the token has no exp"));
        }
        let sub = match sub {
            Field::Absent => None,
            // The subject becomes the MQTT username or client id, which topic patterns substitute
            // (%u, %c) with no protection from mosquitto for v5 plugins: no MQTT wildcards in it.
            Field::Str(s) if !s.is_empty() && !s.chars().any(|c| c.is_control() || c == '+' || c == '#') => {
                Some(Arc::from(&*s))
            }
            Field::Str(_) => {
                return Err(Refused::new(Reason::BadSubject, "empty or holds control or MQTT wildcard characters"))
            }
            _ => return Err(Refused::new(Reason::BadSubject, "not a string")),
        };
        if !self.issuers.is_empty() {
            let iss = match &iss {
                Field::Str(s) => &**s,
                Field::Absent => return Err(Refused::new(Reason::WrongIssuer, "no iss")),
                _ => return Err(Refused::new(Reason::WrongIssuer, "iss is not a string")),
            };
            if !self.issuers.iter().any(|p| p.matches(iss)) {
                return Err(Refused::new(Reason::WrongIssuer, format!("iss {}", clean(iss, 100))));
            }
        }
        if !self.audiences.is_empty() {
            let auds: &[std::borrow::Cow<str>] = match &aud {
                Field::Str(s) => std::slice::from_ref(s),
                Field::Strs(items) => items,
                Field::Absent => return Err(Refused::new(Reason::WrongAudience, "no aud")),
                _ => return Err(Refused::new(Reason::WrongAudience, "aud is not a string or array")),
            };
            if !auds.iter().any(|a| self.audiences.iter().any(|p| p.matches(a))) {
                return Err(Refused::new(Reason::WrongAudience, "no allowed audience"));
            }
        }
        if let Some(missing) = self.required_scopes.iter().find(|s| !has_scope(&[&scope, &scp], s)) {
            return Err(Refused::new(Reason::MissingScope, format!("scope {} not granted", clean(missing, 64))));
        }
        let iss = iss.as_str().map(|i| self.issuers_seen.intern(i));
        Ok(Token { sub, iss, exp: exp.into(), nbf: nbf.into(), iat: iat.into(), claims })
    }

    /// exp, nbf and iat against `now` (seconds since the epoch), with the configured leeway.
    pub fn check_time(&self, t: &Token, now: f64) -> Result<(), Refused> {
        if self.validate_expiration {
            if let Some(exp) = t.exp.get() {
                if now >= exp + self.leeway {
                    return Err(Refused::new(Reason::Expired, format!("{}s ago", (now - exp).floor())));
                }
            }
        }
        if let Some(nbf) = t.nbf.get() {
            if nbf > now + self.leeway {
                return Err(Refused::new(Reason::NotYetValid, format!("valid in {}s", (nbf - now).ceil())));
            }
        }
        if let Some(iat) = t.iat.get() {
            if iat > now + self.leeway {
                return Err(Refused::new(Reason::IssuedInFuture, format!("{}s ahead", (iat - now).ceil())));
            }
        }
        Ok(())
    }

    pub fn verify(&self, token: &str, keys: &KeySet, now: f64) -> Result<Token, Refused> {
        let t = self.verify_signed(token, keys)?;
        self.check_time(&t, now)?;
        Ok(t)
    }
}

/// The JOSE header of a compact token, if it decodes (read after the signature was checked).
pub(crate) fn header_of(token: &str) -> Option<Map<String, Value>> {
    parse_object(&b64url(token.split('.').next()?)?).ok()
}

/// The `iss` of a token whose signature is not checked yet: only to pick the issuer's keys, which
/// then verify the very payload this was read from.
pub fn unverified_issuer(token: &str) -> Result<Option<String>, Refused> {
    let payload = token.split('.').nth(1).ok_or_else(|| malformed("not three dot-separated parts"))?;
    let payload = b64url(payload).ok_or_else(|| malformed("payload is not base64url"))?;
    let [iss] = pick(&payload, ["iss"], Build::Only(&[])).map_err(|e| malformed(&format!("payload: {e}")))?.fields;
    match iss {
        Field::Absent => Ok(None),
        Field::Str(s) => Ok(Some(s.into_owned())),
        _ => Err(Refused::new(Reason::WrongIssuer, "iss is not a string")),
    }
}

/// OAuth's `scope` is a space-separated string; Azure AD puts delegated scopes in `scp` (string or list).
fn has_scope(fields: &[&Field], wanted: &str) -> bool {
    fields.iter().any(|v| match v {
        Field::Str(s) => s.split(' ').any(|x| x == wanted),
        Field::Strs(items) => items.iter().any(|x| x == wanted),
        _ => false,
    })
}

fn numeric_date(field: &Field, name: &str) -> Result<Option<f64>, Refused> {
    match field {
        Field::Absent => Ok(None),
        Field::Num(f) if f.is_finite() => Ok(Some(*f)),
        Field::Num(_) => Err(Refused::new(Reason::BadClaim, format!("{name} is not a finite number"))),
        _ => Err(Refused::new(Reason::BadClaim, format!("{name} is not a number"))),
    }
}
