//! Whether credentials are shaped like a JWT, which decides whether they are this plugin's to judge
//! (`nonJwtCredentials: "defer"` passes the others on). Deliberately generous: anything that starts
//! like a JWS header is judged here, so a broken or tampered token is refused by this plugin and
//! never reaches a password check behind it.
use base64::Engine as _;

/// True when the part before the first `.` is base64 (URL-safe or standard, padding ignored) of a
/// JSON object with an `alg` member; a leading `Bearer ` and surrounding whitespace are ignored.
pub fn looks_like_jwt(raw: &[u8]) -> bool {
    let raw = raw.trim_ascii();
    let raw = match raw.get(..7) {
        Some(p) if p.eq_ignore_ascii_case(b"bearer ") => raw[7..].trim_ascii_start(),
        _ => raw,
    };
    let Some(dot) = raw.iter().position(|&b| b == b'.') else { return false };
    let header = raw[..dot].trim_ascii_end();
    let header = header.strip_suffix(b"==").or_else(|| header.strip_suffix(b"=")).unwrap_or(header);
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let Some(bytes) = URL_SAFE_NO_PAD.decode(header).or_else(|_| STANDARD_NO_PAD.decode(header)).ok() else {
        return false;
    };
    matches!(serde_json::from_slice::<serde_json::Value>(&bytes), Ok(serde_json::Value::Object(m)) if m.contains_key("alg"))
}

#[cfg(test)]
mod tests {
    use super::looks_like_jwt;
    use base64::Engine as _;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn jwt_shapes_are_ours() {
        let h = b64(r#"{"alg":"HS256","typ":"JWT"}"#);
        for t in [
            format!("{h}.{}.c2ln", b64("{}")),
            format!("{h}.e30"),
            format!("{h}."),
            format!("Bearer {h}.x.y"),
            format!(" {h}.x.y\n"),
            format!("{h}==.x.y"),
            format!("{h}.not base64!.@@"),
            format!("{}.x.y", b64(r#"{"alg":"none"}"#)),
        ] {
            assert!(looks_like_jwt(t.as_bytes()), "{t}");
        }
    }

    #[test]
    fn passwords_are_not() {
        let no_alg = b64(r#"{"typ":"JWT"}"#);
        let array = b64(r#"["alg"]"#);
        for p in [
            "".to_string(),
            "hunter2".to_string(),
            "change-me-now".to_string(),
            "a.b.c".to_string(),
            format!("{no_alg}.x.y"),
            format!("{array}.x.y"),
            b64(r#"{"alg":"HS256"}"#),
            "opaque-access-token-0f9a8b".to_string(),
        ] {
            assert!(!looks_like_jwt(p.as_bytes()), "{p}");
        }
        assert!(!looks_like_jwt(&[0xff, 0xfe, b'.', 0x00]));
    }
}
