//! Every key path jwt.json accepts, in one list. The loader checks each key it reads against it
//! (debug builds: `Obj` asserts), a unit test checks that the loader reads every key listed, and
//! tests/docs.rs checks that docs/configuration.md documents each one: a key cannot be added,
//! dropped or renamed in one place only. `[]` marks an array's items (`options.issuerKeys[].uri`).

pub const KEYS: &[&str] = &[
    "version",
    "algorithm",
    "mode",
    "options",
    "options.lazyConnect",
    "options.modes",
    "options.modes.local",
    "options.modes.local.plain",
    "options.modes.local.env",
    "options.modes.local.filePath",
    "options.modes.jwks",
    "options.modes.jwks.uri",
    "options.modes.jwks.filePath",
    "options.modes.jwks.discovery",
    "options.modes.jwks.timeoutMs",
    "options.modes.jwks.minRefreshIntervalMs",
    "options.modes.jwks.cache",
    "options.modes.jwks.cache.enabled",
    "options.modes.jwks.cache.ttlMs",
    "options.modes.jwks.cache.respectCacheHeaders",
    "options.issuerKeys",
    "options.issuerKeys[].issuer",
    "options.issuerKeys[].uri",
    "options.issuerKeys[].filePath",
    "options.issuerKeys[].discovery",
    "options.issuerKeys[].timeoutMs",
    "options.issuerKeys[].minRefreshIntervalMs",
    "options.issuerKeys[].cache",
    "options.issuerKeys[].cache.enabled",
    "options.issuerKeys[].cache.ttlMs",
    "options.issuerKeys[].cache.respectCacheHeaders",
    "options.common",
    "options.common.issuer",
    "options.common.issuers",
    "options.common.audience",
    "options.common.audiences",
    "options.common.requiredScopes",
    "options.common.validateExpiration",
    "options.common.matchUsernameToSubject",
    "options.common.matchUsernameToClaim",
    "options.common.matchClientIdToSubject",
    "options.common.matchClientIdToClaim",
    "options.common.kickExpiredClients",
    "options.common.kickExpiredClientsWithWill",
    "options.common.leewaySeconds",
    "options.common.tokenSource",
    "options.common.maxTokenBytes",
    "options.common.refuseUsernameMismatch",
    "options.common.clientIdTakeover",
    "options.common.nonJwtCredentials",
    "options.verifiedTokenCache",
    "options.verifiedTokenCache.enabled",
    "options.verifiedTokenCache.maxEntries",
    "options.refresh",
    "options.refresh.authMethod",
    "options.refresh.controlTopic",
    "options.refresh.responseTopic",
    "options.refresh.minIntervalMs",
    "options.invalidNotice",
    "options.invalidNotice.enabled",
    "options.invalidNotice.topic",
    "options.expiryNotice",
    "options.expiryNotice.enabled",
    "options.expiryNotice.secondsBefore",
    "options.expiryNotice.topic",
    "options.revocation",
    "options.revocation.introspection",
    "options.revocation.introspection.uri",
    "options.revocation.introspection.clientId",
    "options.revocation.introspection.clientSecret",
    "options.revocation.introspection.clientSecret.plain",
    "options.revocation.introspection.clientSecret.env",
    "options.revocation.introspection.clientSecret.filePath",
    "options.revocation.introspection.includeTokenTypeHint",
    "options.revocation.introspection.includeTokenTypehint",
    "options.revocation.plain",
    "options.revocation.plain.uri",
    "options.revocation.plain.requestParameters",
    "options.revocation.plain.requestParameters.method",
    "options.revocation.plain.requestParameters.headers",
    "options.revocation.plain.requestParameters.path",
    "options.revocation.plain.requestParameters.payload",
    "options.revocation.plain.bodyEncoding",
    "options.revocation.plain.response",
    "options.revocation.plain.response.jsonPath",
    "options.revocation.plain.response.successValue",
    "options.revocation.plain.successHttpCodes",
    "options.revocation.timeoutMs",
    "options.revocation.policy",
    "options.revocation.onError",
    "options.revocation.recheckIntervalMs",
    "options.revocation.keepVerdictOnRecheckFailure",
    "options.revocation.retryIntervalMs",
    "options.revocation.cacheTtlMs",
    "options.revocation.cacheMaxEntries",
    "options.revocation.queueSize",
    "options.revocation.workers",
    "options.authorization",
    "options.authorization.defer",
    "options.authorization.trustClientId",
    "options.authorization.claims",
    "options.authorization.claims.publish",
    "options.authorization.claims.subscribe",
    "options.authorization.claims.both",
    "options.authorization.claims.resources",
    "options.authorization.aclClaim",
    "options.authorization.rules",
    "options.authorization.rules[].permission",
    "options.authorization.rules[].action",
    "options.authorization.rules[].topic",
    "options.authorization.rules[].qos",
    "options.authorization.rules[].retain",
    "options.authorization.rules[].if",
    "options.authorization.rules[].if.claim",
    "options.authorization.rules[].if.contains",
    "options.authorization.noMatch",
    "options.metrics",
    "options.metrics.enabled",
    "options.metrics.intervalSeconds",
    "options.metrics.logIntervalSeconds",
    "options.metrics.topicPrefix",
    "options.credentialsExchange",
    "options.credentialsExchange.enabled",
    "options.credentialsExchange.tokenEndpoint",
    "options.credentialsExchange.discovery",
    "options.credentialsExchange.grant",
    "options.credentialsExchange.clientId",
    "options.credentialsExchange.clientSecret",
    "options.credentialsExchange.clientSecret.plain",
    "options.credentialsExchange.clientSecret.env",
    "options.credentialsExchange.clientSecret.filePath",
    "options.credentialsExchange.scope",
    "options.credentialsExchange.audience",
    "options.credentialsExchange.resource",
    "options.credentialsExchange.timeoutMs",
    "options.credentialsExchange.maxEntries",
    "options.logout",
    "options.logout.enabled",
    "options.logout.topic",
    "options.logout.audience",
    "options.logout.maxAgeSeconds",
    "options.logout.rememberSeconds",
];

