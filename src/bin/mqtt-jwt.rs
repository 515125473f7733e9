//! mqtt-jwt: operator tool. `mint` makes test tokens; `check` loads a jwt.json as the plugin does;
//! `verify` shows the plugin's decision for a token; `logout-relay` forwards an identity provider's
//! back-channel logouts to the brokers.
#[path = "relay/mod.rs"]
mod relay;
use clap::{ArgGroup, Parser, Subcommand};
use mqtt_jwt_auth::alg::Alg;
use mqtt_jwt_auth::config::Config;
use mqtt_jwt_auth::diagnose::{diagnose, hint};
use mqtt_jwt_auth::keys::{encode_jws, Signer};
use mqtt_jwt_auth::loaded::Loaded;
use mqtt_jwt_auth::loaded::Source;
use serde_json::{json, Map, Value};
use std::process::ExitCode;

/// Exit status: 0 fine, 1 a token `verify` refuses, 2 unusable arguments, input or configuration.
#[derive(Parser)]
#[command(name = "mqtt-jwt", version, propagate_version = true, arg_required_else_help = true)]
#[command(about = "Operator tool of the mqtt-jwt-auth mosquitto plugin")]
#[command(
    after_help = "Exit status: 0 done, 1 the token is refused (verify), 2 unusable arguments, input or configuration."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign a test token with a private key or shared secret; prints the compact JWS
    Mint(MintArgs),
    /// Load a jwt.json as the plugin does (fetching remote keys once) and summarise it
    Check {
        /// The plugin's configuration file
        #[arg(value_name = "JWT_JSON")]
        config: String,
    },
    /// Show the plugin's decision for a token, every reason and what to do (exit 1 if refused)
    Verify(VerifyArgs),
    /// Forward an identity provider's back-channel logout POSTs to the brokers
    LogoutRelay(relay::Args),
}

#[derive(clap::Args)]
#[command(group(ArgGroup::new("signing").required(true).args(["key", "secret", "secret_file"])))]
struct MintArgs {
    /// Signature algorithm: HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA
    #[arg(long, value_parser = Alg::parse)]
    alg: Alg,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1) for the RS, PS, ES and EdDSA algorithms
    #[arg(long, value_name = "PRIVATE_KEY.pem")]
    key: Option<String>,
    /// HMAC shared secret, as given
    #[arg(long, allow_hyphen_values = true)]
    secret: Option<String>,
    /// File holding the HMAC shared secret (a trailing newline is ignored)
    #[arg(long, value_name = "FILE")]
    secret_file: Option<String>,
    /// The `sub` claim
    #[arg(long)]
    sub: Option<String>,
    /// `exp`: this many seconds from now (negative for an expired token)
    #[arg(long, value_name = "SECONDS_FROM_NOW", default_value_t = 3600, allow_negative_numbers = true)]
    exp: i64,
    /// `nbf`: this many seconds from now (none by default)
    #[arg(long, value_name = "SECONDS_FROM_NOW", allow_negative_numbers = true)]
    nbf: Option<i64>,
    /// The `iss` claim
    #[arg(long)]
    iss: Option<String>,
    /// The `aud` claim (a string; use --claim for a list)
    #[arg(long)]
    aud: Option<String>,
    /// The `kid` header
    #[arg(long)]
    kid: Option<String>,
    /// Any claim, repeatable; VALUE is JSON when it parses as JSON, else a string. Overrides the options above
    #[arg(long, value_name = "NAME=VALUE", value_parser = claim)]
    claim: Vec<(String, Value)>,
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// The plugin's configuration file
    #[arg(value_name = "JWT_JSON")]
    config: String,
    /// The token (or, with nonJwtCredentials "defer", any password)
    token: String,
    /// The CONNECT client id, for client id bindings and `%c`
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// The CONNECT username, for username bindings
    #[arg(long, value_name = "NAME")]
    username: Option<String>,
}

fn claim(arg: &str) -> Result<(String, Value), String> {
    let (k, v) = arg.split_once('=').ok_or("needs NAME=VALUE")?;
    Ok((k.to_string(), serde_json::from_str::<Value>(v).unwrap_or_else(|_| json!(v))))
}

