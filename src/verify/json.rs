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

/// A member the verifier reads, as the JSON said it: strings are borrowed from the input when they
/// have no escapes, and nothing is built for it but this.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) enum Field<'de> {
    #[default]
    Absent,
    Str(Cow<'de, str>),
    Num(f64),
    /// An array: its string items (the only ones `aud`, `scope` and `scp` can use).
    Strs(Vec<Cow<'de, str>>),
    /// Any other JSON value (null, a boolean, an object).
    Other,
}

impl Field<'_> {
    fn from_value(v: &Value) -> Field<'static> {
        match v {
            Value::String(s) => Field::Str(Cow::Owned(s.clone())),
            // Without serde_json's arbitrary precision every number has an f64.
            Value::Number(n) => Field::Num(n.as_f64().unwrap_or(f64::NAN)),
            Value::Array(items) => {
                Field::Strs(items.iter().filter_map(Value::as_str).map(|s| Cow::Owned(s.to_owned())).collect())
            }
            _ => Field::Other,
        }
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Which members [`pick`] also builds into values, for [`crate::token::Token::claims`].
#[derive(Clone, Copy)]
pub(super) enum Build<'k> {
    All,
    Only(&'k [String]),
}

/// An object's members named in `names`, as [`Field`]s, and the members `build` asks for, as values.
pub(super) struct Picked<'de, const K: usize> {
    pub fields: [Field<'de>; K],
    pub built: Map<String, Value>,
}

/// A JSON object checked as [`parse_object`] checks it (keys unique at every depth), reading the
/// members named in `names` into fields and building only those `build` asks for: the others are
/// read, not built.
pub(super) fn pick<'de, const K: usize>(
    bytes: &'de [u8],
    names: [&str; K],
    build: Build,
) -> Result<Picked<'de, K>, String> {
    let mut d = serde_json::Deserializer::from_slice(bytes);
    let parsed = Picker { names, build }.deserialize(&mut d).and_then(|m| d.end().map(|()| m));
    match parsed {
        Ok(m) => Ok(m),
        Err(e) if e.to_string().starts_with("duplicate key") => Err("duplicate key".into()),
        Err(e) if e.to_string().starts_with("not a JSON object") => Err("not a JSON object".into()),
        Err(e) => Err(format!("invalid JSON ({:?})", e.classify())),
    }
}

struct Picker<'n, 'k, const K: usize> {
    names: [&'n str; K],
    build: Build<'k>,
}

impl<'de, const K: usize> DeserializeSeed<'de> for Picker<'_, '_, K> {
    type Value = Picked<'de, K>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, const K: usize> Visitor<'de> for Picker<'_, '_, K> {
    type Value = Picked<'de, K>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut out = Picked { fields: std::array::from_fn(|_| Field::Absent), built: Map::new() };
        let mut skipped = Keys::default();
        while let Some(Key(k)) = a.next_key()? {
            let field = self.names.iter().position(|n| *n == k);
            let wanted = match self.build {
                Build::All => true,
                Build::Only(list) => list.iter().any(|x| *x == k),
            };
            if field.is_some_and(|i| out.fields[i] != Field::Absent) {
                return Err(A::Error::custom("duplicate key"));
            }
            match (field, wanted) {
                (Some(i), false) => out.fields[i] = a.next_value::<FieldOf>()?.0,
                (field, true) => {
                    let Strict(v) = a.next_value()?;
                    if let Some(i) = field {
                        out.fields[i] = Field::from_value(&v);
                    }
                    if out.built.insert(k.into_owned(), v).is_some() {
                        return Err(A::Error::custom("duplicate key"));
                    }
                }
                (None, false) => {
                    skipped.insert::<A::Error>(k)?;
                    a.next_value::<Checked>()?;
                }
            }
        }
        Ok(out)
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

/// A [`Field`] read from the input, nested values checked as [`Checked`] does.
struct FieldOf<'de>(Field<'de>);

impl<'de> Deserialize<'de> for FieldOf<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = FieldOf<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(FieldOf(Field::Str(Cow::Borrowed(v))))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(FieldOf(Field::Str(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(FieldOf(Field::Str(Cow::Owned(v))))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(FieldOf(Field::Num(v as f64)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(FieldOf(Field::Num(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(FieldOf(Field::Num(v)))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(FieldOf(Field::Other))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(FieldOf(Field::Other))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = a.next_element::<FieldOf>()? {
            if let Field::Str(s) = item.0 {
                items.push(s);
            }
        }
        Ok(FieldOf(Field::Strs(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
        CheckedVisitor.visit_map(a)?;
        Ok(FieldOf(Field::Other))
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

    /// The picking parse refuses exactly what the full one refuses, and reads the same values.
    #[test]
    fn picking_and_full_parses_agree() {
        let deep = format!("{{\"sub\":\"a\",\"x\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        let cases = [
            r#"{"sub":"a","exp":1,"other":{"k":1,"l":[1,{"m":2}]}}"#,
            r#"{"sub":"a","sub":"b"}"#,
            r#"{"sub":"a","s\u0075b":"b"}"#,
            r#"{"sub":"a\u0062","aud":["x",1,"y\n",null],"exp":1.5e9}"#,
            r#"{"x":1,"x":2}"#,
            r#"{"x":{"k":1,"k":2}}"#,
            r#"{"x":[{"k":1,"k":2}]}"#,
            r#"{"aud":{"k":1,"k":2}}"#,
            r#"{"aud":[{"k":1,"k":2}]}"#,
            r#"{"roles":{"k":1,"k":2}}"#,
            r#"{"roles":["a"],"roles":["b"]}"#,
            r#"{"roles":["a"],"x":"\ud800"}"#,
            r#"{"exp":null,"sub":true}"#,
            r#"["sub"]"#,
            r#""sub""#,
            "null",
            r#"{"sub":"a"} x"#,
            r#"{"sub":"a""#,
            &deep,
        ];
        let keep = ["roles".to_string()];
        let names = ["sub", "exp", "aud"];
        for c in cases {
            let full = parse_object(c.as_bytes());
            let picked = pick(c.as_bytes(), names, Build::Only(&keep));
            let all = pick(c.as_bytes(), names, Build::All);
            match (&full, &picked, &all) {
                (Ok(f), Ok(p), Ok(a)) => {
                    for (i, k) in names.iter().enumerate() {
                        let want = f.get(*k).map_or(Field::Absent, Field::from_value);
                        assert_eq!(p.fields[i], want, "{c}: {k}");
                        assert_eq!(a.fields[i], want, "{c}: {k}, all built");
                    }
                    assert_eq!(p.built.get("roles"), f.get("roles"), "{c}: kept");
                    assert_eq!(p.built.len(), f.contains_key("roles") as usize, "{c}: only the kept are built");
                    assert_eq!(&a.built, f, "{c}: all built");
                }
                (Err(f), Err(p), Err(a)) => assert!(f == p && f == a, "{c}: {f} / {p} / {a}"),
                _ => panic!("{c}: full {full:?}, picked {:?}", picked.as_ref().err()),
            }
        }
        let many: String =
            (0..100).map(|i| format!("\"k{i}\":{i},")).chain(["\"k7\":0}".to_string()]).collect::<String>();
        let many = format!("{{{many}");
        assert_eq!(pick(many.as_bytes(), names, Build::Only(&keep)).err(), Some("duplicate key".into()));
    }
}
