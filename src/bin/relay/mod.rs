//! `mqtt-jwt logout-relay`: receives an identity provider's back-channel logout POSTs
//! (`application/x-www-form-urlencoded`, `logout_token=...`) and publishes each token with QoS 1
//! to every broker's logout topic; 200 only once every broker acknowledged, else 503 (the provider
//! retries). It checks only the form, the size and the JWT shape: the brokers verify the token.
mod mqtt;
mod request;

use clap::ArgGroup;
use mqtt::{Credentials, Link, Settings};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `mqtt-jwt logout-relay` options.
#[derive(clap::Args)]
#[command(group(ArgGroup::new("credentials").required(true).args(["token_file", "password_file"])))]
pub struct Args {
    /// Address to take the identity provider's POSTs on
    #[arg(long, value_name = "ADDRESS:PORT")]
    listen: String,
    /// A broker to publish each logout to (repeat for every broker of the fleet)
    #[arg(long = "broker", value_name = "HOST:PORT", required = true)]
    brokers: Vec<String>,
    /// File holding the relay's own JWT, sent as the MQTT password (re-read at every reconnect)
    #[arg(long, value_name = "FILE", conflicts_with = "password_file")]
    token_file: Option<String>,
    /// MQTT username (with --token-file optional; with --password-file required)
    #[arg(long, value_name = "NAME")]
    username: Option<String>,
    /// File holding the password of a password account (password_file, dynamic-security)
    #[arg(long, value_name = "FILE", requires = "username")]
    password_file: Option<String>,
    /// Connect with TLS, trusting this CA file
    #[arg(long, value_name = "CA.pem")]
    cafile: Option<String>,
    /// The brokers' options.logout.topic
    #[arg(long, value_name = "TOPIC", default_value = "$CONTROL/jwt-auth/v1/logout")]
    topic: String,
    /// The brokers' options.refresh.responseTopic (where the plugin answers)
    #[arg(long, value_name = "TOPIC", default_value = "$CONTROL/jwt-auth/v1/response")]
    response_topic: String,
    /// MQTT client id [default: mqtt-jwt-logout-relay-<pid>]
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// POSTs accepted per second from one address (more are answered 429)
    #[arg(long, value_name = "PER_SECOND", default_value_t = 20.0)]
    rate: f64,
    /// How long to wait for a broker: TCP connect, CONNACK, PUBACK, the plugin's answer
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    timeout_ms: u64,
}

/// Requests handled at once; more are answered 503 at once.
const MAX_IN_FLIGHT: usize = 16;

struct Relay {
    links: Vec<Mutex<Link>>,
    settings: Settings,
    topic: String,
    limiter: Mutex<request::Limiter>,
    in_flight: AtomicUsize,
}

pub fn run(args: Args) -> Result<(), String> {
    let Args {
        listen,
        brokers,
        token_file,
        username,
        password_file,
        cafile,
        topic,
        response_topic,
        client_id,
        rate,
        timeout_ms,
    } = args;
    let client_id = client_id.unwrap_or_else(|| format!("mqtt-jwt-logout-relay-{}", std::process::id()));
    let credentials = match (token_file, username, password_file) {
        (Some(f), username, None) => Credentials::TokenFile { username, file: f.into() },
        (None, Some(u), Some(f)) => Credentials::Password { username: u, file: f.into() },
        _ => return Err("logout-relay needs --token-file FILE, or --username NAME with --password-file FILE".into()),
    };
    if !(rate > 0.0 && rate.is_finite()) {
        return Err("--rate must be positive".into());
    }
    let tls = cafile.map(|f| mqtt::tls_config(std::path::Path::new(&f))).transpose()?;
    let timeout = Duration::from_millis(timeout_ms);
    let settings = Settings { client_id, credentials, tls, timeout, keepalive: 60, response_topic };
    let relay = Arc::new(Relay {
        links: brokers.into_iter().map(|b| Mutex::new(Link::new(b))).collect(),
        settings,
        topic,
        limiter: Mutex::new(request::Limiter::new(rate)),
        in_flight: AtomicUsize::new(0),
    });
    let server = tiny_http::Server::http(&listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| format!("cannot handle signal {sig}: {e}"))?;
    }
    let addr = server.server_addr().to_ip().map_or(listen.clone(), |a| a.to_string());
    eprintln!("logout-relay: listening on {addr}, {} broker(s)", relay.links.len());
    let keeper = {
        let (relay, stop) = (relay.clone(), stop.clone());
        std::thread::spawn(move || keep_links(&relay, &stop))
    };
    let mut workers: Vec<std::thread::JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let Ok(Some(request)) = server.recv_timeout(Duration::from_millis(200)) else { continue };
        workers.retain(|w| !w.is_finished());
        if relay.in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_IN_FLIGHT {
            relay.in_flight.fetch_sub(1, Ordering::SeqCst);
            let _ = request.respond(answer(503, "temporarily_unavailable"));
            continue;
        }
        let relay = relay.clone();
        workers.push(std::thread::spawn(move || {
            handle(&relay, request);
            relay.in_flight.fetch_sub(1, Ordering::SeqCst);
        }));
    }
    eprintln!("logout-relay: stopping");
    drop(server);
    let deadline = Instant::now() + relay.settings.timeout * 2;
    for w in workers {
        while !w.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = keeper.join();
    for l in &relay.links {
        l.lock().disconnect();
    }
    Ok(())
}

