//! What a verified token says: the type the verifier produces and authorization, sessions and the
//! cache read. A leaf (nothing of ours), so ACL rules and the cache need not depend on the verifier.
use serde_json::{Map, Value};
use std::sync::Arc;

/// What a verified token says, kept for identity checks and later authorization.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub sub: Option<Arc<str>>,
    /// `iss` when it is a string (a configured issuer list refuses any other).
    pub iss: Option<Arc<str>>,
    pub exp: Time,
    pub nbf: Time,
    pub iat: Time,
    pub claims: Claims,
}

/// A NumericDate claim (`exp`, `nbf`, `iat`), or none. NaN stands for none: a verified time is always
/// finite (`verify::numeric_date`), and a token keeps three of these in 24 bytes instead of 48 (one
/// per cached token and so per session).
#[derive(Debug, Clone, Copy)]
pub struct Time(f64);

impl Time {
    pub const NONE: Time = Time(f64::NAN);

    pub fn get(self) -> Option<f64> {
        (!self.0.is_nan()).then_some(self.0)
    }
}

impl From<Option<f64>> for Time {
    /// A NaN given as a time would read back as none: fail closed, as a time long past (for `exp`:
    /// expired), though the verifier never lets one through.
    fn from(t: Option<f64>) -> Time {
        match t {
            Some(t) if t.is_nan() => Time(f64::NEG_INFINITY),
            Some(t) => Time(t),
            None => Time::NONE,
        }
    }
}

impl PartialEq for Time {
    fn eq(&self, other: &Time) -> bool {
        self.get() == other.get()
    }
}

impl Token {
    /// A token of these claims alone: no subject, issuer or times (tests and benchmarks of rules).
    pub fn bare(claims: Claims) -> Token {
        Token { sub: None, iss: None, exp: Time::NONE, nbf: Time::NONE, iat: Time::NONE, claims }
    }

    /// A claim by name or dotted path (`realm_access.roles`).
    pub fn claim(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let mut v = self.claims.get(parts.next()?)?;
        for p in parts {
            v = v.as_object()?.get(p)?;
        }
        Some(v)
    }
}

/// The claims a token keeps, sorted by name in one exactly sized block. A cached token keeps a few
/// claims at most; a map would hold a B-tree node of eleven slots (≈ 630 bytes) for them, and
/// arrays and strings as parsed keep their spare capacity, in every entry of the cache.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Claims(Box<[(Box<str>, Value)]>);

impl Claims {
    /// From members with unique names, in any order, whose values are already exactly sized (as
    /// the verifier builds them; [`From<Map>`](Claims::from) shrinks them first).
    pub fn from_unique(mut members: Vec<(Box<str>, Value)>) -> Claims {
        members.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        debug_assert!(members.windows(2).all(|w| w[0].0 != w[1].0), "claim names are unique");
        Claims(members.into_boxed_slice())
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.binary_search_by(|(k, _)| (**k).cmp(name)).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| &**k)
    }

    /// A copy of the members `keep` says yes to (the others are not copied).
    pub fn only(&self, mut keep: impl FnMut(&str) -> bool) -> Claims {
        Claims(self.0.iter().filter(|(k, _)| keep(k)).cloned().collect())
    }
}

impl From<Map<String, Value>> for Claims {
    fn from(m: Map<String, Value>) -> Claims {
        let members = m.into_iter().map(|(k, mut v)| {
            shrink(&mut v);
            (k.into_boxed_str(), v)
        });
        Claims::from_unique(members.collect())
    }
}

/// Drops spare capacity in strings and arrays (nested objects stay maps: rare in kept claims).
fn shrink(v: &mut Value) {
    match v {
        Value::String(s) => s.shrink_to_fit(),
        Value::Array(items) => {
            items.iter_mut().for_each(shrink);
            items.shrink_to_fit();
        }
        Value::Object(m) => m.values_mut().for_each(shrink),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_read_back_and_none_is_none() {
        for t in [0.0, -1.5, 1_800_000_000.25, f64::MAX, f64::INFINITY] {
            assert_eq!(Time::from(Some(t)).get(), Some(t));
        }
        assert_eq!(Time::from(None).get(), None);
        assert_eq!(Time::NONE, Time::from(None));
        assert_eq!(Time::from(Some(f64::NAN)).get(), Some(f64::NEG_INFINITY), "a NaN is a time long past");
    }

    #[test]
    fn claims_are_found_by_name_whatever_order_they_came_in() {
        let members = ["z", "a", "m", "realm_access"].map(|k| (Box::from(k), json!(k)));
        let c = Claims::from_unique(members.to_vec());
        assert_eq!(c.keys().collect::<Vec<_>>(), ["a", "m", "realm_access", "z"]);
        for k in ["z", "a", "m", "realm_access"] {
            assert_eq!(c.get(k), Some(&json!(k)));
        }
        assert_eq!(c.get("b"), None);
        let c = c.only(|k| k != "m");
        assert!(!c.contains_key("m") && c.contains_key("z") && c.keys().count() == 3);
    }

    #[test]
    fn kept_arrays_and_strings_hold_no_spare_capacity() {
        let mut items = Vec::with_capacity(16);
        items.push(Value::String(String::with_capacity(64) + "a/#"));
        let mut m = Map::new();
        m.insert("publ".into(), Value::Array(items));
        let c = Claims::from(m);
        let Some(Value::Array(items)) = c.get("publ") else { panic!("array") };
        assert_eq!(items.capacity(), 1);
        assert!(matches!(&items[0], Value::String(s) if s.capacity() == 3));
    }
}
