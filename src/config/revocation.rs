//! `options.revocation`: token introspection (RFC 7662) or a custom endpoint, and the policies that
//! decide what a CONNECT or a live session does while the answer is pending, negative or missing.
use super::walk::{type_name, ConfigError, Obj, Result};
use super::Secret;
use serde_json::Value;

/// The placeholder a custom endpoint's request replaces with the token.
pub const TOKEN_PLACEHOLDER: &str = "#:jwt_value:#";

#[derive(Debug, Clone, PartialEq)]
pub struct Revocation {
    pub endpoint: RevocationEndpoint,
    /// Bound on one check, from the CONNECT (or the re-check) to the answer, queueing included.
    pub timeout_ms: u64,
    pub policy: Policy,
    /// What a token's first check does when no answer comes: deny (fail closed) or allow.
    pub on_error: OnError,
    pub recheck_interval_ms: u64,
    /// A failed re-check of a live session keeps its last verdict (true) or applies `on_error`.
    pub keep_verdict_on_recheck_failure: bool,
    /// After a failed check, the next attempt for that session.
    pub retry_interval_ms: u64,
    /// How long an `active` answer is reused for new CONNECTs (never beyond the token's exp).
    pub cache_ttl_ms: u64,
    pub cache_max_entries: usize,
    pub queue_size: usize,
    pub workers: usize,
}

