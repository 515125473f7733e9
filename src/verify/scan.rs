//! A strict JSON reader over one object (a claims set or a header): RFC 8259 as serde_json reads it
//! (same nesting limit, same refusals), keys unique at every depth, and nothing built for members
//! no decision reads. Hand-written because it runs on every cold CONNECT: serde's visitors cost
//! more than the HMAC before it. serde_json itself still builds the values that are kept, and reads
//! numbers that are not plain integers, so both agree on every value (src/verify/json.rs's tests).
use super::json::Field;
use crate::swar::{below, equal};
use std::borrow::Cow;

/// Why an input is refused; [`super::json::pick`] words it as serde_json's categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bad {
    /// The input ended where more was needed.
    Eof,
    Syntax,
    DuplicateKey,
    NotObject,
}

type Res<T> = Result<T, Bad>;

/// serde_json's recursion limit: the 128th nested array or object is refused.
const DEPTH: u32 = 128;

/// Whether two keys are equal: inline, since keys are short and most differ in length or their
/// first byte (a call to memcmp per pair costs more than the comparison).
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// The keys of one object seen so far: inline while few, a set once a (signed, but odd) token has
/// many, so that a wide object costs no more than hashing its keys. A bit per class of key
/// (length, first and last byte) spares the comparisons for a key of a class not seen yet.
struct Keys<'de> {
    classes: u64,
    few: [&'de str; 16],
    n: usize,
    /// Keys with escapes (decoded), among the few.
    escaped: Vec<String>,
    /// Made when needed: a set's random state costs a thread-local read per object.
    many: Option<std::collections::HashSet<Cow<'de, str>>>,
}

impl<'de> Keys<'de> {
    fn new() -> Self {
        Keys { classes: 0, few: [""; 16], n: 0, escaped: Vec::new(), many: None }
    }

    // A Cow, not a str: a borrowed key is kept with the input's lifetime, without a copy.
    #[allow(clippy::ptr_arg)]
    fn insert(&mut self, k: &Cow<'de, str>) -> Res<()> {
        let b = k.as_bytes();
        let class = (b.len() * 7 + b.first().map_or(0, |&c| c as usize) * 3 + b.last().map_or(0, |&c| c as usize)) % 64;
        let seen = self.classes & (1 << class) != 0;
        self.classes |= 1 << class;
        if self.many.is_none() && self.n + self.escaped.len() < self.few.len() {
            if seen && (self.few[..self.n].iter().any(|s| same(s, k)) || self.escaped.iter().any(|s| same(s, k))) {
                return Err(Bad::DuplicateKey);
            }
            match k {
                Cow::Borrowed(s) => {
                    self.few[self.n] = s;
                    self.n += 1;
                }
                Cow::Owned(s) => self.escaped.push(s.clone()),
            }
            return Ok(());
        }
        let many = self.many.get_or_insert_with(|| {
            let few = self.few[..self.n].iter().map(|s| Cow::Borrowed(*s));
            few.chain(self.escaped.drain(..).map(Cow::Owned)).collect()
        });
        if many.insert(k.clone()) {
            Ok(())
        } else {
            Err(Bad::DuplicateKey)
        }
    }
}

pub(super) struct Scanner<'de> {
    b: &'de [u8],
    /// The input as text when it is all UTF-8 (as a claims set is): strings are then sliced
    /// from it, not each checked again.
    text: Option<&'de str>,
    i: usize,
}

impl<'de> Scanner<'de> {
    pub(super) fn new(b: &'de [u8]) -> Self {
        Scanner { b, text: std::str::from_utf8(b).ok(), i: 0 }
    }

    /// Past the bytes of a string that need nothing (not a quote, a backslash or a control
    /// character), eight at a time.
    fn plain_run(&mut self) {
        while let Some(Ok(chunk)) = self.b.get(self.i..self.i + 8).map(<[u8; 8]>::try_from) {
            let w = u64::from_le_bytes(chunk);
            let special = equal(w, b'"') | equal(w, b'\\') | below(w, 0x20);
            if special != 0 {
                self.i += (special.trailing_zeros() / 8) as usize;
                return;
            }
            self.i += 8;
        }
        while self.b.get(self.i).is_some_and(|&c| c != b'"' && c != b'\\' && c >= 0x20) {
            self.i += 1;
        }
    }

