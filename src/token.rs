//! What a verified token says: the type the verifier produces and authorization, sessions and the
//! cache read. A leaf (nothing of ours), so ACL rules and the cache need not depend on the verifier.
use serde_json::{Map, Value};
use std::sync::Arc;

/// What a verified token says, kept for identity checks and later authorization.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub sub: Option<Arc<str>>,
    /// `iss` when it is a string (a configured issuer list refuses any other).
    pub iss: Option<Arc<str>>,
    pub exp: Option<f64>,
    pub nbf: Option<f64>,
    pub iat: Option<f64>,
    pub claims: Map<String, Value>,
}

impl Token {
    /// The same token without its claims map, for a holder that never reads it.
    pub fn without_claims(t: &Arc<Token>) -> Arc<Token> {
        if t.claims.is_empty() {
            return t.clone();
        }
        Arc::new(Token {
            sub: t.sub.clone(),
            iss: t.iss.clone(),
            exp: t.exp,
            nbf: t.nbf,
            iat: t.iat,
            claims: Map::new(),
        })
    }

    /// A claim by name or dotted path (`realm_access.roles`).
    pub fn claim(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let mut v = self.claims.get(parts.next()?)?;
        for p in parts {
            v = v.as_object()?.get(p)?;
        }
        Some(v)
    }
}
