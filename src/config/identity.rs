//! Who a connection is, and what may be trusted about it: `options.common.clientIdTakeover`,
//! `options.common.nonJwtCredentials`, and the load-time checks that refuse combinations which
//! would let a client choose its own `%c` or put the token into mosquitto's log.
use super::walk::{ConfigError, Obj, Result};
use super::{Common, Config, TokenSource};
use crate::acl::template::Part;

/// `options.common.clientIdTakeover`: what a CONNECT may do to a connected client with the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientIdTakeover {
    /// Only the same identity (issuer + subject, or the bound username) takes the id over.
    SameIdentity,
    /// MQTT's takeover for anyone the plugin accepts.
    Allow,
}

/// `options.common.nonJwtCredentials`: what happens to credentials that are not shaped like a JWT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonJwtCredentials {
    Refuse,
    /// Passed on (DEFER) to dynamic-security, password_file or a later plugin.
    Defer,
}

pub(super) fn parse_takeover(o: &mut Obj) -> Result<ClientIdTakeover> {
    match o.string("clientIdTakeover")? {
        None | Some("sameIdentity") => Ok(ClientIdTakeover::SameIdentity),
        Some("allow") => Ok(ClientIdTakeover::Allow),
        Some(other) => Err(ConfigError::new(
            o.key_path("clientIdTakeover"),
            format!("unknown value {other:?} (expected \"sameIdentity\" or \"allow\")"),
        )),
    }
}

pub(super) fn parse_non_jwt(o: &mut Obj) -> Result<NonJwtCredentials> {
    match o.string("nonJwtCredentials")? {
        None | Some("refuse") => Ok(NonJwtCredentials::Refuse),
        Some("defer") => Ok(NonJwtCredentials::Defer),
        Some(other) => Err(ConfigError::new(
            o.key_path("nonJwtCredentials"),
            format!("unknown value {other:?} (expected \"refuse\" or \"defer\")"),
        )),
    }
}

/// The token in the username field is what mosquitto logs ("u'...'") and keeps, unless a binding
/// replaces it with a name from the token.
pub(super) fn check_common(c: &Common) -> Result<()> {
    let binds_username = c.match_username_to_subject || c.match_username_to_claim.is_some();
    if c.token_source == TokenSource::Username && !binds_username {
        return Err(ConfigError::new(
            "options.common.tokenSource",
            "\"username\" needs matchUsernameToSubject or matchUsernameToClaim: mosquitto logs every \
             connection's username and keeps it for acl_file and dynamic-security, so without a binding that \
             replaces it with a name from the token, the token itself would be logged; set one of them (or \
             use tokenSource \"password\")",
        ));
    }
    Ok(())
}

/// Checks that need several parts of the configuration at once.
pub(super) fn check(cfg: &Config) -> Result<()> {
    if cfg.common.non_jwt_credentials == NonJwtCredentials::Defer && cfg.credentials_exchange.is_some() {
        return Err(ConfigError::new(
            "options.common.nonJwtCredentials",
            "\"defer\" conflicts with options.credentialsExchange: a password that is not a JWT cannot both be \
             exchanged here and passed on to other plugins; remove one of them",
        ));
    }
    let Some(auth) = &cfg.authorization else { return Ok(()) };
    if auth.trust_client_id || client_id_bound(&cfg.common) {
        return Ok(());
    }
    for (i, rule) in auth.rules.iter().enumerate() {
        if rule.topic.parts.contains(&Part::ClientId) {
            return Err(ConfigError::new(
                format!("options.authorization.rules[{i}].topic"),
                "uses %c, but the client id is whatever the client sends, so any token holder could pick \
                 another device's id and get its topics: bind the client id to the token with \
                 options.common.matchClientIdToSubject or matchClientIdToClaim, or set \
                 options.authorization.trustClientId: true if any token holder may pick any %c",
            ));
        }
    }
    Ok(())
}

pub(super) fn client_id_bound(c: &Common) -> bool {
    c.match_client_id_to_subject || c.match_client_id_to_claim.is_some()
}

#[cfg(test)]
mod tests;