impl Revocation {
    /// Legal but risky settings, for the load log and `mqtt-jwt check`.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let RevocationEndpoint::Plain(p) = &self.endpoint {
            if p.json_path.is_none() {
                out.push(format!(
                    "options.revocation.plain.response.jsonPath is not set: any answer with a status in \
                     successHttpCodes ({:?}) counts as active, so an error page or proxy answering 200 vouches \
                     for revoked tokens; set response.jsonPath (and successValue) to the field that says active",
                    p.success_http_codes
                ));
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RevocationEndpoint {
    Introspection(Introspection),
    Plain(Plain),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Introspection {
    /// None: the `introspection_endpoint` of the OIDC discovery document.
    pub uri: Option<String>,
    pub client_id: String,
    pub client_secret: Secret,
    pub include_token_type_hint: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plain {
    pub uri: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    /// Appended to `uri`; may hold the placeholder.
    pub path: Option<String>,
    pub payload: Option<Value>,
    pub body_encoding: BodyEncoding,
    /// Dotted path (a leading `$.` is accepted) to the value that decides; None: the status decides.
    pub json_path: Option<String>,
    pub success_value: Value,
    pub success_http_codes: Vec<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    Form,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Accept the locally verified token, introspect in the background, disconnect if inactive.
    Background,
    /// Hold the CONNECT (and the whole broker) until the answer or the timeout.
    Blocking,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    Deny,
    Allow,
}

pub fn parse(mut o: Obj) -> Result<Revocation> {
    let introspection = o.object("introspection")?.map(parse_introspection).transpose()?;
    let plain = o.object("plain")?.map(parse_plain).transpose()?;
    let endpoint = match (introspection, plain) {
        (Some(i), None) => RevocationEndpoint::Introspection(i),
        (None, Some(p)) => RevocationEndpoint::Plain(p),
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(o.key_path("plain"), "give introspection or plain, not both"))
        }
        (None, None) => {
            return Err(ConfigError::new(o.key_path("introspection"), "missing: give introspection or plain"))
        }
    };
    let policy = match o.string("policy")? {
        None | Some("background") => Policy::Background,
        Some("blocking") => Policy::Blocking,
        Some(other) => return Err(one_of(&o, "policy", other, "\"background\" or \"blocking\"")),
    };
    let on_error = match o.string("onError")? {
        None | Some("deny") => OnError::Deny,
        Some("allow") => OnError::Allow,
        Some(other) => return Err(one_of(&o, "onError", other, "\"deny\" or \"allow\"")),
    };
    let r = Revocation {
        endpoint,
        timeout_ms: ranged(&mut o, "timeoutMs", 10_000, 1, 600_000)?,
        policy,
        on_error,
        recheck_interval_ms: ranged(&mut o, "recheckIntervalMs", 60_000, 100, 86_400_000)?,
        keep_verdict_on_recheck_failure: o.bool("keepVerdictOnRecheckFailure", true)?,
        retry_interval_ms: ranged(&mut o, "retryIntervalMs", 5_000, 100, 86_400_000)?,
        cache_ttl_ms: ranged(&mut o, "cacheTtlMs", 60_000, 0, 86_400_000)?,
        cache_max_entries: ranged(&mut o, "cacheMaxEntries", 100_000, 0, 10_000_000)? as usize,
        queue_size: ranged(&mut o, "queueSize", 10_000, 1, 1_000_000)? as usize,
        workers: ranged(&mut o, "workers", 4, 1, 64)? as usize,
    };
    o.finish()?;
    Ok(r)
}

fn one_of(o: &Obj, key: &str, found: &str, expected: &str) -> ConfigError {
    ConfigError::new(o.key_path(key), format!("unknown value {found:?} (expected {expected})"))
}

fn ranged(o: &mut Obj, key: &'static str, default: u64, min: u64, max: u64) -> Result<u64> {
    let v = o.u64(key, default)?;
    if !(min..=max).contains(&v) {
        return Err(ConfigError::new(o.key_path(key), format!("must be between {min} and {max}")));
    }
    Ok(v)
}

fn http_url(o: &Obj, key: &str, u: &str) -> Result<()> {
    if u.starts_with("https://") || u.starts_with("http://") {
        Ok(())
    } else {
        Err(ConfigError::new(o.key_path(key), "must be an http:// or https:// URL"))
    }
}

fn parse_introspection(mut i: Obj) -> Result<Introspection> {
    let uri = i.string("uri")?.map(str::to_string);
    if let Some(u) = &uri {
        http_url(&i, "uri", u)?;
    }
    let client_id = i.string("clientId")?.map(str::to_string);
    let client_secret = super::secret::parse(&mut i, "clientSecret")?;
    // The Pro plugin's documentation spells it both ways.
    let include_token_type_hint = i.bool("includeTokenTypeHint", false)? || i.bool("includeTokenTypehint", false)?;
    let id_path = i.key_path("clientId");
    // Unknown keys first: a misspelt clientSecret must be named as such.
    i.finish()?;
    let (Some(client_id), Some(client_secret)) = (client_id, client_secret) else {
        return Err(ConfigError::new(
            id_path,
            "introspection needs clientId and clientSecret (HTTP Basic client authentication)",
        ));
    };
    Ok(Introspection { uri, client_id, client_secret, include_token_type_hint })
}

fn parse_plain(mut p: Obj) -> Result<Plain> {
    let uri = p.string("uri")?.ok_or_else(|| ConfigError::new(p.key_path("uri"), "missing"))?.to_string();
    http_url(&p, "uri", &uri)?;
    let (method, headers, path, payload) = match p.object("requestParameters")? {
        Some(r) => parse_request(r)?,
        None => ("POST".to_string(), Vec::new(), None, None),
    };
    let body_encoding = match p.string("bodyEncoding")? {
        None | Some("form") => BodyEncoding::Form,
        Some("json") => BodyEncoding::Json,
        Some(other) => return Err(one_of(&p, "bodyEncoding", other, "\"form\" or \"json\"")),
    };
    if body_encoding == BodyEncoding::Form {
        if let Some(Value::Object(m)) = &payload {
            if let Some((k, v)) = m.iter().find(|(_, v)| v.is_object() || v.is_array()) {
                return Err(ConfigError::new(
                    format!("{}.requestParameters.payload.{k}", p.path),
                    format!("form encoding takes strings, numbers and booleans, found {}", type_name(v)),
                ));
            }
        }
    }
    let (json_path, success_value) = match p.object("response")? {
        Some(mut r) => {
            let jp = r.string("jsonPath")?.map(|s| s.trim_start_matches("$.").to_string());
            let sv = r.get("successValue").cloned().unwrap_or(Value::Bool(true));
            r.finish()?;
            (jp.filter(|s| !s.is_empty()), sv)
        }
        None => (None, Value::Bool(true)),
    };
    let success_http_codes = match p.get("successHttpCodes") {
        None => vec![200],
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|c| c.as_u64().filter(|c| (100..600).contains(c)).map(|c| c as u16))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ConfigError::new(p.key_path("successHttpCodes"), "expected HTTP status codes"))?,
        Some(_) => return Err(ConfigError::new(p.key_path("successHttpCodes"), "expected a non-empty array of codes")),
    };
    p.finish()?;
    Ok(Plain { uri, method, headers, path, payload, body_encoding, json_path, success_value, success_http_codes })
}

