//! The module layers of src/lib.rs as a check: a module may name (`crate::x`) only modules of a lower
//! rank, so the arrows point down and no cycle can come back. Test code (`tests.rs`, files under a
//! `tests/` directory, `#[cfg(test)]` items) is exempt: a fixture may be built through a higher layer.
use std::collections::BTreeMap;
use std::path::Path;

/// Every top-level module of src/lib.rs and its rank. A new module must be placed here.
const RANKS: &[(&str, u8)] = &[
    // Leaves: nothing of ours. Host types (log levels, client handles, the broker trait), token claims.
    ("host", 0),
    ("logsafe", 0),
    ("pattern", 0),
    ("alg", 0),
    ("refusal", 0),
    ("shape", 0),
    ("hashers", 0),
    ("token", 0),
    ("swar", 0),
    // What background threads report to the broker thread: log lines and counters.
    ("notices", 1),
    ("metrics", 1),
    // Pure core: rules, configuration, key material, verification.
    ("acl", 2),
    // The verified-token cache keeps the permissions compiled from a token.
    ("cache", 3),
    ("config", 3),
    ("keys", 4),
    ("verify", 5),
    // Revocation as the broker thread sees it: jobs, answers, verdicts, the tracker (pure).
    ("introspect", 5),
    // Checks beside verification (logout tokens), and the network part: the only threads and HTTP
    // (remote key sets and their refresh, discovery, introspection workers, credentials exchange).
    ("logout", 6),
    ("net", 6),
    // One loaded configuration (its key sources among it), and what reads it.
    ("loaded", 7),
    ("session", 8),
    ("diagnose", 8),
    // Event handlers (safe, driven through the `host::Broker` trait), then the FFI edge.
    ("plugin", 10),
    ("broker", 11),
];

fn rank(m: &str) -> Option<u8> {
    RANKS.iter().find(|(n, _)| *n == m).map(|(_, r)| *r)
}

/// The source without `#[cfg(test)]` items (a `mod x;` line, or the braced item that follows).
fn without_tests(src: &str) -> String {
    let mut out = String::new();
    let mut rest = src;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at + "#[cfg(test)]".len()..];
        let (semi, brace) = (item.find(';'), item.find('{'));
        let end = match (semi, brace) {
            (Some(s), b) if b.is_none_or(|b| s < b) => s + 1,
            (_, Some(b)) => {
                let mut depth = 0usize;
                let mut end = item.len();
                for (i, c) in item[b..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = b + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            _ => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The top-level modules named by `crate::x` paths, `use crate::{x, y::z}` groups included.
fn named(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in src.match_indices("crate::") {
        if src[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `mqtt_jwt_crate::`
        }
        let after = &src[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 0usize;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => out.push(std::mem::take(&mut item)),
                    c if depth == 0 => item.push(c),
                    _ => {}
                }
            }
            out.push(item);
        } else {
            out.push(after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    out.iter()
        .map(|s| s.trim().split("::").next().unwrap_or("").trim().to_string())
        .filter(|s| !s.is_empty() && s != "self")
        .collect()
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

#[test]
fn module_arrows_point_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut up = BTreeMap::new();
    let mut unranked = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel.iter().next().unwrap().to_str().unwrap();
        // The binaries are other crates; lib.rs only declares the modules.
        if first == "bin" || first == "lib.rs" {
            continue;
        }
        let name = f.file_name().unwrap().to_str().unwrap();
        if name == "tests.rs" || name.ends_with("_tests.rs") || rel.iter().any(|p| p == "tests") {
            continue;
        }
        let module = first.trim_end_matches(".rs");
        let Some(from) = rank(module) else {
            unranked.push(module.to_string());
            continue;
        };
        for to in named(&without_tests(&std::fs::read_to_string(f).unwrap())) {
            match rank(&to) {
                None => unranked.push(to),
                Some(r) if r >= from && to != module => {
                    up.entry(format!("{module} -> {to}")).or_insert_with(Vec::new).push(rel.display().to_string());
                }
                Some(_) => {}
            }
        }
    }
    unranked.sort();
    unranked.dedup();
    assert!(unranked.is_empty(), "modules without a rank in tests/layers.rs: {unranked:?}");
    assert!(up.is_empty(), "imports that do not point to a lower layer (see tests/layers.rs):\n{up:#?}");
}

#[test]
fn every_module_of_lib_rs_is_ranked_and_ranked_modules_exist() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").or_else(|| l.trim().strip_prefix("mod ")))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    for m in &declared {
        assert!(rank(m).is_some(), "src/lib.rs declares `{m}`, which has no rank in tests/layers.rs");
    }
    for (m, _) in RANKS {
        assert!(declared.contains(m), "tests/layers.rs ranks `{m}`, which src/lib.rs does not declare");
    }
}

#[test]
fn the_parser_sees_groups_paths_and_skips_test_items() {
    let src = "use crate::{a::B, c, d::{e, f}};\nfn x() { crate::g::h(); }\n#[cfg(test)]\nmod tests { use crate::z; }\n#[cfg(test)]\nmod more;\nuse crate::y;";
    assert_eq!(named(&without_tests(src)), ["a", "c", "d", "g", "y"]);
}
