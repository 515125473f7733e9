//! MQTT topic and topic-filter math: matching, filter-covers-filter, `$share` stripping, validity.
//! Everything here walks `split('/')` iterators: no allocation, so the ACL path can call it per check.

/// The longest topic or filter MQTT can carry (a two-byte length prefix).
const MAX_LEN: usize = 65_535;

fn first_level(s: &str) -> &str {
    s.split('/').next().unwrap_or("")
}

/// A `#` or `+` in the first level never matches a topic starting with `$` (MQTT 4.7.2), so `#`
/// does not reach `$SYS` or `$CONTROL`.
fn shields_dollar(filter: &str, topic: &str) -> bool {
    topic.starts_with('$') && matches!(first_level(filter), "+" | "#")
}

/// A topic name a client may publish to and that can be delivered: non-empty, no wildcard, no NUL.
pub fn is_valid_topic(t: &str) -> bool {
    !t.is_empty() && t.len() <= MAX_LEN && !t.contains(['+', '#', '\0'])
}

/// A topic filter: non-empty, no NUL, `+` only as a whole level, `#` only as the whole last level.
pub fn is_valid_filter(f: &str) -> bool {
    if f.is_empty() || f.len() > MAX_LEN || f.contains('\0') {
        return false;
    }
    let mut levels = f.split('/').peekable();
    while let Some(level) = levels.next() {
        if level == "#" {
            return levels.peek().is_none();
        }
        if level != "+" && level.contains(['+', '#']) {
            return false;
        }
    }
    true
}