/// A key path without array positions or markers: `options.issuerKeys[2].uri` and
/// `options.issuerKeys[].uri` are both `options.issuerKeys.uri`.
pub fn normalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut depth = 0usize;
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whether the loader may read `path` (as `Obj` names it, with array positions).
pub fn is_key(path: &str) -> bool {
    // Normalised once: the loader asks for every key it reads (debug builds), and the unit tests
    // load hundreds of configurations.
    static LISTED: std::sync::OnceLock<std::collections::HashSet<String>> = std::sync::OnceLock::new();
    LISTED.get_or_init(|| KEYS.iter().map(|k| normalize(k)).collect()).contains(&normalize(path))
}

#[cfg(test)]
thread_local! {
    static READ: std::cell::RefCell<std::collections::BTreeSet<String>> = Default::default();
}

/// Test builds: remembers every key path the loader asked for on this thread.
#[cfg(test)]
pub(crate) fn record(path: &str) {
    READ.with(|r| r.borrow_mut().insert(normalize(path)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;

    /// Configurations that together make the loader ask for every key it knows (each object
    /// present, so its reader runs to its end; whether the whole file loads does not matter).
    fn load_everything() {
        let secret = json!({"plain": "p"});
        let jwks = json!({"filePath": "/k.json", "cache": {}});
        let full = json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {
            "modes": {"local": secret, "jwks": jwks},
            "common": {"issuer": "https://i"},
            "issuerKeys": [{"issuer": "https://i", "filePath": "/k.json", "cache": {}}],
            "revocation": {"introspection": {"clientId": "c", "clientSecret": secret}},
            "verifiedTokenCache": {}, "refresh": {}, "expiryNotice": {}, "invalidNotice": {},
            "authorization": {"claims": {}, "rules": [{"permission": "allow", "action": "all",
                "topic": "a/#", "if": {"claim": "c", "contains": "x"}}]},
            "metrics": {}, "credentialsExchange": {"tokenEndpoint": "https://t", "grant": "password",
                "clientId": "c", "clientSecret": secret},
            "logout": {"audience": "a"}}});
        let plain = json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {
            "modes": {"local": "secret-0123456789-0123456789-0123"},
            "revocation": {"plain": {"uri": "https://r", "requestParameters": {}, "response": {}}}}});
        let exchange = json!({"version": 1, "algorithm": "HS256", "mode": "local", "options": {
            "modes": {"local": "secret-0123456789-0123456789-0123"},
            "credentialsExchange": {"tokenEndpoint": "https://t", "grant": "password",
                "clientId": "c", "clientSecret": secret}}});
        for cfg in [full, plain, exchange] {
            let _ = Config::parse(&cfg.to_string());
        }
    }

    #[test]
    fn the_loader_reads_every_listed_key_and_no_other() {
        READ.with(|r| r.borrow_mut().clear());
        load_everything();
        let read = READ.with(|r| r.borrow().clone());
        let listed: std::collections::BTreeSet<String> = KEYS.iter().map(|k| normalize(k)).collect();
        let unread: Vec<_> = listed.difference(&read).collect();
        assert!(unread.is_empty(), "listed in KEYS but never read by the loader: {unread:?}");
        let unlisted: Vec<_> = read.difference(&listed).collect();
        assert!(unlisted.is_empty(), "read by the loader but not in KEYS: {unlisted:?}");
    }

    #[test]
    fn array_positions_do_not_matter() {
        assert_eq!(normalize("options.authorization.rules[3].if[1].claim"), "options.authorization.rules.if.claim");
        assert!(is_key("options.issuerKeys[7].cache.ttlMs"));
        assert!(!is_key("options.common.matchUsernameToSubjet"));
    }
}
