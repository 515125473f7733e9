//! `mqtt-jwt verify`: the plugin's decision for a token, and every other reason it would be refused,
//! so an operator fixes them all at once instead of one per attempt. Also the hint per refusal
//! category; docs/operations.md's Troubleshooting entries start with these words (tests/docs.rs checks).
use crate::loaded::Loaded;
use crate::refusal::{Reason, Refused};
use crate::token::Token;
use base64::Engine as _;
use serde_json::{Map, Value};
use std::sync::Arc;

pub struct Report {
    /// The plugin's answer: the verified token, or its first refusal.
    pub decision: Result<Arc<Token>, Refused>,
    /// Every problem found (the decision's first), each checked on its own on the unverified claims.
    pub problems: Vec<Refused>,
    pub header: Map<String, Value>,
    /// The payload as sent (not verified when the decision is a refusal).
    pub claims: Map<String, Value>,
    /// The username the connection would carry, when the token is accepted.
    pub username: Option<String>,
    /// The compiled permissions, when options.authorization is configured and the token is accepted.
    pub permissions: Option<Vec<String>>,
    /// Warnings from compiling the permissions.
    pub warnings: Vec<String>,
}

fn part(token: &str, i: usize) -> Map<String, Value> {
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    token
        .split('.')
        .nth(i)
        .and_then(|p| e.decode(p.trim_end_matches('=')).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
}

fn unverified(claims: &Map<String, Value>) -> Token {
    let num = |n: &str| claims.get(n).and_then(Value::as_f64);
    Token {
        sub: claims.get("sub").and_then(Value::as_str).map(Into::into),
        iss: claims.get("iss").and_then(Value::as_str).map(Into::into),
        exp: num("exp").into(),
        nbf: num("nbf").into(),
        iat: num("iat").into(),
        claims: claims.clone().into(),
    }
}

/// Runs the plugin's checks for `token` as a CONNECT from `client_id` / `username` at `now`.
pub fn diagnose(loaded: &Loaded, token: &str, client_id: Option<&str>, username: Option<&str>, now: f64) -> Report {
    let header = part(token, 0);
    let claims = part(token, 1);
    let decision =
        loaded.authenticate(token, now).and_then(|t| loaded.bind_identity(&t, client_id, username).map(|id| (t, id)));
    let mut problems = Vec::new();
    if let Err(r) = &decision {
        problems.push(r.clone());
    }
    // The other checks, each on its own, on what the token claims.
    let t = unverified(&claims);
    let v = &loaded.verifier;
    let mut extra = vec![v.check_time(&t, now)];
    let iss = claims.get("iss").and_then(Value::as_str);
    if !v.issuers.is_empty() && !iss.is_some_and(|i| v.issuers.iter().any(|p| p.matches(i))) {
        extra.push(Err(Refused::new(Reason::WrongIssuer, format!("iss {iss:?} matches no configured issuer"))));
    }
    let auds: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !v.audiences.is_empty() && !auds.iter().any(|a| v.audiences.iter().any(|p| p.matches(a))) {
        extra.push(Err(Refused::new(Reason::WrongAudience, format!("aud {auds:?} matches no configured audience"))));
    }
    extra.push(loaded.bind_identity(&t, client_id, username).map(|_| ()));
    for r in extra.into_iter().filter_map(Result::err) {
        if !problems.iter().any(|p| p.reason == r.reason) {
            problems.push(r);
        }
    }
    let (decision, username, permissions, warnings) = match decision {
        Ok((t, id)) => {
            let name = id.set_username.or(id.username.map(|u| u.to_string())).or(username.map(str::to_string));
            // From the token verified again: a cached one may no longer hold the claims that only
            // authorization reads (its entry keeps the permissions instead).
            let full = loaded.verify_uncached(token, now).map(Arc::new).unwrap_or_else(|_| t.clone());
            let compiled = loaded
                .config
                .authorization
                .as_ref()
                .map(|cfg| crate::acl::compile(cfg, &full, client_id, name.as_deref()));
            let warnings = compiled.as_ref().map(|p| p.warnings().to_vec()).unwrap_or_default();
            (Ok(t), name, compiled.map(|p| p.describe()), warnings)
        }
        Err(r) => (Err(r), None, None, Vec::new()),
    };
    Report { decision, problems, header, claims, username, permissions, warnings }
}

/// What a refusal category means for the operator: the usual cause and what to do.
pub fn hint(reason: Reason) -> &'static str {
    match reason {
        Reason::NoToken => "the client sent no password (or no username with tokenSource \"username\"): put the JWT there",
        Reason::TooLarge => "the token is longer than options.common.maxTokenBytes: raise it, or slim the token's claims",
        Reason::Malformed => "not a compact JWT (three base64url parts): check the client sends the raw access token, not \"Bearer ...\" or an opaque token",
        Reason::EncryptedToken => "the token is a JWE (encrypted, five parts): this plugin verifies signed tokens only; have the provider issue signed (JWS) access tokens for this client, not encrypted ones",
        Reason::AlgorithmNotAllowed => "the token's alg is not in \"algorithm\": add it there if the provider really signs with it",
        Reason::CritHeader => "the token has a crit header, which this plugin does not support",
        Reason::NoKeys => "no keys are loaded yet: check the JWKS/discovery URL and the broker's log for the fetch error",
        Reason::UnknownKid => "no key with the token's kid: the provider rotated keys (a refresh was requested; retry after minRefreshIntervalMs) or the token comes from another issuer",
        Reason::NoKeyForAlgorithm => "no configured key can check this alg (e.g. an RS256 token with an HMAC secret): configure the provider's public key",
        Reason::BadSignature => "the signature does not verify: wrong key or secret, or an altered token",
        Reason::BadClaimsSet => "the signature verifies, but the payload is not a JSON object (or repeats a claim name): the issuer signs something other than a JWT claims set; fix the issuer, not the client",
        Reason::MissingExpiry => "the token has no exp while validateExpiration is true: make the provider set exp",
        Reason::Expired => "exp has passed: the client must fetch a new token; check the broker's clock (leewaySeconds allows skew)",
        Reason::NotYetValid => "nbf is in the future: check clocks, or allow skew with leewaySeconds",
        Reason::IssuedInFuture => "iat is in the future: check clocks, or allow skew with leewaySeconds",
        Reason::WrongIssuer => "iss is not a configured issuer: compare the token's iss with options.common.issuer exactly (trailing slash included)",
        Reason::WrongAudience => "aud has no configured audience: add an audience mapper at the provider or fix options.common.audience",
        Reason::MissingScope => "the token lacks a scope listed in options.common.requiredScopes: grant that scope to the client at the provider",
        Reason::Revoked => "the introspection endpoint says the token is not active (revoked or unknown there): the client needs a new token",
        Reason::RevocationUnchecked => "the revocation check got no usable answer and onError is \"deny\": check the introspection endpoint, its credentials and timeoutMs",
        Reason::BadClaim => "a claim the configuration needs (username/client id binding) is missing or not a string",
        Reason::BadSubject => "sub is missing or unusable and the configuration needs it",
        Reason::UsernameMismatch => "the MQTT username differs from the token's identity while refuseUsernameMismatch is true: send the matching username or none",
        Reason::ClientIdMismatch => "the MQTT client id must equal the token's subject (or claim): connect with that client id",
        Reason::RefreshTooSoon => "an in-band refresh came sooner than options.refresh.minIntervalMs after the last one: refresh less often (the session goes on)",
        Reason::SessionEnding => "the plugin is already disconnecting this session (expired, revoked or a refused refresh): reconnect with a valid token",
        Reason::CredentialsRefused => "the identity provider refused the username/password (client id and secret, or user and password)",
        Reason::ExchangeFailed => "the token endpoint could not be reached or gave no JWT: check tokenEndpoint, timeoutMs and the provider's access-token format",
        Reason::ClientIdInUse => "another identity's connection holds this client id (clientIdTakeover \"sameIdentity\"): connect with your own client id, or bind client ids to tokens",
        Reason::LoggedOut => "the identity provider logged this user (or this provider session) out after the token was issued (back-channel logout, options.logout): the client must sign in again and use a token issued after the logout",
        Reason::BadLogoutToken => "a logout token broke a rule of OIDC Back-Channel Logout (typ, iss, aud = options.logout.audience, iat within maxAgeSeconds, events, sub or sid, jti, no nonce): the detail names the rule",
        Reason::LogoutReplayed => "this logout token's jti was already used: a retry of a logout that was already applied (harmless), or a replay",
        Reason::Internal => "a bug or out of memory: the broker's log has the details",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    const SECRET: &[u8] = b"diagnose-test-secret-0123456789-abcdef";

    fn loaded() -> Loaded {
        let cfg = serde_json::json!({"version": 1, "algorithm": "HS256", "mode": "local",
                                     "options": {"modes": {"local": std::str::from_utf8(SECRET).unwrap()}}});
        Loaded::new(crate::config::Config::parse(&cfg.to_string()).unwrap()).unwrap().0
    }

    #[test]
    fn encrypted_and_non_jwt_payloads_get_their_own_hint() {
        let e = loaded();
        let jwe = format!("{}.{}.{}.{}.{}", B64.encode(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#), "a", "b", "c", "d");
        let r = diagnose(&e, &jwe, Some("c"), None, 1e9);
        assert_eq!(r.problems[0].reason, Reason::EncryptedToken);
        assert!(hint(Reason::EncryptedToken).contains("signed (JWS)"));
        // A valid HS256 signature over a payload that is not a claims set.
        let msg = format!("{}.{}", B64.encode(r#"{"alg":"HS256"}"#), B64.encode("not json"));
        let mac = crate::keys::Signer::new(crate::alg::Alg::HS256, SECRET).unwrap().sign(msg.as_bytes()).unwrap();
        let r = diagnose(&e, &format!("{msg}.{}", B64.encode(mac)), Some("c"), None, 1e9);
        assert_eq!(r.problems[0].reason, Reason::BadClaimsSet);
        assert!(hint(Reason::BadClaimsSet).contains("not a JSON object"));
    }
}
