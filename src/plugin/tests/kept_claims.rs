//! A verified token keeps only the claims authorization reads (src/loaded/mod.rs): through the
//! plugin, a conditioned deny, a claim template and a claim list still see their claims, on a cold
//! CONNECT and on a reconnect served by the verified-token cache.
use crate::acl::{Access, Decision};
use crate::host::*;
use crate::plugin::*;
use serde_json::json;

const SECRET: &str = "kept-claims-test-secret-0123456789";
const NOW: f64 = 1_800_000_000.0;

#[test]
fn a_conditioned_deny_and_claim_templates_see_their_claims_cold_and_cached() {
    let cfg = json!({"version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": SECRET}, "common": {"matchClientIdToSubject": true},
            "authorization": {"claims": {"publish": ["https://example.com/publ"]}, "rules": [
                {"permission": "deny", "action": "all", "topic": "secret/#",
                 "if": {"claim": "realm_access.roles", "contains": "guest"}},
                {"permission": "allow", "action": "publish", "topic": "t/%{org.tenant}/#"}]}}});
    let (p, b, _d) = fake::load(&cfg);
    let claims = json!({"sub": "dev-1", "exp": NOW + 3600.0, "realm_access": {"roles": ["guest"]},
        "org": {"tenant": "acme"}, "https://example.com/publ": ["secret/x", "up/#"],
        "unrelated": {"big": [1, 2, 3]}, "jti": "j-1"});
    let token = crate::keys::hs256_token(SECRET, &claims);
    for (n, what) in [(1, "cold"), (2, "cached")] {
        let c = b.client(n, "dev-1");
        assert_eq!(p.basic_auth(&b, c, None, Some(token.as_bytes()), NOW), AuthResult::Accept, "{what}");
        assert_eq!(p.acl_check(&b, c, Access::Write, "secret/x", 0, false, NOW), Decision::Deny, "{what}");
        assert_eq!(p.acl_check(&b, c, Access::Write, "t/acme/1", 0, false, NOW), Decision::Allow, "{what}");
        assert_eq!(p.acl_check(&b, c, Access::Write, "up/1", 0, false, NOW), Decision::Allow, "{what}");
        assert_eq!(p.acl_check(&b, c, Access::Write, "t/other/1", 0, false, NOW), Decision::Deny, "{what}");
        p.disconnect(&b, c, NOW);
        p.tick(&b, NOW);
    }
}
