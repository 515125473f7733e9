//! Topic templates: filters with placeholders for the username, the client id and string claims,
//! parsed once (at load for jwt.json rules, at CONNECT for an `acl` claim) and rendered at CONNECT.
use super::topic::is_valid_filter;
use crate::token::Token;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Username,
    ClientId,
    /// A string claim by name or dotted path.
    Claim(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<Part>,
}

/// What placeholders are filled from at CONNECT.
pub struct Context<'a> {
    pub token: &'a Token,
    pub client_id: Option<&'a str>,
    pub username: Option<&'a str>,
    /// False: the client chose its id freely, so `%c` has no usable value.
    pub trust_client_id: bool,
    /// Set when a placeholder was filled from the identity (or found it missing): what was built
    /// from this context then holds only for this client id and username.
    pub identity_read: std::cell::Cell<bool>,
}

impl<'a> Context<'a> {
    pub fn new(token: &'a Token, client_id: Option<&'a str>, username: Option<&'a str>, trust_client_id: bool) -> Self {
        Context { token, client_id, username, trust_client_id, identity_read: Default::default() }
    }
}

/// Why a placeholder has no usable value. Only the last two are worth a log line: a missing claim or
/// identity is ordinary when rules target several kinds of client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    Missing,
    NotAString,
    /// Empty, or holding `+`, `#`, `/`, NUL, or a leading `$` at the start of the filter.
    Unsafe,
    /// The client id is not bound to the token (and trustClientId is false).
    Untrusted,
}

/// Marks an unusable value in a rendering; NUL cannot occur in a valid template's text.
pub const HOLE: char = '\0';

impl Template {
    /// jwt.json syntax: `%u`, `%c`, `%{claim.path}`, `%%` for a literal `%`. Anything else after a
    /// `%`, and EMQX's `${...}`, is an error so that a misspelt placeholder cannot become a literal.
    pub fn parse_config(src: &str) -> Result<Template, String> {
        if src.contains("${") {
            return Err("`${...}` is EMQX's placeholder syntax; here use %u, %c or %{claim}".into());
        }
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = src.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '%' {
                text.push(c);
                continue;
            }
            let part = match chars.next() {
                Some((_, '%')) => {
                    text.push('%');
                    continue;
                }
                Some((_, 'u')) => Part::Username,
                Some((_, 'c')) => Part::ClientId,
                Some((j, '{')) => {
                    let rest = &src[j + 1..];
                    let end = rest.find('}').ok_or_else(|| format!("unterminated %{{ at byte {i}"))?;
                    let path = &rest[..end];
                    if path.is_empty() || path.split('.').any(str::is_empty) || path.contains(['%', '{']) {
                        return Err(format!("bad claim name {path:?} in %{{...}}"));
                    }
                    for _ in 0..=path.chars().count() {
                        chars.next();
                    }
                    Part::Claim(path.to_string())
                }
                Some((_, other)) => {
                    return Err(format!("unknown placeholder %{other} (use %u, %c, %{{claim}} or %% for a literal %)"))
                }
                None => return Err("a lone % at the end (use %% for a literal %)".into()),
            };
            flush(&mut parts, &mut text);
            parts.push(part);
        }
        flush(&mut parts, &mut text);
        let t = Template { parts };
        t.check_shape()?;
        Ok(t)
    }

    /// EMQX `acl` claim syntax: `${username}`, `${clientid}` (EMQX 5) and `%u`, `%c` (EMQX 4); any
    /// other `%` is literal, as in EMQX. Other `${...}` placeholders are refused.
    pub fn parse_emqx(src: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = src;
        while let Some(c) = rest.chars().next() {
            let (part, len) = if let Some(after) = rest.strip_prefix("${") {
                let end = after.find('}').ok_or("unterminated ${")?;
                match &after[..end] {
                    "username" => (Part::Username, end + 3),
                    "clientid" => (Part::ClientId, end + 3),
                    other => return Err(format!("unsupported placeholder ${{{other}}}")),
                }
            } else if rest.starts_with("%u") {
                (Part::Username, 2)
            } else if rest.starts_with("%c") {
                (Part::ClientId, 2)
            } else {
                text.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            };
            flush(&mut parts, &mut text);
            parts.push(part);
            rest = &rest[len..];
        }
        flush(&mut parts, &mut text);
        let t = Template { parts };
        t.check_shape()?;
        Ok(t)
    }

    /// The template must be a valid filter whatever safe values fill it.
    fn check_shape(&self) -> Result<(), String> {
        let sample: String = self.parts.iter().map(|p| if let Part::Text(t) = p { t.as_str() } else { "x" }).collect();
        if !is_valid_filter(&sample) {
            return Err("not a valid topic filter (`+` and `#` must be whole levels, `#` only last)".into());
        }
        if sample.starts_with("$share/") {
            return Err("grant the filter without `$share/<group>/`: shared subscriptions are checked on the filter after the group".into());
        }
        Ok(())
    }

    /// Appends the filter with every placeholder filled to `out`. An unusable value leaves a [`HOLE`]
    /// in its place and is reported with its placeholder; the caller decides what a rule with holes
    /// means. Names are formatted only for a warning: this runs for every rule at every CONNECT.
    pub fn render_into<'s>(&'s self, ctx: &Context, out: &mut String) -> Vec<(Placeholder<'s>, Unusable)> {
        let start = out.len();
        let mut problems = Vec::new();
        for p in &self.parts {
            let (name, value) = match p {
                Part::Text(t) => {
                    out.push_str(t);
                    continue;
                }
                Part::Username => {
                    ctx.identity_read.set(true);
                    (Placeholder::Username, ctx.username.ok_or(Unusable::Missing))
                }
                Part::ClientId if !ctx.trust_client_id => (Placeholder::ClientId, Err(Unusable::Untrusted)),
                Part::ClientId => {
                    ctx.identity_read.set(true);
                    (Placeholder::ClientId, ctx.client_id.ok_or(Unusable::Missing))
                }
                Part::Claim(path) => (Placeholder::Claim(path), string_claim(ctx.token, path)),
            };
            let at_start = out.len() == start;
            match value.and_then(|v| if safe_value(v, at_start) { Ok(v) } else { Err(Unusable::Unsafe) }) {
                Ok(v) => out.push_str(v),
                Err(why) => {
                    out.push(HOLE);
                    problems.push((name, why));
                }
            }
        }
        problems
    }

    /// [`Template::render_into`] into a string of its own.
    #[cfg(test)]
    pub fn render(&self, ctx: &Context) -> (String, Vec<(String, Unusable)>) {
        let mut out = String::new();
        let problems = self.render_into(ctx, &mut out);
        (out, problems.into_iter().map(|(p, why)| (p.to_string(), why)).collect())
    }
}