/// Keeps every connection up (connects, pings, reconnects with backoff), once a second.
fn keep_links(relay: &Relay, stop: &AtomicBool) {
    let mut up: Vec<Option<bool>> = vec![None; relay.links.len()];
    while !stop.load(Ordering::Relaxed) {
        for (i, l) in relay.links.iter().enumerate() {
            let Some(mut link) = l.try_lock() else { continue };
            let result = link.keepalive(&relay.settings);
            let now_up = link.is_connected();
            if up[i] != Some(now_up) {
                match result {
                    Ok(()) => eprintln!("logout-relay: connected to {}", link.addr),
                    Err(e) => eprintln!("logout-relay: broker {}: {e}; retrying with backoff", link.addr),
                }
                up[i] = Some(now_up);
            }
        }
        for _ in 0..10 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn answer(code: u16, error: &str) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let body = if code == 200 { String::new() } else { format!("{{\"error\":\"{error}\"}}") };
    let mut r = tiny_http::Response::from_string(body).with_status_code(code);
    // OIDC Back-Channel Logout §2.8: the answer must not be cached.
    for (k, v) in [("Cache-Control", "no-store"), ("Content-Type", "application/json")] {
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            r.add_header(h);
        }
    }
    r
}

fn handle(relay: &Relay, mut request: tiny_http::Request) {
    let started = Instant::now();
    let from = request.remote_addr().map(|a| a.ip());
    let source = from.map_or("-".to_string(), |a| a.to_string());
    let (code, what) = match request::check(relay, &mut request, from) {
        Err((code, why)) => (code, why),
        Ok(token) => verdict(relay.links.len(), publish_all(relay, &token)),
    };
    eprintln!("logout-relay: logout from {source}: {code} {what} ({} ms)", started.elapsed().as_millis());
    let error = if code == 503 || code == 429 { "temporarily_unavailable" } else { "invalid_request" };
    let _ = request.respond(answer(code, error));
}

/// What one broker made of a logout.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Applied now, or before (a retry of a logout this broker already has: `logout-replayed`).
    Applied,
    /// The token itself is refused (a retry cannot help): the category.
    Refused(String),
    /// Not applied, worth a retry: the broker was unreachable, or had no keys for it yet.
    Failed(String),
}

fn outcome(result: Result<String, String>) -> Outcome {
    let answer = match result {
        Ok(a) => a,
        Err(e) => return Outcome::Failed(e),
    };
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
    let reason = v["reason"].as_str().unwrap_or("an answer that is not the plugin's").to_string();
    match (v["result"].as_str(), reason.as_str()) {
        (Some("ok"), _) | (_, "logout-replayed") => Outcome::Applied,
        // Keys rotated at the provider and not fetched yet: the refusal asked for them, a retry works.
        (_, "unknown-kid" | "no-keys-loaded" | "internal-error") => Outcome::Failed(reason),
        _ => Outcome::Refused(reason),
    }
}

/// 200 when every broker applied it; 503 when one could not (the provider retries); 400 when the
/// brokers refused the token itself.
fn verdict(n: usize, outcomes: Vec<(String, Outcome)>) -> (u16, String) {
    let list = |want: fn(&Outcome) -> bool| -> Vec<String> {
        outcomes.iter().filter(|(_, o)| want(o)).map(|(b, o)| format!("{b}: {o:?}")).collect()
    };
    let failed = list(|o| matches!(o, Outcome::Failed(_)));
    let refused = list(|o| matches!(o, Outcome::Refused(_)));
    let applied = outcomes.iter().filter(|(_, o)| *o == Outcome::Applied).count();
    if !failed.is_empty() {
        (503, format!("published to {applied}/{n} broker(s); {}", [failed, refused].concat().join("; ")))
    } else if !refused.is_empty() {
        (400, format!("refused by {}/{n} broker(s): {}", refused.len(), refused.join("; ")))
    } else {
        (200, format!("published to {n}/{n} broker(s)"))
    }
}

/// Publishes to every broker at once; each broker's outcome.
fn publish_all(relay: &Relay, token: &str) -> Vec<(String, Outcome)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = relay
            .links
            .iter()
            .map(|l| {
                scope.spawn(move || {
                    let mut link = l.lock();
                    let result = link.publish(&relay.settings, &relay.topic, token.as_bytes());
                    (link.addr.clone(), outcome(result))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| ("-".into(), Outcome::Failed("internal error".into()))))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_brokers_answer_decides_the_status() {
        let ok = || outcome(Ok(r#"{"result":"ok","ended":1}"#.into()));
        assert_eq!(ok(), Outcome::Applied);
        assert_eq!(outcome(Ok(r#"{"result":"refused","reason":"logout-replayed"}"#.into())), Outcome::Applied);
        let bad = || outcome(Ok(r#"{"result":"refused","reason":"bad-signature"}"#.into()));
        assert_eq!(bad(), Outcome::Refused("bad-signature".into()));
        let kid = || outcome(Ok(r#"{"result":"refused","reason":"unknown-kid"}"#.into()));
        assert_eq!(kid(), Outcome::Failed("unknown-kid".into()));
        assert!(matches!(outcome(Ok("garbage".into())), Outcome::Refused(_)));
        let b = |o| ("b".to_string(), o);
        assert_eq!(verdict(2, vec![b(ok()), b(ok())]).0, 200);
        assert_eq!(verdict(2, vec![b(ok()), b(bad())]).0, 400);
        assert_eq!(verdict(2, vec![b(kid()), b(bad())]).0, 503);
        assert_eq!(verdict(2, vec![b(ok()), b(outcome(Err("down".into())))]).0, 503);
    }
}
