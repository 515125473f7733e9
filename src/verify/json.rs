//! Strict JSON for headers and claims sets: keys unique at every depth (serde_json's recursion limit
//! bounds the depth), and, for claims, only the claims that later decisions read built into values.
use super::scan::{same, Bad, Scanner};
use crate::token::Claims;
use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
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
    pub built: Claims,
}

/// A JSON object checked as [`parse_object`] checks it (keys unique at every depth), reading the
/// members named in `names` into fields and building only those `build` asks for: the others are
/// read, not built.
pub(super) fn pick<'de, const K: usize>(
    bytes: &'de [u8],
    names: [&str; K],
    build: Build,
) -> Result<Picked<'de, K>, String> {
    let mut fields = std::array::from_fn(|_| Field::Absent);
    // The scratch vector is fetched only for a first member to build: most headers and plain
    // configurations build none.
    let mut built = Vec::new();
    let mut s = Scanner::new(bytes);
    let read = s
        .object(|s, k| {
            let field = names.iter().position(|n| same(n, &k));
            let wanted = match build {
                Build::All => true,
                Build::Only(list) => list.iter().any(|x| same(x, &k)),
            };
            match (field, wanted) {
                (Some(i), false) => fields[i] = s.field()?,
                (field, true) => {
                    // Checked by the scanner already: serde_json only builds it.
                    let Strict(v) = serde_json::from_slice(s.raw()?).map_err(|_| Bad::Syntax)?;
                    if let Some(i) = field {
                        fields[i] = Field::from_value(&v);
                    }
                    if built.capacity() == 0 {
                        built = MEMBERS.take();
                    }
                    built.push((Box::from(&*k), v));
                }
                (None, false) => s.skip_member()?,
            }
            Ok(())
        })
        .and_then(|()| s.end());
    let built = give_back(built);
    match read {
        // The scanner refused duplicate keys, so the names are unique.
        Ok(()) => Ok(Picked { fields, built: Claims::from_unique(built) }),
        Err(Bad::DuplicateKey) => Err("duplicate key".into()),
        Err(Bad::NotObject) => Err("not a JSON object".into()),
        // serde_json's categories, as parse_object words them.
        Err(Bad::Eof) => Err("invalid JSON (Eof)".into()),
        Err(Bad::Syntax) => Err("invalid JSON (Syntax)".into()),
    }
}

/// The members in a vector of their exact size; the scratch vector goes back for the next token.
fn give_back(mut scratch: Vec<(Box<str>, Value)>) -> Vec<(Box<str>, Value)> {
    if scratch.capacity() == 0 {
        return scratch;
    }
    let mut members = Vec::with_capacity(scratch.len());
    members.append(&mut scratch);
    if scratch.capacity() <= 64 {
        MEMBERS.set(scratch);
    }
    members
}

struct Strict(Value);