type Request = (String, Vec<(String, String)>, Option<String>, Option<Value>);

fn parse_request(mut r: Obj) -> Result<Request> {
    let method = r.string("method")?.unwrap_or("POST").to_ascii_uppercase();
    if !["GET", "POST", "PUT", "DELETE"].contains(&method.as_str()) {
        return Err(ConfigError::new(r.key_path("method"), "expected GET, POST, PUT or DELETE"));
    }
    let mut headers = Vec::new();
    if let Some(h) = r.get("headers") {
        let Value::Object(m) = h else { return Err(r.wrong("headers", "an object of strings", h)) };
        for (k, v) in m {
            let Value::String(v) = v else { return Err(r.wrong("headers", "an object of strings", v)) };
            headers.push((k.clone(), v.clone()));
        }
    }
    let path = r.string("path")?.map(str::to_string);
    let payload = r.get("payload").cloned();
    r.finish()?;
    Ok((method, headers, path, payload))
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, RevocationEndpoint, Secret};
    use serde_json::json;

    fn parse(revocation: serde_json::Value) -> Result<crate::config::Revocation, String> {
        let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
                         "options": {"modes": {"local": "s"}, "revocation": revocation}});
        Config::parse(&cfg.to_string()).map(|c| c.revocation.unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_secret_sources() {
        let r = parse(json!({"introspection": {"clientId": "a", "clientSecret": {"env": "S"}}})).unwrap();
        assert_eq!((r.timeout_ms, r.recheck_interval_ms, r.cache_ttl_ms, r.workers), (10_000, 60_000, 60_000, 4));
        assert!(r.keep_verdict_on_recheck_failure);
        let RevocationEndpoint::Introspection(i) = r.endpoint else { panic!() };
        assert_eq!(i.uri, None);
        assert_eq!(i.client_secret, Secret::Env("S".into()));
    }

    #[test]
    fn plain_endpoint() {
        let r = parse(json!({"plain": {"uri": "http://x/check", "bodyEncoding": "json",
            "requestParameters": {"method": "post", "headers": {"X-A": "b"}, "payload": {"t": "#:jwt_value:#"}},
            "response": {"jsonPath": "$.result.valid", "successValue": "yes"}, "successHttpCodes": [200, 201]},
            "policy": "blocking", "onError": "allow"}))
        .unwrap();
        assert!(r.warnings().is_empty());
        let RevocationEndpoint::Plain(p) = r.endpoint else { panic!() };
        assert_eq!(p.method, "POST");
        assert_eq!(p.json_path.as_deref(), Some("result.valid"));
        assert_eq!(p.success_value, json!("yes"));
        assert_eq!(p.success_http_codes, vec![200, 201]);
    }

    #[test]
    fn a_plain_endpoint_without_json_path_is_warned_about() {
        let r = parse(json!({"plain": {"uri": "http://x/check"}})).unwrap();
        let w = r.warnings();
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("options.revocation.plain.response.jsonPath is not set"), "{w:?}");
        let r = parse(json!({"introspection": {"uri": "http://x", "clientId": "a", "clientSecret": "b"}})).unwrap();
        assert!(r.warnings().is_empty());
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse(json!({})).unwrap_err();
        assert!(e.starts_with("options.revocation.introspection: missing"), "{e}");
        let e = parse(json!({"introspection": {"clientId": "a"}})).unwrap_err();
        assert!(e.contains("clientSecret"), "{e}");
        let e = parse(json!({"introspection": {"clientId": "a", "clientSecret": "b"}, "policy": "x"})).unwrap_err();
        assert!(e.starts_with("options.revocation.policy"), "{e}");
        let e = parse(json!({"plain": {"uri": "ftp://x"}})).unwrap_err();
        assert!(e.starts_with("options.revocation.plain.uri"), "{e}");
        let e = parse(json!({"plain": {"uri": "http://x", "requestParameters": {"payload": {"a": [1]}}}})).unwrap_err();
        assert!(e.starts_with("options.revocation.plain.requestParameters.payload.a"), "{e}");
    }
}