    /// The text of `start..self.i`, which a quote or backslash ends.
    fn text_of(&self, start: usize) -> Res<&'de str> {
        match self.text {
            Some(t) => t.get(start..self.i).ok_or(Bad::Syntax),
            None => std::str::from_utf8(&self.b[start..self.i]).map_err(|_| Bad::Syntax),
        }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Res<u8> {
        self.b.get(self.i).copied().ok_or(Bad::Eof)
    }

    /// The next non-blank byte, consumed.
    fn next_token(&mut self) -> Res<u8> {
        self.ws();
        let c = self.peek()?;
        self.i += 1;
        Ok(c)
    }

    /// After the value: only blanks may follow.
    pub(super) fn end(&mut self) -> Res<()> {
        self.ws();
        if self.i == self.b.len() {
            Ok(())
        } else {
            Err(Bad::Syntax)
        }
    }

    /// The top-level object: calls `member` for each member, positioned at its value, which
    /// `member` must read. Keys are unique. Anything but an object is read, then refused.
    pub(super) fn object(&mut self, member: impl FnMut(&mut Self, Cow<'de, str>) -> Res<()>) -> Res<()> {
        self.ws();
        if self.peek()? != b'{' {
            self.skip(DEPTH)?;
            self.end()?;
            return Err(Bad::NotObject);
        }
        self.i += 1;
        self.members(DEPTH - 1, member)
    }

    /// The members of an object whose `{` was read, up to its `}`, its keys unique.
    fn members(&mut self, depth: u32, mut member: impl FnMut(&mut Self, Cow<'de, str>) -> Res<()>) -> Res<()> {
        if depth == 0 {
            return Err(Bad::Syntax);
        }
        let mut keys = Keys::new();
        match self.next_token()? {
            b'}' => return Ok(()),
            b'"' => {}
            _ => return Err(Bad::Syntax),
        }
        loop {
            let k = self.string_body()?;
            keys.insert(&k)?;
            if self.next_token()? != b':' {
                return Err(Bad::Syntax);
            }
            self.ws();
            member(self, k)?;
            match self.next_token()? {
                b'}' => return Ok(()),
                b',' if self.next_token()? == b'"' => {}
                _ => return Err(Bad::Syntax),
            }
        }
    }

    /// Reads and checks a member's value.
    pub(super) fn skip_member(&mut self) -> Res<()> {
        self.skip(DEPTH - 1)
    }

    /// Reads and checks one value; `depth` is what is left of the nesting limit.
    fn skip(&mut self, depth: u32) -> Res<()> {
        self.ws();
        match self.peek()? {
            b'{' => {
                self.i += 1;
                self.members(depth - 1, |s, _| s.skip(depth - 1))
            }
            b'[' => {
                self.i += 1;
                self.elements(depth - 1, |s| s.skip(depth - 1))
            }
            b'"' => {
                self.i += 1;
                self.string_body().map(drop)
            }
            _ => self.scalar().map(drop),
        }
    }

    /// The elements of an array whose `[` was read, up to its `]`.
    fn elements(&mut self, depth: u32, mut element: impl FnMut(&mut Self) -> Res<()>) -> Res<()> {
        if depth == 0 {
            return Err(Bad::Syntax);
        }
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Ok(());
        }
        loop {
            element(self)?;
            match self.next_token()? {
                b']' => return Ok(()),
                b',' => {}
                _ => return Err(Bad::Syntax),
            }
            self.ws();
            if self.peek()? == b']' {
                // A trailing comma.
                return Err(Bad::Syntax);
            }
        }
    }

    /// A top-level member's value as a [`Field`] (strings borrowed when they have no escapes).
    pub(super) fn field(&mut self) -> Res<Field<'de>> {
        match self.peek()? {
            b'"' => {
                self.i += 1;
                self.string_body().map(Field::Str)
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.elements(DEPTH - 2, |s| {
                    s.ws();
                    if s.peek()? == b'"' {
                        s.i += 1;
                        items.push(s.string_body()?);
                        Ok(())
                    } else {
                        s.skip(DEPTH - 2)
                    }
                })?;
                Ok(Field::Strs(items))
            }
            b'{' => self.skip(DEPTH - 1).map(|()| Field::Other),
            _ => Ok(self.scalar()?.map_or(Field::Other, Field::Num)),
        }
    }

