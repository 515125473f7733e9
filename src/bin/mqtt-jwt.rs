//! mqtt-jwt: operator tool. `mint` makes test tokens; `check` loads a jwt.json as the plugin does;
//! `verify` shows the plugin's decision for a token.
use jsonwebtoken::{EncodingKey, Header};
use mqtt_jwt_auth::alg::Alg;
use mqtt_jwt_auth::config::Config;
use mqtt_jwt_auth::engine::Engine;
use mqtt_jwt_auth::keys::Source;
use serde_json::{json, Map, Value};
use std::process::ExitCode;

const USAGE: &str = "usage:
  mqtt-jwt mint (--key PRIVATE_KEY.pem | --secret SECRET | --secret-file FILE) --alg ALG --sub SUB
                [--exp SECONDS_FROM_NOW] [--nbf SECONDS_FROM_NOW] [--iss ISS] [--aud AUD] [--kid KID]
                [--claim NAME=VALUE ...]    (VALUE is JSON when it parses as JSON, else a string)
  mqtt-jwt check JWT_JSON
  mqtt-jwt verify JWT_JSON TOKEN [--client-id ID] [--username NAME]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("mint") => mint(&args[1..]),
        Some("check") => check(&args[1..]),
        Some("verify") => verify(&args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mqtt-jwt: {e}");
            ExitCode::FAILURE
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
    mqtt_jwt_auth::plugin::now_seconds() as i64
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
    let enc = match alg.key_kind() {
        mqtt_jwt_auth::alg::KeyKind::Hmac => EncodingKey::from_secret(&key),
        mqtt_jwt_auth::alg::KeyKind::Rsa => EncodingKey::from_rsa_pem(&key).map_err(|e| e.to_string())?,
        mqtt_jwt_auth::alg::KeyKind::Ed25519 => EncodingKey::from_ed_pem(&key).map_err(|e| e.to_string())?,
        _ => EncodingKey::from_ec_pem(&key).map_err(|e| e.to_string())?,
    };
    let mut header = Header::new(alg.jsonwebtoken());
    header.kid = kid;
    jsonwebtoken::encode(&header, &claims, &enc).map_err(|e| e.to_string())
}

/// Loads the file as the plugin does, fetching remote keys once (whatever lazyConnect says: a
/// check is about whether the keys can be had).
fn load(path: &str) -> Result<Engine, String> {
    let config = Config::load(std::path::Path::new(path)).map_err(|e| e.to_string())?;
    let (engine, warnings) = Engine::new(config).map_err(|e| format!("{path}: {e}"))?;
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
    Ok(out)
}

fn verify(args: &[String]) -> Result<String, String> {
    let [path, token, rest @ ..] = args else { return Err(USAGE.into()) };
    let engine = load(path)?;
    let (mut client_id, mut username) = (None, None);
    for (name, value) in options(rest)? {
        match name.as_str() {
            "client-id" => client_id = Some(value),
            "username" => username = Some(value),
            other => return Err(format!("unknown option --{other}")),
        }
    }
    let t = engine.authenticate(token, mqtt_jwt_auth::plugin::now_seconds()).map_err(|r| format!("refused: {r}"))?;
    let id =
        engine.bind_identity(&t, client_id.as_deref(), username.as_deref()).map_err(|r| format!("refused: {r}"))?;
    let name = id.set_username.or(username).unwrap_or_else(|| "-".into());
    Ok(format!("accepted\n  subject: {}\n  username: {name}", t.sub.as_deref().unwrap_or("-")))
}