thread_local! {
    /// The elements of the arrays being built, nested ones above their parents': each array is then
    /// allocated once, at its exact size.
    static ELEMENTS: std::cell::RefCell<Vec<Value>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The members [`pick`] builds, for the same reason.
    static MEMBERS: std::cell::RefCell<Vec<(Box<str>, Value)>> = const { std::cell::RefCell::new(Vec::new()) };
}

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
        let mark = ELEMENTS.with_borrow(Vec::len);
        let read = (|| {
            while let Some(Strict(v)) = a.next_element()? {
                ELEMENTS.with_borrow_mut(|e| e.push(v));
            }
            Ok(())
        })();
        let items = ELEMENTS.with_borrow_mut(|e| {
            let items: Vec<Value> = e.drain(mark..).collect();
            // A huge array once does not stay on the broker thread.
            if mark == 0 && e.capacity() > 256 {
                e.shrink_to(256);
            }
            items
        });
        read.map(|()| Strict(Value::Array(items)))
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

    const NAMES: [&str; 3] = ["sub", "exp", "aud"];

    /// `c` read by serde_json in full (the oracle) and by [`pick`], building one claim or all:
    /// the same refusal, or the same fields and values. `exact`: refusals word the same cause
    /// (a duplicate key is found where its key is read, serde_json's full parse finds it after the
    /// value, so an input with both a duplicate and a later error may be worded differently).
    fn agree(c: &[u8], exact: bool) {
        let keep = ["roles".to_string()];
        let full = parse_object(c);
        let picked = pick(c, NAMES, Build::Only(&keep));
        let all = pick(c, NAMES, Build::All);
        let text = String::from_utf8_lossy(c);
        match (&full, &picked, &all) {
            (Ok(f), Ok(p), Ok(a)) => {
                for (i, k) in NAMES.iter().enumerate() {
                    let want = f.get(*k).map_or(Field::Absent, Field::from_value);
                    assert_eq!(p.fields[i], want, "{text}: {k}");
                    assert_eq!(a.fields[i], want, "{text}: {k}, all built");
                }
                assert_eq!(p.built.get("roles"), f.get("roles"), "{text}: kept");
                assert_eq!(p.built.keys().count(), f.contains_key("roles") as usize, "{text}: only the kept are built");
                assert_eq!(a.built, Claims::from(f.clone()), "{text}: all built");
            }
            (Err(f), Err(p), Err(a)) => {
                assert_eq!(p, a, "{text}");
                if exact || (f != "duplicate key" && p != "duplicate key") {
                    assert_eq!(f, p, "{text} {c:?}");
                }
            }
            _ => panic!("{text}: full {full:?}, picked {:?}, all {:?}", picked.as_ref().err(), all.as_ref().err()),
        }
    }

    /// The picking parse refuses exactly what the full one refuses, and reads the same values.
    #[test]
    fn picking_and_full_parses_agree() {
        let deep = |n: usize| format!("{{\"sub\":\"a\",\"x\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        let deep_aud = |n: usize| format!("{{\"aud\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        let deep_obj = |n: usize| format!("{}1{}", "{\"k\":".repeat(n), "}".repeat(n));
        let mut cases: Vec<String> = [
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
            // Numbers.
            r#"{"exp":01}"#,
            "01",
            r#"{"exp":-}"#,
            r#"{"exp":-"#,
            r#"{"exp":1.}"#,
            r#"{"exp":1."#,
            r#"{"exp":.5}"#,
            r#"{"exp":1e}"#,
            r#"{"exp":1e+}"#,
            r#"{"exp":1E-2}"#,
            r#"{"exp":1e400}"#,
            r#"{"x":-1e400}"#,
            r#"{"exp":1e-400}"#,
            r#"{"exp":-0}"#,
            r#"{"exp":-0.0}"#,
            r#"{"exp":+1}"#,
            r#"{"exp":18446744073709551615}"#,
            r#"{"exp":18446744073709551616}"#,
            r#"{"exp":-9223372036854775808}"#,
            r#"{"exp":-9223372036854775809}"#,
            r#"{"exp":123456789012345678901234567890.5e-3}"#,
            r#"{"exp":0.1e1,"roles":2.5}"#,
            r#"{"exp":1_0}"#,
            // Strings and escapes.
            r#"{"sub":"\/\b\f\n\r\t\"\\"}"#,
            r#"{"sub":"\x"}"#,
            r#"{"sub":"\u00e9\u00E9"}"#,
            r#"{"sub":"\u12"}"#,
            r#"{"sub":"\u12g4"}"#,
            r#"{"sub":"\ud83d\ude00"}"#,
            r#"{"sub":"\ud83d"}"#,
            r#"{"sub":"\ud83dx"}"#,
            r#"{"sub":"\ud83d\n"}"#,
            r#"{"sub":"\ud83d\u0041"}"#,
            r#"{"sub":"\ude00"}"#,
            r#"{"sub":"\ud83d\ud83d"}"#,
            r#"{"sub":"\u0000"}"#,
            r#"{"sub":"a\"#,
            r#"{"s\u0000b":1,"s\u0000b":2}"#,
            "{\"sub\":\"a\u{7f}\"}",
            "{\"sub\":\"a\tb\"}",
            "{\"sub\":\"a\nb\"}",
            "{\"sub\":\"é\"}",
            "{\"a\u{e9}\":1,\"a\\u00e9\":2}",
            // Structure.
            "",
            " ",
            "{",
            "{}",
            " {} ",
            "{} {}",
            "{,}",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":1,"#,
            r#"{1:1}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[,1]}"#,
            r#"{"a":[1 2]}"#,
            r#"{"a":[}"#,
            r#"{"a":tru}"#,
            r#"{"a":tru"#,
            r#"{"a":nul}"#,
            r#"{"a":falsey}"#,
            r#"{"a":True}"#,
            "{\"a\":1}\n\t\r ",
            "{\"a\":1}\u{c}",
            r#"{"aud":"x","aud":["y"]}"#,
            r#"{"aud":[["x"],"y",{"z":1}]}"#,
            r#"{"aud":[]}"#,
            r#"{"aud":["x",]}"#,
            "\u{feff}{}",
            r#"{"roles":[1,{"a":[true,false,null]}],"sub":"x"}"#,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for n in [125, 126, 127, 128, 200] {
            cases.extend([deep(n), deep_aud(n), deep_obj(n)]);
        }
        for c in &cases {
            agree(c.as_bytes(), true);
        }
        // Bytes that are not UTF-8, in a string, a key and outside both.
        for c in [&b"{\"sub\":\"\xff\"}"[..], b"{\"\xc3\":1}", b"{\"x\":1\xff}", b"{\"sub\":\"\xe2\x82\"}", b"\xff"] {
            agree(c, true);
        }
        let many: String =
            (0..100).map(|i| format!("\"k{i}\":{i},")).chain(["\"k7\":0}".to_string()]).collect::<String>();
        let many = format!("{{{many}");
        assert_eq!(pick(many.as_bytes(), NAMES, Build::Only(&[])).err(), Some("duplicate key".into()));
        let wide: String = (0..100).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(",");
        agree(format!("{{{wide}}}").as_bytes(), true);
    }

    /// Random damage to realistic claims sets: both parsers accept the same inputs and read the
    /// same values from them.
    #[test]
    fn picking_and_full_parses_agree_on_damaged_claims() {
        let base = br#"{"sub":"dev\u00e9-1","iss":"https://idp.example/","exp":1700000000,"aud":["mqtt","x\n"],"roles":[{"t":"a/+/b","p":["pub",1.5e2]}],"n":null,"b":true,"deep":{"k":[-0.5,{"k":"v"}]},"s\ud83d\ude00":"\/"}"#;
        let wide = (0..20).map(|i| format!("\"k{i}\\u0041\":{i},\"K{i}\":[\"x\"]")).collect::<Vec<_>>().join(",");
        let wide = format!("{{{wide},\"sub\":\"a\"}}");
        let alphabet = b"{}[]\",:\\/0123456789-+.eEtrufalsn \t\nxu\xc3\xa9\x01";
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..20_000 {
            let mut c = if i % 2 == 0 { base.to_vec() } else { wide.as_bytes().to_vec() };
            for _ in 0..1 + next() % 3 {
                let at = (next() as usize) % (c.len() + 1);
                match next() % 3 {
                    0 if at < c.len() => {
                        c.remove(at);
                    }
                    1 if at < c.len() => c[at] = alphabet[(next() as usize) % alphabet.len()],
                    _ => c.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                }
            }
            agree(&c, false);
        }
    }

    /// The elements of arrays wait on one stack per thread: a parse that fails inside nested arrays
    /// must leave none of its elements to the next array built.
    #[test]
    fn a_failed_array_leaves_no_elements_to_the_next() {
        let bad = br#"[1, [2, 3, {"a": 1, "a": 2}], 4]"#;
        assert!(serde_json::from_slice::<Strict>(bad).is_err(), "duplicate key refused");
        assert_eq!(ELEMENTS.with_borrow(Vec::len), 0, "nothing left on the stack");
        let Strict(v) = serde_json::from_slice(br#"[9, [8, [7]], []]"#).expect("valid");
        assert_eq!(v, serde_json::json!([9, [8, [7]], []]));
        let Value::Array(items) = &v else { panic!("array") };
        assert_eq!(items.capacity(), 3, "exactly sized");
    }
}
