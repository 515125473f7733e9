//! Cost of one ACL check (`Permissions::check`) with 1 rule and with 100 rules. Worst cases: the topic
//! is granted only by the last rule, or by nothing (every rule scanned, then `noMatch`).
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use mqtt_jwt_auth::acl::{compile, Access, Permissions};
use mqtt_jwt_auth::config::Config;
use mqtt_jwt_auth::token::Token;
use serde_json::{json, Value};

/// `n` jwt.json rules `tenants/<tenant>/site-<i>/<client id>/#`, the last one granting `site-(n-1)`.
fn permissions(n: usize) -> Permissions {
    let rules: Vec<Value> = (0..n)
        .map(|i| json!({"permission": "allow", "action": "all", "topic": format!("tenants/%{{tenant}}/site-{i}/%c/#")}))
        .collect();
    let text = json!({
        "version": 1, "algorithm": "HS256", "mode": "local",
        "options": {"modes": {"local": "secret"}, "common": {"matchClientIdToSubject": true},
            "authorization": {"rules": rules}}
    });
    let cfg = Config::parse(&text.to_string()).unwrap().authorization.unwrap();
    let claims = json!({"tenant": "acme"});
    let token = Token::bare(claims.as_object().unwrap().clone().into());
    compile(&cfg, &token, Some("device-0042"), None)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("acl_check");
    for n in [1, 100] {
        let p = permissions(n);
        let last = format!("tenants/acme/site-{}/device-0042/telemetry/temp", n - 1);
        let sub = format!("$share/g/tenants/acme/site-{}/device-0042/+/temp", n - 1);
        g.bench_function(format!("{n}_rules/write_last_rule"), |b| {
            b.iter(|| p.check(Access::Write, black_box(&last), 1, false))
        });
        g.bench_function(format!("{n}_rules/read_last_rule"), |b| {
            b.iter(|| p.check(Access::Read, black_box(&last), 1, false))
        });
        g.bench_function(format!("{n}_rules/subscribe_last_rule"), |b| {
            b.iter(|| p.check(Access::Subscribe, black_box(&sub), 1, false))
        });
        g.bench_function(format!("{n}_rules/write_denied"), |b| {
            b.iter(|| p.check(Access::Write, black_box("tenants/acme/site-x/device-0042/t"), 1, false))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
