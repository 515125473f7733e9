//! The signature algorithms this plugin verifies, and which kind of key each one needs.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
    EdDSA,
}

/// The kind of a verification key; it alone decides which algorithms the key may verify, so a public
/// key can never be used as an HMAC secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Hmac,
    Rsa,
    EcP256,
    EcP384,
    EcP521,
    Ed25519,
}

pub const ALL: [Alg; 13] = [
    Alg::HS256,
    Alg::HS384,
    Alg::HS512,
    Alg::RS256,
    Alg::RS384,
    Alg::RS512,
    Alg::PS256,
    Alg::PS384,
    Alg::PS512,
    Alg::ES256,
    Alg::ES384,
    Alg::ES512,
    Alg::EdDSA,
];

impl Alg {
    /// Exact, case-sensitive names (RFC 7518); "none" in any spelling is refused.
    pub fn parse(name: &str) -> Result<Alg, String> {
        if name.eq_ignore_ascii_case("none") {
            return Err("\"none\" is never allowed".into());
        }
        ALL.iter().copied().find(|a| a.name() == name).ok_or_else(|| {
            let names: Vec<_> = ALL.iter().map(|a| a.name()).collect();
            format!("unsupported algorithm {name:?} (supported: {})", names.join(", "))
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::ES512 => "ES512",
            Alg::EdDSA => "EdDSA",
        }
    }

    pub fn key_kind(self) -> KeyKind {
        match self {
            Alg::HS256 | Alg::HS384 | Alg::HS512 => KeyKind::Hmac,
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => KeyKind::Rsa,
            Alg::ES256 => KeyKind::EcP256,
            Alg::ES384 => KeyKind::EcP384,
            Alg::ES512 => KeyKind::EcP521,
            Alg::EdDSA => KeyKind::Ed25519,
        }
    }

    /// RFC 7518 §3.2: an HMAC key at least as long as the hash output.
    pub fn min_secret_bytes(self) -> Option<usize> {
        match self {
            Alg::HS256 => Some(32),
            Alg::HS384 => Some(48),
            Alg::HS512 => Some(64),
            _ => None,
        }
    }
}

impl KeyKind {
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Hmac => "HMAC secret",
            KeyKind::Rsa => "RSA public key",
            KeyKind::EcP256 => "EC P-256 public key",
            KeyKind::EcP384 => "EC P-384 public key",
            KeyKind::EcP521 => "EC P-521 public key",
            KeyKind::Ed25519 => "Ed25519 public key",
        }
    }
}
