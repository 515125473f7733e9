//! Ties the connection to its token: client id and username bindings (options.common.matchXTo...).
use super::Loaded;
use crate::config::TokenSource;
use crate::logsafe::clean;
use crate::refusal::{Reason, Refused};
use crate::token::Token;
use std::sync::Arc;

/// What the connection's identity becomes once its token is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The username bound to the token (matchUsernameTo...), None when no binding is configured;
    /// the token's own `sub` when bound to it (shared, not copied).
    pub username: Option<Arc<str>>,
    /// The username mosquitto should carry from now on, when it differs from what the client sent.
    pub set_username: Option<String>,
}

impl Loaded {
    /// Ties the connection to the token: client id and username bindings.
    pub fn bind_identity(
        &self,
        t: &Token,
        client_id: Option<&str>,
        username: Option<&str>,
    ) -> Result<Identity, Refused> {
        let c = &self.config.common;
        if c.match_client_id_to_subject {
            let sub =
                t.sub.as_deref().ok_or_else(|| Refused::new(Reason::BadSubject, "no sub to match the client id"))?;
            if client_id != Some(sub) {
                return Err(Refused::new(Reason::ClientIdMismatch, "client id is not the token's subject"));
            }
        }
        if let Some(claim) = &c.match_client_id_to_claim {
            let want = string_claim(t, claim)?;
            if client_id != Some(want) {
                return Err(Refused::new(
                    Reason::ClientIdMismatch,
                    format!("client id is not claim {}", clean(claim, 64)),
                ));
            }
        }
        let wanted: Option<Arc<str>> = if c.match_username_to_subject {
            Some(t.sub.clone().ok_or_else(|| Refused::new(Reason::BadSubject, "no sub to set the username from"))?)
        } else if let Some(claim) = &c.match_username_to_claim {
            Some(string_claim(t, claim)?.into())
        } else {
            None
        };
        let Some(bound) = wanted else { return Ok(Identity { username: None, set_username: None }) };
        let wanted = &*bound;
        // When the token travels in the username field, that field is the token, not a name to compare.
        let sent = match c.token_source {
            TokenSource::Password => username.filter(|u| !u.is_empty()),
            TokenSource::Username => None,
        };
        match sent {
            Some(u) if u == wanted => Ok(Identity { username: Some(bound), set_username: None }),
            Some(_) if c.refuse_username_mismatch => {
                Err(Refused::new(Reason::UsernameMismatch, "username differs from the token's identity"))
            }
            _ => Ok(Identity { set_username: Some(wanted.to_string()), username: Some(bound) }),
        }
    }
}

fn string_claim<'a>(t: &'a Token, claim: &str) -> Result<&'a str, Refused> {
    match t.claim(claim) {
        // Like the subject: the value becomes a username or client id that topic patterns substitute.
        Some(serde_json::Value::String(s))
            if !s.is_empty() && !s.chars().any(|c| c.is_control() || c == '+' || c == '#') =>
        {
            Ok(s)
        }
        Some(_) => Err(Refused::new(
            Reason::BadClaim,
            format!("claim {} is not a usable string (empty, control or wildcard characters)", clean(claim, 64)),
        )),
        None => Err(Refused::new(Reason::BadClaim, format!("claim {} is missing", clean(claim, 64)))),
    }
}
