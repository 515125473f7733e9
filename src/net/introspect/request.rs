//! One revocation check over HTTP(S): an RFC 7662 introspection request with HTTP Basic client
//! authentication, or the operator's custom request. Runs on worker threads (or on the broker
//! thread under the explicit blocking policy). Errors never carry the token or the secret.
use crate::config::{BodyEncoding, Introspection, Plain, TOKEN_PLACEHOLDER};
use crate::introspect::{Answer, Verdict};
use crate::net::discovery::Discovered;
use arc_swap::ArcSwapOption;
use base64::Engine as _;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Where the endpoint is: configured, or discovered (per issuer; None = the only source).
pub enum Url {
    Fixed(String),
    Discovered(Vec<(Option<String>, Arc<ArcSwapOption<Discovered>>)>),
}

pub enum Kind {
    Introspection { client_id: String, client_secret: String, hint: bool },
    Plain(Plain),
}

pub struct Checker {
    pub url: Url,
    pub kind: Kind,
    /// The configured bound, named in failures (a request may get less: time spent queued counts).
    pub timeout: Duration,
}

impl Checker {
    pub fn introspection(cfg: &Introspection, secret: String, url: Url, timeout: Duration) -> Self {
        let kind = Kind::Introspection {
            client_id: cfg.client_id.clone(),
            client_secret: secret,
            hint: cfg.include_token_type_hint,
        };
        Checker { url, kind, timeout }
    }

    /// What the verdicts depend on: the endpoint and the credentials sent to it (hashed, so the
    /// secret is kept nowhere else). A reload that keeps it keeps the verdicts.
    pub fn fingerprint(&self) -> crate::cache::Digest {
        let url = match &self.url {
            Url::Fixed(u) => format!("fixed {u}"),
            Url::Discovered(list) => format!("discovered {:?}", list.iter().map(|(i, _)| i).collect::<Vec<_>>()),
        };
        let kind = match &self.kind {
            Kind::Introspection { client_id, client_secret, hint } => {
                format!("rfc7662 {client_id:?} {client_secret:?} {hint}")
            }
            Kind::Plain(p) => format!("plain {p:?}"),
        };
        crate::cache::digest(&format!("{url}\n{kind}"))
    }

    fn url_for(&self, issuer: Option<&str>) -> Result<String, String> {
        match &self.url {
            Url::Fixed(u) => Ok(u.clone()),
            Url::Discovered(list) => {
                let slot = list.iter().find(|(iss, _)| iss.is_none() || iss.as_deref() == issuer);
                let found = slot.and_then(|(_, s)| s.load_full()).and_then(|d| d.introspection_endpoint.clone());
                found.ok_or_else(|| "no introspection_endpoint discovered (yet)".to_string())
            }
        }
    }

    /// One request, bounded by `timeout` as a whole.
    pub fn check(&self, agent: &ureq::Agent, token: &str, issuer: Option<&str>, timeout: Duration) -> Answer {
        let url = self.url_for(issuer)?;
        // A token placed in a URL may come back in an error message: never let it reach a log.
        let hide = |e: ureq::Error| match e {
            ureq::Error::Timeout(_) => format!("no answer within {} ms", self.timeout.as_millis()),
            other => other.to_string().replace(token, "[token]"),
        };
        let (status, body) = match &self.kind {
            Kind::Introspection { client_id, client_secret, hint } => {
                let auth = basic_auth(client_id, client_secret);
                let mut form = vec![("token", token)];
                if *hint {
                    form.push(("token_type_hint", "access_token"));
                }
                let req = agent.post(&url).config().timeout_global(Some(timeout)).build();
                let resp = req.header("authorization", &auth).header("accept", "application/json").send_form(form);
                read(resp.map_err(hide)?, hide)?
            }
            Kind::Plain(p) => {
                let full = format!("{url}{}", p.path.as_deref().map(|x| fill(x, token)).unwrap_or_default());
                read(send_plain(agent, p, &full, token, timeout).map_err(hide)?, hide)?
            }
        };
        match &self.kind {
            Kind::Introspection { .. } => interpret_rfc7662(status, &body),
            Kind::Plain(p) => interpret_plain(p, status, &body),
        }
    }
}

fn read(
    mut resp: ureq::http::Response<ureq::Body>,
    hide: impl Fn(ureq::Error) -> String,
) -> Result<(u16, String), String> {
    let status = resp.status().as_u16();
    let body = resp.body_mut().with_config().limit(crate::net::http::ANSWER_LIMIT).read_to_string().map_err(hide)?;
    Ok((status, body))
}

fn send_plain(
    agent: &ureq::Agent,
    p: &Plain,
    url: &str,
    token: &str,
    timeout: Duration,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    let headers: Vec<(String, String)> = p.headers.iter().map(|(k, v)| (k.clone(), fill(v, token))).collect();
    macro_rules! with_headers {
        ($req:expr) => {{
            let mut r = $req.config().timeout_global(Some(timeout)).build();
            for (k, v) in &headers {
                r = r.header(k.as_str(), v.as_str());
            }
            r
        }};
    }
    let body = p.payload.as_ref().map(|v| fill_json(v, token));
    match p.method.as_str() {
        "GET" => with_headers!(agent.get(url)).call(),
        "DELETE" => with_headers!(agent.delete(url)).call(),
        method => {
            let req = if method == "PUT" { with_headers!(agent.put(url)) } else { with_headers!(agent.post(url)) };
            match (body, p.body_encoding) {
                (None, _) => req.send_empty(),
                (Some(v), BodyEncoding::Json) => req.content_type("application/json").send(v.to_string()),
                (Some(v), BodyEncoding::Form) => req.send_form(form_pairs(&v)),
            }
        }
    }
}

