//! Signature checks with keys parsed once, at load (aws-lc-rs): a CONNECT pays only for the
//! signature operation itself, not for re-parsing the key.
use crate::alg::{Alg, KeyKind, ALL};
use aws_lc_rs::{hmac, signature};

/// Public key bytes in the form each kind's verifier takes.
pub enum KeyBytes<'a> {
    Secret(&'a [u8]),
    /// PKCS#1 RSAPublicKey DER.
    Rsa(&'a [u8]),
    /// SEC1 uncompressed point (0x04 ‖ x ‖ y).
    Ec(&'a [u8]),
    /// The 32 raw bytes.
    Ed25519(&'a [u8]),
}

enum Check {
    // Boxed: an HMAC key holds its padded inner/outer states (over 1 KiB), the public keys are small.
    Hmac(Box<hmac::Key>),
    Public(signature::ParsedPublicKey),
}

/// One key, prepared for each algorithm its kind allows (and only those; an HMAC key only for
/// the hashes it is long enough for).
pub struct SigKey {
    checks: Vec<(Alg, Check)>,
    /// Of an HMAC key, for the reasons that name it; 0 for public keys.
    secret_len: usize,
}

/// RFC 7518 §3.2 in words, for load errors and refusals.
pub fn short_secret(len: usize, alg: Alg) -> String {
    let min = alg.min_secret_bytes().unwrap_or(0);
    format!(
        "the HMAC key is {len} bytes ({} bits); {} needs at least {min} bytes ({} bits, RFC 7518 section 3.2)",
        len * 8,
        alg.name(),
        min * 8
    )
}

fn public_alg(alg: Alg) -> &'static dyn signature::VerificationAlgorithm {
    match alg {
        Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        Alg::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Alg::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Alg::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
        Alg::EdDSA => &signature::ED25519,
        Alg::HS256 | Alg::HS384 | Alg::HS512 => unreachable!("HMAC has no public key"),
    }
}

fn hmac_alg(alg: Alg) -> hmac::Algorithm {
    match alg {
        Alg::HS384 => hmac::HMAC_SHA384,
        Alg::HS512 => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    }
}

impl SigKey {
    pub fn new(kind: KeyKind, bytes: KeyBytes) -> Result<SigKey, String> {
        let mut checks = Vec::new();
        let secret_len = match bytes {
            KeyBytes::Secret(s) if s.len() < 32 => return Err(short_secret(s.len(), Alg::HS256)),
            KeyBytes::Secret(s) => s.len(),
            _ => 0,
        };
        for alg in ALL.into_iter().filter(|a| a.key_kind() == kind) {
            let check = match (&bytes, kind) {
                (KeyBytes::Secret(s), KeyKind::Hmac) if s.len() < alg.min_secret_bytes().unwrap_or(0) => continue,
                (KeyBytes::Secret(s), KeyKind::Hmac) => Check::Hmac(Box::new(hmac::Key::new(hmac_alg(alg), s))),
                (KeyBytes::Rsa(b), KeyKind::Rsa)
                | (KeyBytes::Ec(b), KeyKind::EcP256 | KeyKind::EcP384 | KeyKind::EcP521)
                | (KeyBytes::Ed25519(b), KeyKind::Ed25519) => Check::Public(
                    signature::ParsedPublicKey::new(public_alg(alg), b)
                        .map_err(|e| format!("{} rejected: {e}", kind.name()))?,
                ),
                _ => return Err(format!("key bytes do not fit a {}", kind.name())),
            };
            checks.push((alg, check));
        }
        Ok(SigKey { checks, secret_len })
    }

    /// Whether this key was prepared for `alg` (an HMAC key too short for it was not).
    pub fn supports(&self, alg: Alg) -> bool {
        self.checks.iter().any(|(a, _)| *a == alg)
    }

    pub fn secret_len(&self) -> usize {
        self.secret_len
    }

    /// Constant-time for HMAC; false for any algorithm this key was not prepared for.
    pub fn verify(&self, alg: Alg, message: &[u8], sig: &[u8]) -> bool {
        match self.checks.iter().find(|(a, _)| *a == alg) {
            Some((_, Check::Hmac(k))) => hmac::verify(k, message, sig).is_ok(),
            Some((_, Check::Public(k))) => k.verify_sig(message, sig).is_ok(),
            None => false,
        }
    }
}
