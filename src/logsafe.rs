//! Makes client-supplied strings safe to put in a log line: no control characters, bounded length.

pub fn clean(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 3);
    for (i, c) in s.chars().enumerate() {
        if i >= max {
            out.push_str("...");
            break;
        }
        out.push(if c.is_control() { '?' } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn strips_controls_and_bounds() {
        assert_eq!(super::clean("a\nb\0c", 10), "a?b?c");
        assert_eq!(super::clean("abcdef", 3), "abc...");
    }
}