fn form_pairs(v: &Value) -> Vec<(String, String)> {
    let Value::Object(m) = v else { return Vec::new() };
    m.iter().map(|(k, v)| (k.clone(), if let Value::String(s) = v { s.clone() } else { v.to_string() })).collect()
}

/// RFC 6749 §2.3.1: id and secret are form-encoded before they are joined and base64-encoded.
pub fn basic_auth(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded(s);
    let raw = format!("{}:{}", enc(id), enc(secret));
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
}

fn form_urlencoded(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn fill(template: &str, token: &str) -> String {
    template.replace(TOKEN_PLACEHOLDER, token)
}

/// Replaces the placeholder in every string of a JSON payload (keys are left alone).
pub fn fill_json(v: &Value, token: &str) -> Value {
    match v {
        Value::String(s) => Value::String(fill(s, token)),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill_json(x, token)).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), fill_json(x, token))).collect()),
        other => other.clone(),
    }
}

/// RFC 7662 §2.2: a JSON object whose boolean `active` decides.
pub fn interpret_rfc7662(status: u16, body: &str) -> Answer {
    if status != 200 {
        return Err(format!("HTTP status {status}"));
    }
    let v: Value = serde_json::from_str(body).map_err(|_| "the answer is not JSON".to_string())?;
    match v.get("active") {
        Some(Value::Bool(true)) => Ok(Verdict::Active),
        Some(Value::Bool(false)) => Ok(Verdict::Inactive),
        _ => Err("the answer has no boolean \"active\"".into()),
    }
}

/// A custom endpoint: a success code and (with jsonPath) the expected value mean active; a client
/// error (4xx other than 408/429) is the endpoint saying no; anything else is a failure.
pub fn interpret_plain(p: &Plain, status: u16, body: &str) -> Answer {
    if !p.success_http_codes.contains(&status) {
        return match status {
            408 | 429 => Err(format!("HTTP status {status}")),
            400..=499 => Ok(Verdict::Inactive),
            _ => Err(format!("HTTP status {status}")),
        };
    }
    let Some(path) = &p.json_path else { return Ok(Verdict::Active) };
    let v: Value = serde_json::from_str(body).map_err(|_| "the answer is not JSON".to_string())?;
    let found = path.split('.').try_fold(&v, |v, k| v.get(k));
    Ok(if found == Some(&p.success_value) { Verdict::Active } else { Verdict::Inactive })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plain(json_path: Option<&str>) -> Plain {
        Plain {
            uri: "http://x".into(),
            method: "POST".into(),
            headers: vec![],
            path: None,
            payload: None,
            body_encoding: BodyEncoding::Json,
            json_path: json_path.map(str::to_string),
            success_value: json!(true),
            success_http_codes: vec![200],
        }
    }

    #[test]
    fn rfc7662_answers() {
        assert_eq!(interpret_rfc7662(200, r#"{"active":true,"sub":"a"}"#), Ok(Verdict::Active));
        assert_eq!(interpret_rfc7662(200, r#"{"active":false}"#), Ok(Verdict::Inactive));
        assert!(interpret_rfc7662(200, "<html>").is_err());
        assert!(interpret_rfc7662(200, r#"{"active":"true"}"#).is_err());
        assert!(interpret_rfc7662(500, r#"{"active":true}"#).is_err());
        assert!(interpret_rfc7662(401, "").is_err(), "bad client credentials are a failure, not a verdict");
    }

    #[test]
    fn plain_answers() {
        let p = plain(Some("result.valid"));
        assert_eq!(interpret_plain(&p, 200, r#"{"result":{"valid":true}}"#), Ok(Verdict::Active));
        assert_eq!(interpret_plain(&p, 200, r#"{"result":{"valid":false}}"#), Ok(Verdict::Inactive));
        assert_eq!(interpret_plain(&p, 200, r#"{}"#), Ok(Verdict::Inactive));
        assert!(interpret_plain(&p, 200, "garbage").is_err());
        assert_eq!(interpret_plain(&p, 403, ""), Ok(Verdict::Inactive));
        assert!(interpret_plain(&p, 503, "").is_err());
        assert!(interpret_plain(&p, 429, "").is_err());
        assert_eq!(interpret_plain(&plain(None), 200, "anything"), Ok(Verdict::Active));
    }

    #[test]
    fn placeholders_and_basic_auth() {
        let v = fill_json(&json!({"token": "#:jwt_value:#", "n": [1, "x#:jwt_value:#"]}), "T");
        assert_eq!(v, json!({"token": "T", "n": [1, "xT"]}));
        // RFC 6749 §2.3.1 example shape: reserved characters are encoded before base64.
        assert_eq!(
            basic_auth("a b", "p:w"),
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("a+b:p%3Aw"))
        );
    }
}
