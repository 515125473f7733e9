//! A real OAuth2 authorization server (Authlib, tests/authserver/server.py) on loopback: JWT access
//! tokens signed with tests/keys/ec256.key, RFC 7662 introspection, RFC 7009 revocation, and the
//! script's own fault switches and request counters.
use super::broker::keys_dir;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

pub const CLIENT_ID: &str = "broker";
pub const CLIENT_SECRET: &str = "broker-secret-0123456789";
/// Every user's password for the password grant (the username becomes the token's `sub`).
pub const USER_PASSWORD: &str = "user-password-0123456789";

pub struct AuthServer {
    pub issuer: String,
    child: Child,
    http: ureq::Agent,
}

#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub introspect: u64,
    pub distinct: u64,
    pub max_per_token: u64,
}

impl AuthServer {
    /// Signing ES256 with tests/keys/ec256.key.
    pub fn start() -> AuthServer {
        Self::start_signing("ES256", "ec256.key")
    }

    /// Signing `alg` with the private key tests/keys/`key`.
    pub fn start_signing(alg: &str, key: &str) -> AuthServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/authserver/server.py");
        let (child, v) = super::announce::start("the authorization server", Duration::from_secs(30), || {
            let mut c = Command::new("python3");
            c.arg(&script)
                .env("KEY_FILE", keys_dir().join(key))
                .env("ALG", alg)
                .env("CLIENT_ID", CLIENT_ID)
                .env("CLIENT_SECRET", CLIENT_SECRET)
                .env("USER_PASSWORD", USER_PASSWORD);
            c
        });
        let http = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        AuthServer { issuer: v["issuer"].as_str().unwrap().to_string(), child, http }
    }

    pub fn introspection_uri(&self) -> String {
        format!("{}/introspect", self.issuer)
    }

    fn form(&self, path: &str, form: &[(&str, &str)]) -> serde_json::Value {
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
        let req = self.http.post(format!("{}{path}", self.issuer)).header("authorization", format!("Basic {basic}"));
        let mut resp = req.send_form(form.to_vec()).expect(path);
        let body = resp.body_mut().read_to_string().unwrap();
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: {body}"))
    }

    /// A JWT access token for `sub` (client_credentials).
    pub fn token(&self, sub: &str) -> String {
        let v = self.form("/token", &[("grant_type", "client_credentials"), ("sub", sub), ("scope", "mqtt")]);
        v["access_token"].as_str().unwrap_or_else(|| panic!("no access_token: {v}")).to_string()
    }

    /// A token for `sub` with extra claims, living `expires_in` seconds.
    pub fn token_with(&self, sub: &str, claims: &serde_json::Value, expires_in: u64) -> String {
        let (claims, ttl) = (claims.to_string(), expires_in.to_string());
        let form = [
            ("grant_type", "client_credentials"),
            ("sub", sub),
            ("scope", "mqtt"),
            ("claims", claims.as_str()),
            ("expires_in", ttl.as_str()),
        ];
        let v = self.form("/token", &form);
        v["access_token"].as_str().unwrap_or_else(|| panic!("no access_token: {v}")).to_string()
    }

    /// RFC 7009 revocation.
    pub fn revoke(&self, token: &str) {
        self.form("/revoke", &[("token", token), ("token_type_hint", "access_token")]);
    }

    /// `n` tokens for subjects `<prefix>0..n-1`.
    pub fn mint(&self, n: usize, prefix: &str) -> Vec<String> {
        let url = format!("{}/admin/mint?n={n}&prefix={prefix}", self.issuer);
        let mut resp = self.http.post(url).send_empty().expect("mint");
        let v: serde_json::Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
        v["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
    }

    /// /introspect behaviour: "none", "hang" (for `ms`, default 60 s), "slow" (`ms`), "500", "garbage",
    /// "any" (every token active after `ms`, unless [`AuthServer::deny`] named it).
    pub fn fault(&self, mode: &str, ms: u64) {
        self.http.post(format!("{}/admin/fault?mode={mode}&ms={ms}", self.issuer)).send_empty().expect("fault");
    }

    /// Under the "any" fault mode, `token` is answered inactive from now on.
    pub fn deny(&self, token: &str) {
        self.http.post(format!("{}/admin/deny", self.issuer)).send_form([("token", token)]).expect("deny");
    }

    pub fn stats(&self) -> Stats {
        let mut resp = self.http.get(format!("{}/admin/stats", self.issuer)).call().expect("stats");
        let v: serde_json::Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
        let n = |k: &str| v[k].as_u64().unwrap();
        Stats { introspect: n("introspect"), distinct: n("distinct"), max_per_token: n("max_per_token") }
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