fn main() -> ExitCode {
    // Some((report, accepted)) for stdout; the relay reports on stderr as it runs.
    let result = match Cli::parse().command {
        Command::Mint(a) => mint(a).map(|out| Some((out, true))),
        Command::Check { config } => check(&config).map(|out| Some((out, true))),
        Command::Verify(a) => verify(a).map(Some),
        Command::LogoutRelay(a) => relay::run(a).map(|()| None),
    };
    match result {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some((out, ok))) => {
            println!("{out}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("mqtt-jwt: {e}");
            ExitCode::from(2)
        }
    }
}

fn now() -> i64 {
    mqtt_jwt_auth::host::now_seconds() as i64
}

fn mint(a: MintArgs) -> Result<String, String> {
    let mut claims = Map::new();
    claims.insert("iat".into(), json!(now()));
    claims.insert("exp".into(), json!(now() + a.exp));
    if let Some(nbf) = a.nbf {
        claims.insert("nbf".into(), json!(now() + nbf));
    }
    for (name, value) in [("sub", a.sub), ("iss", a.iss), ("aud", a.aud)] {
        if let Some(v) = value {
            claims.insert(name.into(), json!(v));
        }
    }
    claims.extend(a.claim);
    let key = if let Some(path) = a.key {
        std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?
    } else if let Some(secret) = a.secret {
        secret.into_bytes()
    } else if let Some(path) = a.secret_file {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        text.trim_end_matches(['\r', '\n']).as_bytes().to_vec()
    } else {
        return Err("--key, --secret or --secret-file is required".into());
    };
    let signer = Signer::new(a.alg, &key)?;
    encode_jws(&signer, a.kid.as_deref(), &Value::Object(claims))
}

/// Loads the file as the plugin does, fetching remote keys once (whatever lazyConnect says: a
/// check is about whether the keys can be had).
fn load(path: &str) -> Result<Loaded, String> {
    let config = Config::load(std::path::Path::new(path)).map_err(|e| e.to_string())?;
    let (loaded, warnings) = Loaded::new(config).map_err(|e| format!("{path}: {e}"))?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    loaded.keys.start()?;
    let fetched = loaded.keys.wait();
    for (_, line) in loaded.notices.drain() {
        eprintln!("{line}");
    }
    fetched.map_err(|(at, e)| format!("{path}: {at}: cannot load keys from {e}"))?;
    Ok(loaded)
}

fn check(path: &str) -> Result<String, String> {
    let loaded = load(path)?;
    let algs: Vec<_> = loaded.config.algorithms.iter().map(|a| a.name()).collect();
    let mut out = format!("{path}: OK\n  algorithms: {}", algs.join(", "));
    for e in &loaded.keys.entries {
        let keys = e.keys();
        let usable: Vec<_> = keys.usable_algs(&loaded.config.algorithms).iter().map(|a| a.name()).collect();
        out.push_str(&format!("\n  source: {}", e.label()));
        if let Some(iss) = &e.issuer {
            out.push_str(&format!(" (issuer {iss})"));
        }
        if let Source::Remote(r) = &e.source {
            let st = r.status();
            if let Some(u) = st.jwks_uri.filter(|u| Some(u) != r.spec().uri.as_ref()) {
                out.push_str(&format!("\n    jwks_uri: {u}"));
            }
            if let Some(u) = st.introspection_endpoint {
                out.push_str(&format!("\n    introspection_endpoint: {u}"));
            }
            for w in st.warnings {
                out.push_str(&format!("\n    warning: {w}"));
            }
        }
        out.push_str(&format!("\n    keys: {} (verify {})", keys.keys.len(), usable.join(", ")));
        for k in &keys.keys {
            out.push_str(&format!("\n      {} kid={}", k.kind.name(), k.kid.as_deref().unwrap_or("-")));
        }
    }
    out.push_str(&operations(path, &loaded)?);
    Ok(out)
}

