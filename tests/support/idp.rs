//! A real OpenID provider (npm oidc-provider, tests/idp/server.mjs) on loopback, with the script's
//! own controls for key rotation and JWKS faults.
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

pub const CLIENT_ID: &str = "device";
pub const CLIENT_SECRET: &str = "device-secret-0123456789";

pub struct Idp {
    pub port: u16,
    pub issuer: String,
    child: Child,
    http: ureq::Agent,
}

impl Idp {
    /// On any free port.
    pub fn start() -> Idp {
        Self::start_on(0)
    }

    /// On `port` (0: any); panics with the provider's output when it does not come up.
    pub fn start_on(port: u16) -> Idp {
        Self::spawn(port, &[])
    }

    /// Over HTTPS with this key and certificate (PEM files). The test client does not trust it:
    /// only the plugin's side of TLS is exercised.
    pub fn start_tls(key: &Path, cert: &Path) -> Idp {
        Self::spawn(0, &[("TLS_KEY", key), ("TLS_CERT", cert)])
    }

    /// With the browser example's public client (`mqtt-web`, redirect URI `redirect`), the
    /// development login form, and access tokens for `urn:mqtt:web*` living `token_ttl` seconds.
    pub fn start_for_web(redirect: &str, token_ttl: u64) -> Idp {
        let ttl = token_ttl.to_string();
        Self::spawn(0, &[("WEB_CLIENT_REDIRECT", Path::new(redirect)), ("WEB_TOKEN_TTL", Path::new(&ttl))])
    }

    /// As [`Idp::start_for_web`], with back-channel logout on: the web client's logout tokens are
    /// POSTed to `logout_uri`.
    pub fn start_with_backchannel(redirect: &str, token_ttl: u64, logout_uri: &str) -> Idp {
        let ttl = token_ttl.to_string();
        let env = [
            ("WEB_CLIENT_REDIRECT", Path::new(redirect)),
            ("WEB_TOKEN_TTL", Path::new(&ttl)),
            ("BACKCHANNEL_LOGOUT_URI", Path::new(logout_uri)),
        ];
        Self::spawn(0, &env)
    }

    fn spawn(port: u16, env: &[(&str, &Path)]) -> Idp {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "tests/idp/node_modules is missing: run ci/setup.sh (npm ci in tests/idp)"
        );
        // Generous: node and oidc-provider take ~2.5 s to start, more on a loaded 2-core machine.
        let (child, v) = super::announce::start("the OpenID provider", Duration::from_secs(25), || {
            let mut c = Command::new("node");
            c.arg(dir.join("server.mjs"))
                .env("PORT", port.to_string())
                .env("CLIENT_ID", CLIENT_ID)
                .env("CLIENT_SECRET", CLIENT_SECRET)
                .envs(env.iter().copied());
            c
        });
        let http = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        Idp { port: v["port"].as_u64().unwrap() as u16, issuer: v["issuer"].as_str().unwrap().to_string(), child, http }
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    /// An access token (JWT) from client_credentials for `resource` (its audience); a resource ending
    /// in ":es256" is signed with ES256, else RS256.
    pub fn token(&self, resource: &str) -> String {
        self.token_with_scope(resource, "mqtt")
    }

    /// Same, asking for `scope` (space-separated; the provider grants "mqtt" and "mqtt.connect").
    pub fn token_with_scope(&self, resource: &str, scope: &str) -> String {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("resource", resource),
            ("scope", scope),
        ];
        let mut resp = self.http.post(format!("{}/token", self.issuer)).send_form(form).expect("token request");
        let body = resp.body_mut().read_to_string().unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("token response: {body}"));
        v["access_token"].as_str().unwrap_or_else(|| panic!("no access_token: {body}")).to_string()
    }

    fn admin(&self, path: &str) -> serde_json::Value {
        let mut resp = self.http.post(format!("{}{path}", self.issuer)).send_empty().expect("admin request");
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap()
    }

    /// New signing keys; returns their kids. The old keys are no longer published.
    pub fn rotate(&self) -> Vec<String> {
        let v = self.admin("/admin/rotate");
        v["kids"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect()
    }

    /// JWKS route behaviour: "none", "hang", "500", "garbage", "empty", "slow" (after `ms`), "reset",
    /// "huge", "redirect" (see tests/idp/server.mjs).
    pub fn fault(&self, mode: &str, ms: u64) {
        self.admin(&format!("/admin/fault?mode={mode}&ms={ms}"));
    }

    pub fn cache_control(&self, value: &str) {
        self.admin(&format!("/admin/headers?cacheControl={value}"));
    }

    /// Requests seen on the JWKS route so far.
    pub fn jwks_requests(&self) -> u64 {
        self.stat("jwks")
    }

    /// A counter of /admin/stats: "jwks", "discovery", "fixture".
    pub fn stat(&self, name: &str) -> u64 {
        let mut resp = self.http.get(format!("{}/admin/stats", self.issuer)).call().expect("stats");
        let v: serde_json::Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
        v[name].as_u64().unwrap()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
