//! Issuer and audience patterns: an exact string, a glob with `*`, or `/regex/` (whole-string match).
use regex::Regex;

#[derive(Debug, Clone)]
pub enum Pattern {
    Exact(String),
    Regex(Regex),
}

impl Pattern {
    pub fn compile(p: &str) -> Result<Pattern, String> {
        if p.len() >= 2 && p.starts_with('/') && p.ends_with('/') {
            let body = &p[1..p.len() - 1];
            return Regex::new(&format!("^(?:{body})$"))
                .map(Pattern::Regex)
                .map_err(|e| format!("invalid regular expression {p:?}: {e}"));
        }
        if p.contains('*') {
            let glob: Vec<String> = p.split('*').map(regex::escape).collect();
            let re = format!("^{}$", glob.join(".*"));
            return Regex::new(&re).map(Pattern::Regex).map_err(|e| format!("invalid pattern {p:?}: {e}"));
        }
        if p.is_empty() {
            return Err("empty pattern".into());
        }
        Ok(Pattern::Exact(p.to_string()))
    }

    pub fn matches(&self, s: &str) -> bool {
        match self {
            Pattern::Exact(e) => e == s,
            Pattern::Regex(r) => r.is_match(s),
        }
    }
}

/// Any-of a list of patterns; an empty list is "no rule".
pub fn compile_all(list: &[String]) -> Vec<Pattern> {
    // Patterns were validated when the configuration was parsed.
    list.iter().filter_map(|p| Pattern::compile(p).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_glob_and_regex() {
        let e = Pattern::compile("https://idp/realms/a").unwrap();
        assert!(e.matches("https://idp/realms/a"));
        assert!(!e.matches("https://idp/realms/ab"));
        let g = Pattern::compile("https://*.example.com").unwrap();
        assert!(g.matches("https://a.example.com"));
        assert!(!g.matches("https://a.example.com.evil"));
        assert!(!g.matches("https://aXexample.com"), "dots are literal in globs");
        let any = Pattern::compile("*").unwrap();
        assert!(any.matches("anything"));
        let r = Pattern::compile("/mqtt-(eu|us)/").unwrap();
        assert!(r.matches("mqtt-eu"));
        assert!(!r.matches("xmqtt-eu"), "regex is anchored");
        assert!(Pattern::compile("/(/").is_err());
        assert!(Pattern::compile("").is_err());
    }
}