/// The report on stdout; false (exit status 1) when the plugin would refuse the token.
/// The additions an operator checks besides keys: credentials exchange (its endpoint must answer),
/// metrics, authorization.
fn operations(path: &str, loaded: &Loaded) -> Result<String, String> {
    let mut out = String::new();
    let c = &loaded.config;
    if let Some(ex) = &loaded.exchange {
        let at = "options.credentialsExchange";
        let endpoint = ex.token_endpoint().map_err(|e| format!("{path}: {at}: {e}"))?;
        let status =
            ex.probe(&endpoint).map_err(|e| format!("{path}: {at}: token endpoint {endpoint} unreachable: {e}"))?;
        let grant = match ex.config.grant {
            mqtt_jwt_auth::config::Grant::ClientCredentials => "client_credentials",
            mqtt_jwt_auth::config::Grant::Password { .. } => "password",
        };
        out.push_str(&format!(
            "\n  credentials exchange: grant {grant}, token endpoint {endpoint} (answers: HTTP {}), timeout {} ms \
             (blocks the broker while it runs)",
            status, ex.config.timeout_ms
        ));
    }
    if let Some(m) = &c.metrics {
        out.push_str(&format!(
            "\n  metrics: every {} s under {}/..., log summary {}",
            m.interval_seconds,
            m.topic_prefix,
            if m.log_interval_seconds == 0 { "off".to_string() } else { format!("every {} s", m.log_interval_seconds) }
        ));
    }
    if let Some(a) = &c.authorization {
        out.push_str(&format!(
            "\n  authorization: {} rule(s) in jwt.json, acl claim {}",
            a.rules.len(),
            a.acl_claim.as_deref().unwrap_or("off")
        ));
    }
    Ok(out)
}

fn verify(a: VerifyArgs) -> Result<(String, bool), String> {
    let VerifyArgs { config: path, token, client_id, username } = a;
    let token = token.as_str();
    let loaded = load(&path)?;
    let defers = loaded.config.common.non_jwt_credentials == mqtt_jwt_auth::config::NonJwtCredentials::Defer;
    if defers && !mqtt_jwt_auth::shape::looks_like_jwt(token.as_bytes()) {
        let why = "not shaped like a JWT, and options.common.nonJwtCredentials is \"defer\"";
        return Ok((format!("decision: passed on to other plugins (dynamic-security, password_file): {why}"), false));
    }
    let now = mqtt_jwt_auth::host::now_seconds();
    let r = diagnose(&loaded, token, client_id.as_deref(), username.as_deref(), now);
    let mut out = match &r.decision {
        Ok(_) => "decision: accepted".to_string(),
        Err(e) => format!("decision: refused: {e}"),
    };
    let h = |k: &str| r.header.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
    out.push_str(&format!("\ntoken: alg {}, kid {}", h("alg"), h("kid")));
    let verified = if r.decision.is_ok() { "verified" } else { "NOT verified" };
    out.push_str(&format!("\nclaims ({verified}):"));
    for (k, v) in &r.claims {
        let when = match (k.as_str(), v.as_f64()) {
            ("exp" | "nbf" | "iat", Some(t)) if t > now => format!(" (in {:.0} s)", t - now),
            ("exp" | "nbf" | "iat", Some(t)) => format!(" ({:.0} s ago)", now - t),
            _ => String::new(),
        };
        out.push_str(&format!("\n  {k}: {v}{when}"));
    }
    if !r.problems.is_empty() {
        out.push_str("\nreasons:");
        for p in &r.problems {
            out.push_str(&format!("\n  - {p}\n    what to do: {}", hint(p.reason)));
        }
    }
    if r.decision.is_ok() {
        out.push_str(&format!(
            "\nidentity:\n  client id: {}\n  username: {}",
            client_id.as_deref().unwrap_or("-"),
            r.username.as_deref().unwrap_or("-")
        ));
        match &r.permissions {
            None => out.push_str("\npermissions: not decided by this plugin (no options.authorization)"),
            Some(lines) => {
                out.push_str("\npermissions:");
                for l in lines {
                    out.push_str(&format!("\n  {l}"));
                }
            }
        }
        for w in &r.warnings {
            out.push_str(&format!("\n  warning: {w}"));
        }
    }
    Ok((out, r.decision.is_ok()))
}