/// A placeholder, as a warning names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder<'t> {
    Username,
    ClientId,
    Claim(&'t str),
}

impl std::fmt::Display for Placeholder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Placeholder::Username => f.write_str("the username"),
            Placeholder::ClientId => f.write_str("the client id"),
            Placeholder::Claim(path) => write!(f, "claim {}", crate::logsafe::clean(path, 64)),
        }
    }
}

fn flush(parts: &mut Vec<Part>, text: &mut String) {
    if !text.is_empty() {
        parts.push(Part::Text(std::mem::take(text)));
    }
}

/// No wildcard or level injection through a subject such as `#` or `a/+`, and no reaching a `$`
/// topic (`$SYS`, `$CONTROL`) through a value that starts the filter.
fn safe_value(v: &str, at_start: bool) -> bool {
    let dollar = at_start && v.starts_with('$');
    !(v.is_empty() || v.contains(['+', '#', '/', '\0']) || dollar)
}

/// A claim by its exact name first (namespaced claims such as `https://example.com/tenant` hold
/// dots), then as a dotted path into nested objects (`realm_access.roles`).
pub fn claim<'t>(token: &'t Token, path: &str) -> Option<&'t Value> {
    token.claims.get(path).or_else(|| token.claim(path))
}

fn string_claim<'t>(token: &'t Token, path: &str) -> Result<&'t str, Unusable> {
    match claim(token, path) {
        None => Err(Unusable::Missing),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Unusable::NotAString),
    }
}

/// Replaces every level that holds a [`HOLE`] by `+`: a deny rule whose value is unusable denies more,
/// never less, so an unexpected subject cannot switch a deny off.
pub fn widen(rendered: &str) -> String {
    rendered.split('/').map(|l| if l.contains(HOLE) { "+" } else { l }).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx_render(t: &Template, client_id: Option<&str>) -> (String, Vec<(String, Unusable)>) {
        let token = Token::bare(json!({"n": 1}).as_object().unwrap().clone().into());
        t.render(&Context::new(&token, client_id, Some("u"), true))
    }

    #[test]
    fn emqx_syntax() {
        let t = Template::parse_emqx("a/${clientid}/%u/${username}/%c/100%/%x").unwrap();
        assert_eq!(ctx_render(&t, Some("c")).0, "a/c/u/u/c/100%/%x");
        assert!(Template::parse_emqx("a/${peerhost}").unwrap_err().contains("peerhost"));
        assert!(Template::parse_emqx("a/${clientid").is_err());
        assert!(Template::parse_emqx("a/#/b").is_err());
        // `%{...}` is jwt.json syntax, literal text in a claim.
        assert_eq!(ctx_render(&Template::parse_emqx("%{x}").unwrap(), None).0, "%{x}");
    }

    #[test]
    fn holes_and_widening() {
        let t = Template::parse_config("a/%c/b/x-%{n}/%u").unwrap();
        let (text, problems) = ctx_render(&t, None);
        assert_eq!(text, "a/\0/b/x-\0/u");
        assert_eq!(
            problems,
            vec![("the client id".to_string(), Unusable::Missing), ("claim n".to_string(), Unusable::NotAString)]
        );
        assert_eq!(widen(&text), "a/+/b/+/u");
        // `$` only matters where the value starts the filter.
        let (text, problems) = ctx_render(&Template::parse_config("%c/x/%c").unwrap(), Some("$SYS"));
        assert_eq!((text.as_str(), problems.len()), ("\0/x/$SYS", 1));
    }
}
