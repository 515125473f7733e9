//! mqtt-jwt: operator tool. `mint` makes test tokens; `check` loads a jwt.json as the plugin does;
//! `verify` shows the plugin's decision for a token; `logout-relay` forwards an identity provider's
//! back-channel logouts to the brokers.
#[path = "relay/mod.rs"]
mod relay;
use mqtt_jwt_auth::alg::Alg;
use mqtt_jwt_auth::config::Config;
use mqtt_jwt_auth::diagnose::{diagnose, hint};
use mqtt_jwt_auth::keys::{encode_jws, Signer};
use mqtt_jwt_auth::loaded::Loaded;
use mqtt_jwt_auth::net::keys::Source;
use serde_json::{json, Map, Value};
use std::process::ExitCode;

const USAGE: &str = "usage:
  mqtt-jwt mint (--key PRIVATE_KEY.pem | --secret SECRET | --secret-file FILE) --alg ALG --sub SUB
                [--exp SECONDS_FROM_NOW] [--nbf SECONDS_FROM_NOW] [--iss ISS] [--aud AUD] [--kid KID]
                [--claim NAME=VALUE ...]    (VALUE is JSON when it parses as JSON, else a string)
  mqtt-jwt check JWT_JSON
  mqtt-jwt verify JWT_JSON TOKEN [--client-id ID] [--username NAME]
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("mint") => mint(&args[1..]).map(|out| (out, true)),
        Some("check") => check(&args[1..]).map(|out| (out, true)),
        Some("verify") => verify(&args[1..]),
        Some("logout-relay") => {
            return match relay::run(&args[1..]) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mqtt-jwt: {e}");
                    ExitCode::from(2)
                }
            }
        }
        _ => Err(format!("{USAGE}{}", relay::USAGE)),
    };
    match result {
        Ok((out, ok)) => {
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

/// `--name value` pairs; `--claim` may repeat.
fn options(args: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let name = a.strip_prefix("--").ok_or_else(|| format!("unexpected argument {a:?}\n{USAGE}"))?;
        let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
        out.push((name.to_string(), value.clone()));
    }
    Ok(out)
}

fn now() -> i64 {
    mqtt_jwt_auth::host::now_seconds() as i64
}

fn mint(args: &[String]) -> Result<String, String> {
    let mut claims = Map::new();
    let (mut alg, mut key, mut kid) = (None, None, None);
    claims.insert("iat".into(), json!(now()));
    claims.insert("exp".into(), json!(now() + 3600));
    for (name, value) in options(args)? {
        let secs = || value.parse::<i64>().map_err(|_| format!("--{name} needs a number of seconds"));
        match name.as_str() {
            "alg" => alg = Some(Alg::parse(&value)?),
            "key" => key = Some(std::fs::read(&value).map_err(|e| format!("{value}: {e}"))?),
            "secret" => key = Some(value.clone().into_bytes()),
            "secret-file" => {
                let text = std::fs::read_to_string(&value).map_err(|e| format!("{value}: {e}"))?;
                key = Some(text.trim_end_matches(['\r', '\n']).as_bytes().to_vec());
            }
            "kid" => kid = Some(value.clone()),
            "sub" | "iss" | "aud" => drop(claims.insert(name.clone(), json!(value))),
            "exp" => drop(claims.insert("exp".into(), json!(now() + secs()?))),
            "nbf" => drop(claims.insert("nbf".into(), json!(now() + secs()?))),
            "claim" => {
                let (k, v) = value.split_once('=').ok_or("--claim needs NAME=VALUE")?;
                let v = serde_json::from_str::<Value>(v).unwrap_or_else(|_| json!(v));
                claims.insert(k.to_string(), v);
            }
            other => return Err(format!("unknown option --{other}\n{USAGE}")),
        }
    }
    let alg = alg.ok_or("--alg is required")?;
    let key = key.ok_or("--key, --secret or --secret-file is required")?;
    let signer = Signer::new(alg, &key)?;
    encode_jws(&signer, kid.as_deref(), &Value::Object(claims))
}

/// Loads the file as the plugin does, fetching remote keys once (whatever lazyConnect says: a
/// check is about whether the keys can be had).
fn load(path: &str) -> Result<Loaded, String> {
    let config = Config::load(std::path::Path::new(path)).map_err(|e| e.to_string())?;
    let (engine, warnings) = Loaded::new(config).map_err(|e| format!("{path}: {e}"))?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    engine.keys.start()?;
    let fetched = engine.keys.wait();
    for (_, line) in engine.notices.drain() {
        eprintln!("{line}");
    }
    fetched.map_err(|(at, e)| format!("{path}: {at}: cannot load keys from {e}"))?;
    Ok(engine)
}

fn check(args: &[String]) -> Result<String, String> {
    let [path] = args else { return Err(USAGE.into()) };
    let engine = load(path)?;
    let algs: Vec<_> = engine.config.algorithms.iter().map(|a| a.name()).collect();
    let mut out = format!("{path}: OK\n  algorithms: {}", algs.join(", "));
    for e in &engine.keys.entries {
        let keys = e.keys();
        let usable: Vec<_> = keys.usable_algs(&engine.config.algorithms).iter().map(|a| a.name()).collect();
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
    out.push_str(&operations(path, &engine)?);
    Ok(out)
}

/// The report on stdout; false (exit status 1) when the plugin would refuse the token.
/// The additions an operator checks besides keys: credentials exchange (its endpoint must answer),
/// metrics, authorization.
fn operations(path: &str, engine: &Loaded) -> Result<String, String> {
    let mut out = String::new();
    let c = &engine.config;
    if let Some(ex) = &engine.exchange {
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

fn verify(args: &[String]) -> Result<(String, bool), String> {
    let [path, token, rest @ ..] = args else { return Err(USAGE.into()) };
    let (mut client_id, mut username) = (None, None);
    for (name, value) in options(rest)? {
        match name.as_str() {
            "client-id" => client_id = Some(value),
            "username" => username = Some(value),
            other => return Err(format!("unknown option --{other}")),
        }
    }
    let engine = load(path)?;
    let defers = engine.config.common.non_jwt_credentials == mqtt_jwt_auth::config::NonJwtCredentials::Defer;
    if defers && !mqtt_jwt_auth::shape::looks_like_jwt(token.as_bytes()) {
        let why = "not shaped like a JWT, and options.common.nonJwtCredentials is \"defer\"";
        return Ok((format!("decision: passed on to other plugins (dynamic-security, password_file): {why}"), false));
    }
    let now = mqtt_jwt_auth::host::now_seconds();
    let r = diagnose(&engine, token, client_id.as_deref(), username.as_deref(), now);
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
