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
    !t.is_empty() && t.len() <= MAX_LEN && !crate::swar::contains_any(t.as_bytes(), [b'+', b'#', 0])
}

/// A topic filter: non-empty, no NUL, `+` only as a whole level, `#` only as the whole last level.
pub fn is_valid_filter(f: &str) -> bool {
    let b = f.as_bytes();
    if b.is_empty() || b.len() > MAX_LEN {
        return false;
    }
    b.iter().enumerate().all(|(i, &c)| match c {
        0 => false,
        b'+' | b'#' => {
            let whole_level = (i == 0 || b[i - 1] == b'/') && (i + 1 == b.len() || b[i + 1] == b'/');
            whole_level && (c == b'+' || i + 1 == b.len())
        }
        _ => true,
    })
}

/// Whether `filter` matches the topic name `topic`. Both are assumed valid.
pub fn matches(filter: &str, topic: &str) -> bool {
    !shields_dollar(filter, topic) && walk(filter.as_bytes(), topic.as_bytes(), false)
}

/// Whether every topic that `requested` matches is also matched by `allowed`, decided level by
/// level. Sound but not complete: it may say no to an exotic pair such as `+/#` over `#`, never yes
/// wrongly. `a/#` covers `a/+/b` and `a`; `a/+` does not cover `a/#`; `#` does not cover `$SYS/#`.
pub fn covers(allowed: &str, requested: &str) -> bool {
    !shields_dollar(allowed, requested) && walk(allowed.as_bytes(), requested.as_bytes(), true)
}

/// One pass over both strings, level by level, bytes compared in place: the per-rule cost of a
/// check is a few byte comparisons up to the first difference (no splitting, no allocation).
/// `f` is a valid filter, so `+` and `#` at a level start are whole levels. With `requested_is_filter`,
/// `t` is a filter too: a `+` level in it is covered by `+` only, a `#` level by `#` only.
fn walk(f: &[u8], t: &[u8], requested_is_filter: bool) -> bool {
    let (mut i, mut j) = (0, 0);
    loop {
        // Here both are at the start of a level.
        match f.get(i) {
            Some(b'#') => return true,
            Some(b'+') => {
                if requested_is_filter && t.get(j) == Some(&b'#') {
                    return false;
                }
                i += 1;
                while j < t.len() && t[j] != b'/' {
                    j += 1;
                }
            }
            // A literal level (possibly empty) must be equal byte for byte; a wildcard level of a
            // requested filter never equals a literal, which holds no `+` or `#`.
            _ => {
                while i < f.len() && f[i] != b'/' {
                    if t.get(j) != Some(&f[i]) {
                        return false;
                    }
                    i += 1;
                    j += 1;
                }
                if j < t.len() && t[j] != b'/' {
                    return false;
                }
            }
        }
        match (i < f.len(), j < t.len()) {
            (false, false) => return true,
            (true, true) => (i, j) = (i + 1, j + 1),
            // `#` also matches the parent level: `a/#` matches `a`.
            (true, false) => return &f[i..] == b"/#",
            (false, true) => return false,
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

    /// The obvious level-splitting definitions, kept as the reference for the byte walk.
    fn reference(filter: &str, other: &str, other_is_filter: bool) -> bool {
        if shields_dollar(filter, other) {
            return false;
        }
        let (mut f, mut t) = (filter.split('/'), other.split('/'));
        loop {
            match (f.next(), t.next()) {
                (Some("#"), _) => return true,
                (Some("+"), Some("#")) if other_is_filter => return false,
                (Some("+"), Some(_)) => {}
                (Some(a), Some(b)) if a == b => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }

    fn reference_valid(f: &str) -> bool {
        let levels: Vec<&str> = f.split('/').collect();
        !f.is_empty()
            && levels.iter().enumerate().all(|(i, l)| match *l {
                "#" => i + 1 == levels.len(),
                "+" => true,
                l => !l.contains(['+', '#', '\0']),
            })
    }

    /// Every filter and topic of up to four levels over a small alphabet, against the reference.
    #[test]
    fn byte_walk_agrees_with_reference_exhaustively() {
        let levels = ["a", "ab", "", "+", "#", "$S", "a+", "#b"];
        let mut all = vec![String::new()];
        let mut frontier = vec![String::new()];
        for depth in 0..4 {
            let mut next = Vec::new();
            for prefix in &frontier {
                for l in levels {
                    next.push(if depth == 0 { l.to_string() } else { format!("{prefix}/{l}") });
                }
            }
            all.extend(next.iter().cloned());
            frontier = next;
        }
        for f in &all {
            assert_eq!(is_valid_filter(f), reference_valid(f), "is_valid_filter({f:?})");
        }
        let filters: Vec<&str> = all.iter().map(String::as_str).filter(|f| is_valid_filter(f)).collect();
        let topics: Vec<&str> = all.iter().map(String::as_str).filter(|t| is_valid_topic(t)).collect();
        let mut pairs = 0;
        for f in &filters {
            for t in &topics {
                assert_eq!(matches(f, t), reference(f, t, false), "matches({f:?}, {t:?})");
            }
            for r in &filters {
                assert_eq!(covers(f, r), reference(f, r, true), "covers({f:?}, {r:?})");
                pairs += 1;
            }
        }
        assert!(pairs > 100_000, "{pairs}");
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