    /// The bytes of one value, read and checked (for serde_json to build).
    pub(super) fn raw(&mut self) -> Res<&'de [u8]> {
        let start = self.i;
        self.skip(DEPTH - 1)?;
        Ok(&self.b[start..self.i])
    }

    /// A literal or a number: Some(number), None for true, false and null.
    fn scalar(&mut self) -> Res<Option<f64>> {
        let word = |s: &mut Self, w: &[u8]| {
            for &c in w {
                if s.peek()? != c {
                    return Err(Bad::Syntax);
                }
                s.i += 1;
            }
            Ok(None)
        };
        match self.peek()? {
            b't' => word(self, b"true"),
            b'f' => word(self, b"false"),
            b'n' => word(self, b"null"),
            b'-' | b'0'..=b'9' => self.number().map(Some),
            _ => Err(Bad::Syntax),
        }
    }

    /// A number by RFC 8259's grammar. A plain integer within 64 bits is converted here as
    /// serde_json converts it; any other number is read by serde_json itself (its rounding, its
    /// range: a number beyond f64 is refused).
    fn number(&mut self) -> Res<f64> {
        let start = self.i;
        let negative = self.peek()? == b'-';
        if negative {
            self.i += 1;
        }
        let digits = self.i;
        match self.peek()? {
            b'0' => {
                self.i += 1;
                if self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
                    return Err(Bad::Syntax);
                }
            }
            b'1'..=b'9' => {
                while let Some(b'0'..=b'9') = self.b.get(self.i) {
                    self.i += 1;
                }
            }
            _ => return Err(Bad::Syntax),
        }
        let integer = &self.b[digits..self.i];
        let mut plain = true;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            self.digits()?;
            plain = false;
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            self.digits()?;
            plain = false;
        }
        // 19 digits always fit in 64 bits.
        if plain && integer.len() <= 19 {
            let v = integer.iter().fold(0u64, |n, &c| n * 10 + (c - b'0') as u64) as f64;
            return Ok(if negative { -v } else { v });
        }
        serde_json::from_slice::<f64>(&self.b[start..self.i]).map_err(|_| Bad::Syntax)
    }

    /// One or more decimal digits.
    fn digits(&mut self) -> Res<()> {
        if !self.peek()?.is_ascii_digit() {
            return Err(Bad::Syntax);
        }
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
        Ok(())
    }

    /// A string whose opening quote was read, up to and with its closing one: borrowed when it has
    /// no escapes. Raw control characters, invalid UTF-8 and lone surrogates are refused.
    fn string_body(&mut self) -> Res<Cow<'de, str>> {
        let start = self.i;
        self.plain_run();
        match self.peek()? {
            b'"' => {
                let s = self.text_of(start)?;
                self.i += 1;
                return Ok(Cow::Borrowed(s));
            }
            b'\\' => {}
            _ => return Err(Bad::Syntax),
        }
        // UTF-8 is checked at the closing quote, as serde_json checks it: an input that ends
        // first is refused as ended, not as invalid.
        let mut out = self.b[start..self.i].to_vec();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return String::from_utf8(out).map(Cow::Owned).map_err(|_| Bad::Syntax);
                }
                b'\\' => {
                    self.i += 1;
                    self.escape(&mut out)?;
                }
                _ => return Err(Bad::Syntax),
            }
            let run = self.i;
            self.plain_run();
            out.extend_from_slice(&self.b[run..self.i]);
        }
    }

    /// The escape after a backslash.
    fn escape(&mut self, out: &mut Vec<u8>) -> Res<()> {
        let c = self.peek()?;
        self.i += 1;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4()?;
                let code = match hi {
                    0xD800..=0xDBFF => {
                        // A high surrogate must be followed by an escaped low one.
                        for want in [b'\\', b'u'] {
                            if self.peek()? != want {
                                return Err(Bad::Syntax);
                            }
                            self.i += 1;
                        }
                        let lo = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return Err(Bad::Syntax);
                        }
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(Bad::Syntax),
                    c => c,
                };
                char::from_u32(code).ok_or(Bad::Syntax)?
            }
            _ => return Err(Bad::Syntax),
        };
        out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }

    /// Four hex digits; fewer than four bytes left is the end of the input (as serde_json says).
    fn hex4(&mut self) -> Res<u32> {
        let digits = self.b.get(self.i..self.i + 4).ok_or(Bad::Eof)?;
        self.i += 4;
        digits.iter().try_fold(0, |n, &c| Ok(n * 16 + (c as char).to_digit(16).ok_or(Bad::Syntax)?))
    }
}