/// Whether `filter` matches the topic name `topic`. Both are assumed valid.
pub fn matches(filter: &str, topic: &str) -> bool {
    if shields_dollar(filter, topic) {
        return false;
    }
    let (mut f, mut t) = (filter.split('/'), topic.split('/'));
    loop {
        match (f.next(), t.next()) {
            // `#` also matches the parent level: `a/#` matches `a`.
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether every topic that `requested` matches is also matched by `allowed`, decided level by
/// level. Sound but not complete: it may say no to an exotic pair such as `+/#` over `#`, never yes
/// wrongly. `a/#` covers `a/+/b` and `a`; `a/+` does not cover `a/#`; `#` does not cover `$SYS/#`.
pub fn covers(allowed: &str, requested: &str) -> bool {
    if shields_dollar(allowed, requested) {
        return false;
    }
    let (mut a, mut r) = (allowed.split('/'), requested.split('/'));
    loop {
        match (a.next(), r.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(rl)) if rl != "#" => {}
            // Equal literals (wildcards on the allowed side were taken above).
            (Some(al), Some(rl)) if al == rl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The filter a `$share/<group>/<filter>` subscription actually asks for; other filters unchanged.
/// None for a malformed share (empty or wildcard group, no filter), which must be refused.
pub fn strip_share(filter: &str) -> Option<&str> {
    let Some(rest) = filter.strip_prefix("$share/") else { return Some(filter) };
    let (group, inner) = rest.split_once('/')?;
    if group.is_empty() || group.contains(['+', '#']) || inner.is_empty() {
        return None;
    }
    Some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_table() {
        // (filter, topic, matches)
        let table = [
            ("a/b", "a/b", true),
            ("a/b", "a/c", false),
            ("a/b", "a/b/c", false),
            ("a/b/c", "a/b", false),
            ("a/+", "a/b", true),
            ("a/+", "a/b/c", false),
            ("a/+", "a", false),
            ("a/+", "a/", true),
            ("a/#", "a", true),
            ("a/#", "a/b/c", true),
            ("a/#", "ab", false),
            ("a/#", "b/a", false),
            ("#", "a", true),
            ("#", "a/b/c", true),
            ("#", "/", true),
            ("#", "/a", true),
            ("+", "a", true),
            ("+", "a/b", false),
            ("+", "/a", false),
            ("+/+", "a/b", true),
            ("+/+", "/a", true),
            ("+/+", "a/", true),
            ("+/+", "a", false),
            ("+/+", "a/b/c", false),
            ("/+", "/a", true),
            ("/#", "/a/b", true),
            // Empty levels are levels.
            ("a//b", "a//b", true),
            ("a/+/b", "a//b", true),
            ("a//b", "a/b", false),
            ("a/b", "a//b", false),
            ("a/+", "a//", false),
            ("+/+/+", "//", true),
            // `$` topics: not reached by a first-level wildcard, reachable by name.
            ("#", "$SYS/x", false),
            ("+/x", "$SYS/x", false),
            ("+", "$SYS", false),
            ("+/#", "$SYS/x", false),
            ("$SYS/#", "$SYS/x", true),
            ("$SYS/#", "$SYS", true),
            ("$SYS/+", "$SYS/x", true),
            ("$SYS/x", "$SYS/x", true),
            ("a/#", "a/$x", true),
            ("a/+", "a/$x", true),
            // Case matters.
            ("A/b", "a/b", false),
        ];
        for (filter, topic, want) in table {
            assert!(is_valid_filter(filter), "{filter}");
            assert!(is_valid_topic(topic), "{topic}");
            assert_eq!(matches(filter, topic), want, "matches({filter:?}, {topic:?})");
        }
    }

    #[test]
    fn covers_table() {
        // (allowed, requested, covered)
        let table = [
            ("a/b", "a/b", true),
            ("a/b", "a/c", false),
            ("a/#", "a/+/b", true),
            ("a/#", "a/#", true),
            ("a/#", "a/b/#", true),
            ("a/#", "a", true),
            ("a/#", "a/+", true),
            ("a/#", "+/b", false),
            ("a/#", "#", false),
            ("a/+", "a/#", false),
            ("a/+", "a/b", true),
            ("a/+", "a/+", true),
            ("a/+", "a/+/b", false),
            ("a/+", "a", false),
            ("a", "a/#", false),
            ("a/b", "a/+", false),
            ("a/b/#", "a/#", false),
            ("#", "#", true),
            ("#", "a/#", true),
            ("#", "+/+", true),
            ("#", "+", true),
            ("#", "/", true),
            ("+", "+", true),
            ("+", "#", false),
            ("+", "a", true),
            ("+", "a/b", false),
            ("+/+", "+/+", true),
            ("+/+", "a/+", true),
            ("+/+", "+/#", false),
            ("+/+", "+", false),
            ("+/+", "a/b/c", false),
            // Incomplete by design: `+/#` matches every topic `#` does, but the answer stays no.
            ("+/#", "#", false),
            // Empty levels.
            ("a//b", "a//b", true),
            ("a/+/b", "a//b", true),
            ("a//b", "a/+/b", false),
            ("a/#", "a//", true),
            // `$` topics.
            ("#", "$SYS/#", false),
            ("#", "$SYS/x", false),
            ("+/x", "$SYS/x", false),
            ("+/#", "$SYS/+", false),
            ("$SYS/#", "$SYS/broker/+", true),
            ("$SYS/#", "#", false),
            ("$SYS/+", "+/x", false),
            ("a/#", "a/$SYS/#", true),
        ];
        for (allowed, requested, want) in table {
            assert!(is_valid_filter(allowed) && is_valid_filter(requested), "{allowed} {requested}");
            assert_eq!(covers(allowed, requested), want, "covers({allowed:?}, {requested:?})");
        }
    }

    /// A filter covers itself, and covering agrees with matching on topics (no wildcards).
    #[test]
    fn covers_is_consistent_with_matches() {
        let filters = ["a/b", "a/+", "a/#", "#", "+", "+/+", "a//b", "$SYS/#", "/+", "+/b/#"];
        let topics = ["a/b", "a", "a//b", "$SYS/x", "/x", "x/b/c", "a/b/c", "/"];
        for f in filters {
            assert!(covers(f, f), "{f} covers itself");
            for t in topics {
                assert_eq!(covers(f, t), matches(f, t), "{f} over {t}");
            }
        }
    }

    #[test]
    fn share_table() {
        let table = [
            ("$share/g/a/#", Some("a/#")),
            ("$share/g/#", Some("#")),
            ("$share/g/$SYS/#", Some("$SYS/#")),
            ("$share/g//a", Some("/a")),
            ("$share/g/", None),
            ("$share//a", None),
            ("$share/+/a", None),
            ("$share/g#/a", None),
            ("$share/g", None),
            ("a/$share/g/b", Some("a/$share/g/b")),
            ("$shared/g/a", Some("$shared/g/a")),
            ("a/#", Some("a/#")),
        ];
        for (filter, want) in table {
            assert_eq!(strip_share(filter), want, "{filter}");
        }
    }

    #[test]
    fn validity_table() {
        let filters = [
            ("a/b", true),
            ("#", true),
            ("+", true),
            ("+/+", true),
            ("a/#", true),
            ("/", true),
            ("a//b", true),
            ("", false),
            ("a/#/b", false),
            ("a#", false),
            ("a/b#", false),
            ("a+/b", false),
            ("a/+b", false),
            ("##", false),
            ("a\0b", false),
        ];
        for (f, want) in filters {
            assert_eq!(is_valid_filter(f), want, "filter {f:?}");
        }
        let topics =
            [("a/b", true), ("/", true), ("$SYS/x", true), ("", false), ("a/+", false), ("#", false), ("a\0", false)];
        for (t, want) in topics {
            assert_eq!(is_valid_topic(t), want, "topic {t:?}");
        }
        assert!(!is_valid_filter(&"a".repeat(MAX_LEN + 1)));
    }
}
