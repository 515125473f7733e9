//! OIDC discovery (OpenID Connect Discovery 1.0 §4): the issuer's `/.well-known/openid-configuration`
//! names its `jwks_uri`, `introspection_endpoint` and `token_endpoint`. Fetched and parsed here only,
//! for the key sources, introspection and the credentials exchange alike. The document's `issuer`
//! must be the configured issuer exactly, or an attacker able to serve that path for another issuer
//! could substitute its own keys.
use super::http;
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// Required by the key sources (they say so when it is missing), not by the exchange.
    pub jwks_uri: Option<String>,
    /// Kept for token introspection (revocation), which takes it when no uri is configured.
    pub introspection_endpoint: Option<String>,
    /// For the credentials exchange; one that is not an http(s) URL is ignored (the exchange then
    /// says there is none) rather than failing the key source.
    pub token_endpoint: Option<String>,
}

/// GET and parse the issuer's discovery document; errors start with the document's URL.
pub fn fetch(agent: &ureq::Agent, issuer: &str, timeout: Duration) -> Result<Discovered, String> {
    let url = discovery_url(issuer);
    let resp = http::get(agent, &url, timeout).map_err(|e| format!("{url}: {e}"))?;
    parse_discovery(issuer, &resp.body).map_err(|e| format!("{url}: {e}"))
}

pub fn discovery_url(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
}

pub fn parse_discovery(issuer: &str, body: &str) -> Result<Discovered, String> {
    let doc: Value =
        serde_json::from_str(body).map_err(|e| format!("discovery document is not JSON ({:?})", e.classify()))?;
    let doc = doc.as_object().ok_or("discovery document is not a JSON object")?;
    match doc.get("issuer").and_then(Value::as_str) {
        Some(i) if i == issuer => {}
        Some(i) => {
            return Err(format!(
                "discovery document names issuer {:?}, not the configured {issuer:?}",
                crate::logsafe::clean(i, 200)
            ))
        }
        None => return Err("discovery document has no issuer".into()),
    }
    let url = |name: &str| -> Result<Option<String>, String> {
        match doc.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(u)) if u.starts_with("https://") || u.starts_with("http://") => Ok(Some(u.clone())),
            Some(_) => Err(format!("discovery document: {name} is not an http(s) URL")),
        }
    };
    let token_endpoint = url("token_endpoint").ok().flatten();
    Ok(Discovered {
        jwks_uri: url("jwks_uri")?,
        introspection_endpoint: url("introspection_endpoint")?,
        token_endpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://idp.example/realms/a";

    #[test]
    fn reads_jwks_uri_and_introspection() {
        let body = r#"{"issuer":"https://idp.example/realms/a","jwks_uri":"https://idp.example/certs",
                       "introspection_endpoint":"https://idp.example/introspect","token_endpoint":"ftp://x"}"#;
        let d = parse_discovery(ISS, body).unwrap();
        assert_eq!(d.jwks_uri.as_deref(), Some("https://idp.example/certs"));
        assert_eq!(d.token_endpoint, None, "not an http(s) URL");
        assert_eq!(d.introspection_endpoint.as_deref(), Some("https://idp.example/introspect"));
        assert_eq!(discovery_url("https://idp.example/"), "https://idp.example/.well-known/openid-configuration");
    }

    #[test]
    fn refuses_another_issuer_and_bad_documents() {
        let other = r#"{"issuer":"https://evil.example","jwks_uri":"https://evil.example/certs"}"#;
        assert!(parse_discovery(ISS, other).unwrap_err().contains("not the configured"));
        // Exact comparison: a trailing slash is another issuer.
        let slash = r#"{"issuer":"https://idp.example/realms/a/","jwks_uri":"https://x/c"}"#;
        assert!(parse_discovery(ISS, slash).is_err());
        let bare = parse_discovery(ISS, r#"{"issuer":"https://idp.example/realms/a","token_endpoint":"https://t"}"#);
        assert_eq!(bare.unwrap().token_endpoint.as_deref(), Some("https://t"));
        let ftp = r#"{"issuer":"https://idp.example/realms/a","jwks_uri":"ftp://x/c"}"#;
        assert!(parse_discovery(ISS, ftp).is_err());
        assert!(parse_discovery(ISS, "<html>").is_err());
        assert!(parse_discovery(ISS, "[]").is_err());
    }
}
