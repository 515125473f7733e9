//! The one HTTP client setup (ureq; rustls with the webpki roots): timeouts, redirect policy, body
//! limits and user agent for key refresh, discovery, introspection and the credentials exchange;
//! and the GET for JWK sets and discovery documents. Runs on background threads (and, for the
//! explicitly blocking options, on the broker thread).
use super::cache_headers::freshness;
use std::time::Duration;

/// A JWK set, discovery document or token response far larger than this is not one.
pub const DOCUMENT_LIMIT: u64 = 1 << 20;
/// An introspection answer is small; anything far larger is not one.
pub const ANSWER_LIMIT: u64 = 64 * 1024;

pub struct Response {
    pub body: String,
    /// How long the response may be cached, from Cache-Control / Expires (None: no such header).
    pub fresh_for: Option<Duration>,
}

/// One agent per key source, introspector or exchanger: `timeout` bounds each request as a whole
/// (connect, send, body); a request may set a shorter one.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        // A redirect is not followed: it could hand the choice of verification keys to another
        // origin (or downgrade https to http), or carry a token and the client credentials to
        // wherever it points and let that place vouch for revoked tokens. The configured URL must be
        // the final one.
        .max_redirects(0)
        .user_agent(concat!("mqtt-jwt-auth/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

pub fn get(agent: &ureq::Agent, url: &str, timeout: Duration) -> Result<Response, String> {
    let describe = |e: ureq::Error| match e {
        ureq::Error::Timeout(_) => format!("timed out after {} ms", timeout.as_millis()),
        ureq::Error::BodyExceedsLimit(_) => format!("response larger than {DOCUMENT_LIMIT} bytes"),
        other => other.to_string(),
    };
    let mut resp = agent.get(url).header("accept", "application/json").call().map_err(describe)?;
    let status = resp.status().as_u16();
    if (300..400).contains(&status) {
        return Err(format!("HTTP status {status} (redirects are not followed; configure the final URL)"));
    }
    if !(200..300).contains(&status) {
        return Err(format!("HTTP status {status}"));
    }
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let fresh_for =
        freshness(header("cache-control").as_deref(), header("expires").as_deref(), header("date").as_deref());
    let body = resp.body_mut().with_config().limit(DOCUMENT_LIMIT).read_to_string().map_err(describe)?;
    Ok(Response { body, fresh_for })
}
