//! Strict JSON for headers and claims sets: keys unique at every depth (serde_json's recursion limit
//! bounds the depth), and, for claims, only the claims that later decisions read built into values.
use serde::de::{Deserialize, DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// A JSON object whose keys are unique at every depth: a duplicated claim or header is a forgery
/// attempt (parsers disagree on which copy wins), not data.
pub(super) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Strict>(bytes) {
        Ok(Strict(Value::Object(m))) => Ok(m),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) if e.to_string().starts_with("duplicate key") => Err("duplicate key".into()),
        // serde's message can quote input; keep only its category.
        Err(e) => Err(format!("invalid JSON ({:?})", e.classify())),
    }
}

/// The claims [`Verifier::token_from_claims`] reads.
const CHECKED: [&str; 8] = ["sub", "iss", "exp", "nbf", "iat", "aud", "scope", "scp"];

/// A JSON object as [`parse_object`] would check it, with only the checked claims and `keep` built.
pub(super) fn parse_claims<K: AsRef<str>>(bytes: &[u8], keep: &[K]) -> Result<Map<String, Value>, String> {
    let mut d = serde_json::Deserializer::from_slice(bytes);
    let parsed = Selective(keep).deserialize(&mut d).and_then(|m| d.end().map(|()| m));
    match parsed {
        Ok(m) => Ok(m),
        Err(e) if e.to_string().starts_with("duplicate key") => Err("duplicate key".into()),
        Err(e) if e.to_string().starts_with("not a JSON object") => Err("not a JSON object".into()),
        Err(e) => Err(format!("invalid JSON ({:?})", e.classify())),
    }
}

struct Selective<'k, K>(&'k [K]);

impl<'de, K: AsRef<str>> DeserializeSeed<'de> for Selective<'_, K> {
    type Value = Map<String, Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, K: AsRef<str>> Visitor<'de> for Selective<'_, K> {
    type Value = Map<String, Value>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut m = Map::new();
        let mut skipped = Keys::default();
        while let Some(Key(k)) = a.next_key()? {
            if CHECKED.contains(&&*k) || self.0.iter().any(|x| x.as_ref() == &*k) {
                let Strict(v) = a.next_value()?;
                if m.insert(k.into_owned(), v).is_some() {
                    return Err(A::Error::custom("duplicate key"));
                }
            } else {
                skipped.insert::<A::Error>(k)?;
                a.next_value::<Checked>()?;
            }
        }
        Ok(m)
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        // Read to the end first: a syntax error inside is reported as such.
        while a.next_element::<Checked>()?.is_some() {}
        Err(A::Error::custom("not a JSON object"))
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The keys of one object seen so far: a list, then a set once a (signed, but odd) token has many.
#[derive(Default)]
struct Keys<'de> {
    few: Vec<Cow<'de, str>>,
    many: std::collections::HashSet<Cow<'de, str>>,
}

impl<'de> Keys<'de> {
    fn insert<E: serde::de::Error>(&mut self, k: Cow<'de, str>) -> Result<(), E> {
        let fresh = if self.few.len() < 32 {
            let fresh = !self.few.contains(&k);
            self.few.push(k);
            fresh
        } else {
            if self.many.is_empty() {
                self.many.extend(self.few.drain(..));
            }
            self.many.insert(k)
        };
        if fresh {
            Ok(())
        } else {
            Err(E::custom("duplicate key"))
        }
    }
}

/// Any JSON value, read with the duplicate-key check of [`Strict`] at every depth but not built.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Checked, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Checked, A::Error> {
        while a.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Checked, A::Error> {
        let mut seen = Keys::default();
        while let Some(Key(k)) = a.next_key()? {
            seen.insert::<A::Error>(k)?;
            a.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = a.next_element()? {
            items.push(v);
        }
        Ok(Strict(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Strict, A::Error> {
        let mut m = Map::new();
        while let Some(k) = a.next_key::<String>()? {
            let Strict(v) = a.next_value()?;
            if m.insert(k, v).is_some() {
                return Err(A::Error::custom("duplicate key"));
            }
        }
        Ok(Strict(Value::Object(m)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The selective parse refuses exactly what the full one refuses, and keeps the same values.
    #[test]
    fn selective_and_full_parses_agree() {
        let deep = format!("{{\"sub\":\"a\",\"x\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        let cases = [
            r#"{"sub":"a","exp":1,"other":{"k":1,"l":[1,{"m":2}]}}"#,
            r#"{"sub":"a","sub":"b"}"#,
            r#"{"sub":"a","s\u0075b":"b"}"#,
            r#"{"x":1,"x":2}"#,
            r#"{"x":{"k":1,"k":2}}"#,
            r#"{"x":[{"k":1,"k":2}]}"#,
            r#"{"aud":{"k":1,"k":2}}"#,
            r#"{"roles":{"k":1,"k":2}}"#,
            r#"{"roles":["a"],"x":"\ud800"}"#,
            r#"["sub"]"#,
            r#""sub""#,
            "null",
            r#"{"sub":"a"} x"#,
            r#"{"sub":"a""#,
            &deep,
        ];
        let keep = ["roles".to_string()];
        for c in cases {
            let full = parse_object(c.as_bytes());
            let selective = parse_claims(c.as_bytes(), &keep);
            match (&full, &selective) {
                (Ok(f), Ok(s)) => {
                    for k in ["sub", "exp", "aud", "roles"] {
                        assert_eq!(f.get(k), s.get(k), "{c}: {k}");
                    }
                    assert!(s.get("other").is_none() && s.get("x").is_none(), "{c}: not kept");
                }
                (Err(f), Err(s)) => assert_eq!(f, s, "{c}"),
                _ => panic!("{c}: full {full:?}, selective {selective:?}"),
            }
        }
        let many: String =
            (0..100).map(|i| format!("\"k{i}\":{i},")).chain(["\"k7\":0}".to_string()]).collect::<String>();
        let many = format!("{{{many}");
        assert_eq!(parse_claims(many.as_bytes(), &keep), Err("duplicate key".into()), "past the list, in the set");
    }
}
