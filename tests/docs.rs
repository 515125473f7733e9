//! The documentation against the code, without a broker: every jwt.json key the loader accepts is
//! documented in docs/configuration.md (and no documented key is unknown), every refusal category has
//! its Troubleshooting entry in docs/operations.md starting with the hint `mqtt-jwt verify` prints,
//! every complete jwt.json shown loads, and every relative link and anchor resolves.
use mqtt_jwt_auth::config::keys::{is_key, normalize, KEYS};
use mqtt_jwt_auth::config::Config;
use mqtt_jwt_auth::diagnose::hint;
use mqtt_jwt_auth::refusal::Reason;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md, as (path relative to the root, text).
fn documents() -> Vec<(PathBuf, String)> {
    let mut files = vec![PathBuf::from("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| PathBuf::from("docs").join(e.expect("entry").file_name()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files.into_iter().map(|p| (p.clone(), read(&p))).collect()
}

fn read(rel: &Path) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{}: {e}", rel.display()))
}

/// Lines outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// The contents of every inline code span outside fenced blocks.
fn code_spans(text: &str) -> Vec<String> {
    let mut spans = Vec::new();
    for line in prose(text) {
        let parts: Vec<&str> = line.split('`').collect();
        spans.extend(parts.iter().skip(1).step_by(2).map(|s| s.to_string()));
    }
    // Spans may wrap across lines in a paragraph; those are not key paths, so losing them is fine.
    spans
}

fn looks_like_key_path(s: &str) -> bool {
    s.starts_with("options.") && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '[' | ']'))
}

#[test]
fn every_config_key_is_documented() {
    let text = read(Path::new("docs/configuration.md"));
    let documented: BTreeSet<String> = code_spans(&text).iter().map(|s| normalize(s)).collect();
    let missing: Vec<_> = KEYS.iter().filter(|k| !documented.contains(&normalize(k))).collect();
    assert!(missing.is_empty(), "jwt.json keys missing from docs/configuration.md (as `full.key.path`): {missing:?}");
}

#[test]
fn no_documented_key_is_unknown_to_the_loader() {
    let mut unknown = BTreeSet::new();
    for (path, text) in documents() {
        for span in code_spans(&text) {
            if looks_like_key_path(&span) && !is_key(&span) {
                unknown.insert(format!("{}: {span}", path.display()));
            }
        }
    }
    assert!(unknown.is_empty(), "documented keys that src/config/keys.rs does not list: {unknown:?}");
}

/// The Troubleshooting section of docs/operations.md, entry lines only: "- **`category`**: hint...".
fn troubleshooting_entries() -> HashMap<String, String> {
    let text = read(Path::new("docs/operations.md"));
    let section = text.split("\n## Troubleshooting\n").nth(1).expect("docs/operations.md: ## Troubleshooting");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut entries = HashMap::new();
    for line in section.lines() {
        if let Some(rest) = line.strip_prefix("- **`") {
            let (category, after) = rest.split_once("`**: ").unwrap_or_else(|| panic!("malformed entry: {line}"));
            assert!(entries.insert(category.to_string(), after.to_string()).is_none(), "{category} listed twice");
        }
    }
    entries
}

#[test]
fn every_refusal_category_has_its_troubleshooting_entry_with_the_cli_hint() {
    let entries = troubleshooting_entries();
    let mut problems = Vec::new();
    for reason in Reason::ALL {
        let category = reason.category();
        match entries.get(category) {
            None => problems.push(format!("missing: - **`{category}`**: {}.", hint(reason))),
            Some(text) if !text.starts_with(hint(reason)) => problems
                .push(format!("{category}: the entry must start with the hint of src/diagnose.rs: {}", hint(reason))),
            Some(_) => {}
        }
    }
    let known: BTreeSet<&str> = Reason::ALL.iter().map(|r| r.category()).collect();
    problems
        .extend(entries.keys().filter(|c| !known.contains(c.as_str())).map(|c| format!("{c}: not a refusal category")));
    assert!(problems.is_empty(), "docs/operations.md#troubleshooting:\n{}", problems.join("\n"));
}

/// Every complete jwt.json shown (a ```json block with "version") loads.
#[test]
fn every_complete_example_config_loads() {
    let mut checked = 0;
    for (path, text) in documents() {
        for block in text.split("```json\n").skip(1) {
            let body = block.split("\n```").next().unwrap_or("");
            if body.trim_start().starts_with('{') && body.contains("\"version\"") {
                Config::parse(body)
                    .unwrap_or_else(|e| panic!("{}: example does not load: {e}\n{body}", path.display()));
                checked += 1;
            }
        }
    }
    assert!(checked >= 3, "expected the example configurations in README.md and docs/configuration.md");
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens, `-N` for repeats.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = BTreeSet::new();
    for line in prose(text) {
        let Some(heading) = line.strip_prefix('#').map(|h| h.trim_start_matches('#')) else { continue };
        if !heading.starts_with(' ') {
            continue;
        }
        let slug: String = heading
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 { slug.clone() } else { format!("{slug}-{n}") });
        *n += 1;
    }
    out
}

#[test]
fn every_relative_link_resolves() {
    let link = regex::Regex::new(r"\]\(([^) \t]+)\)").expect("regex");
    let mut broken = Vec::new();
    for (path, text) in documents() {
        let dir = path.parent().unwrap_or(Path::new(""));
        for line in prose(&text) {
            // Links inside inline code are examples, not links.
            let outside_code: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
            for cap in link.captures_iter(&outside_code) {
                let target = &cap[1];
                if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
                    continue;
                }
                let (file, anchor) = target.split_once('#').map_or((target, None), |(f, a)| (f, Some(a)));
                let file = if file.is_empty() { path.clone() } else { dir.join(file) };
                let Ok(target_text) = std::fs::read_to_string(root().join(&file)) else {
                    if !root().join(&file).exists() {
                        broken.push(format!("{}: {target} (no such file)", path.display()));
                    }
                    continue;
                };
                if let Some(anchor) = anchor {
                    if !anchors(&target_text).contains(anchor) {
                        broken.push(format!("{}: {target} (no such heading in {})", path.display(), file.display()));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Long explanations belong in lists or sub-sections, not in table cells nobody can read.
#[test]
fn table_rows_stay_short() {
    let long: Vec<String> = documents()
        .iter()
        .flat_map(|(path, text)| {
            prose(text)
                .into_iter()
                .filter(|l| l.starts_with('|') && l.chars().count() > 400)
                .map(move |l| format!("{}: {}...", path.display(), l.chars().take(60).collect::<String>()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(long.is_empty(), "table rows over 400 characters: {long:?}");
}

#[test]
fn anchors_follow_github() {
    let a = anchors("## Keys over HTTP(S)\n## Migrating from the Pro plugin's jwt.json\n## A\n## A\n");
    assert!(a.contains("keys-over-https") && a.contains("migrating-from-the-pro-plugins-jwtjson"), "{a:?}");
    assert!(a.contains("a") && a.contains("a-1"), "{a:?}");
}
