//! Signing with private keys, the counterpart of [`super::SigKey`], for the CLI's `mint` and the
//! tests (aws-lc-rs, every algorithm the plugin verifies). Never used by the plugin itself.
use super::pem::pem_body;
use crate::alg::{Alg, KeyKind};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use serde_json::{json, Value};

enum Key {
    // Boxed: an HMAC key holds its padded inner/outer states (over 1 KiB).
    Hmac(Box<hmac::Key>),
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private key (or shared secret) bound to one algorithm.
pub struct Signer {
    alg: Alg,
    key: Key,
    rng: SystemRandom,
}

fn ecdsa_signing(alg: Alg) -> &'static signature::EcdsaSigningAlgorithm {
    match alg {
        Alg::ES384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        Alg::ES512 => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
        _ => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
    }
}

fn rsa_padding(alg: Alg) -> &'static dyn signature::RsaEncoding {
    match alg {
        Alg::RS384 => &signature::RSA_PKCS1_SHA384,
        Alg::RS512 => &signature::RSA_PKCS1_SHA512,
        Alg::PS256 => &signature::RSA_PSS_SHA256,
        Alg::PS384 => &signature::RSA_PSS_SHA384,
        Alg::PS512 => &signature::RSA_PSS_SHA512,
        _ => &signature::RSA_PKCS1_SHA256,
    }
}

impl Signer {
    /// `key`: the shared secret's bytes for HS*, else a PEM private key (PKCS#8 "PRIVATE KEY", or
    /// "RSA PRIVATE KEY" / "EC PRIVATE KEY" as older tools write them).
    pub fn new(alg: Alg, key: &[u8]) -> Result<Signer, String> {
        let pem = || std::str::from_utf8(key).map_err(|_| "the key is not PEM text".to_string());
        let block = |label: &str| -> Result<Option<Vec<u8>>, String> { Ok(pem_body(label, pem()?)) };
        let rejected = |e: aws_lc_rs::error::KeyRejected| format!("{} private key rejected: {e}", alg.name());
        let key = match alg.key_kind() {
            KeyKind::Hmac => Key::Hmac(Box::new(hmac::Key::new(
                match alg {
                    Alg::HS384 => hmac::HMAC_SHA384,
                    Alg::HS512 => hmac::HMAC_SHA512,
                    _ => hmac::HMAC_SHA256,
                },
                key,
            ))),
            KeyKind::Rsa => match (block("PRIVATE KEY")?, block("RSA PRIVATE KEY")?) {
                (Some(der), _) => Key::Rsa(RsaKeyPair::from_pkcs8(&der).map_err(rejected)?),
                (None, Some(der)) => Key::Rsa(RsaKeyPair::from_der(&der).map_err(rejected)?),
                _ => return Err("expected a PEM RSA private key".into()),
            },
            KeyKind::Ed25519 => match block("PRIVATE KEY")? {
                Some(der) => Key::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(rejected)?),
                None => return Err("expected a PEM \"PRIVATE KEY\" (PKCS#8) Ed25519 key".into()),
            },
            KeyKind::EcP256 | KeyKind::EcP384 | KeyKind::EcP521 => {
                let der = block("PRIVATE KEY")?.or(block("EC PRIVATE KEY")?).ok_or("expected a PEM EC private key")?;
                Key::Ec(EcdsaKeyPair::from_private_key_der(ecdsa_signing(alg), &der).map_err(rejected)?)
            }
        };
        Ok(Signer { alg, key, rng: SystemRandom::new() })
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The JWS signature over `message` (ECDSA in the fixed r‖s form JWS uses).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let failed = |_| format!("{} signing failed", self.alg.name());
        Ok(match &self.key {
            Key::Hmac(k) => hmac::sign(k, message).as_ref().to_vec(),
            Key::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(rsa_padding(self.alg), &self.rng, message, &mut sig).map_err(failed)?;
                sig
            }
            Key::Ec(k) => k.sign(&self.rng, message).map_err(failed)?.as_ref().to_vec(),
            Key::Ed(k) => k.sign(message).as_ref().to_vec(),
        })
    }

    /// The public half of an asymmetric key, as its verifier takes it (None for a secret).
    pub fn public_key(&self) -> Option<Vec<u8>> {
        match &self.key {
            Key::Hmac(_) => None,
            Key::Rsa(k) => Some(k.public_key().as_ref().to_vec()),
            Key::Ec(k) => Some(k.public_key().as_ref().to_vec()),
            Key::Ed(k) => Some(k.public_key().as_ref().to_vec()),
        }
    }
}

/// A compact JWS: header `{"alg", "typ": "JWT", "kid"?}` and the claims, signed.
pub fn encode_jws(signer: &Signer, kid: Option<&str>, claims: &Value) -> Result<String, String> {
    let mut header = json!({"typ": "JWT", "alg": signer.alg().name()});
    if let Some(k) = kid {
        header["kid"] = json!(k);
    }
    encode_jws_with_header(signer, &header, claims)
}

/// A compact JWS with `header` as given: its `alg` is not checked against the signer's (tests
/// forge tokens with it).
pub fn encode_jws_with_header(signer: &Signer, header: &Value, claims: &Value) -> Result<String, String> {
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let msg = format!("{}.{}", e.encode(header.to_string()), e.encode(claims.to_string()));
    let sig = signer.sign(msg.as_bytes())?;
    Ok(format!("{msg}.{}", e.encode(sig)))
}

/// The plugin's unit tests: an HS256 token (header `{"typ":"JWT","alg":"HS256"}`).
#[cfg(test)]
pub(crate) fn hs256_token(secret: &str, claims: &Value) -> String {
    encode_jws(&Signer::new(Alg::HS256, secret.as_bytes()).unwrap(), None, claims).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{parse_pem_public_key, SigKey};

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys").join(name)).unwrap()
    }

    #[test]
    fn every_algorithm_signs_what_the_verifier_accepts() {
        let secret = [7u8; 64];
        let cases = [
            (Alg::HS256, None),
            (Alg::HS384, None),
            (Alg::HS512, None),
            (Alg::RS256, Some(("rsa.key", "rsa.pub.pem"))),
            (Alg::RS384, Some(("rsa.key", "rsa.pub.pem"))),
            (Alg::RS512, Some(("rsa.key", "rsa.pub.pem"))),
            (Alg::PS256, Some(("rsa.key", "rsa.pub.pem"))),
            (Alg::PS384, Some(("rsa.key", "rsa.pub.pem"))),
            (Alg::PS512, Some(("rsa.key", "rsa.pub.pem"))),
            (Alg::ES256, Some(("ec256.key", "ec256.pub.pem"))),
            (Alg::ES384, Some(("ec384.key", "ec384.pub.pem"))),
            (Alg::ES512, Some(("ec521.key", "ec521.pub.pem"))),
            (Alg::EdDSA, Some(("ed25519.key", "ed25519.pub.pem"))),
        ];
        assert_eq!(cases.len(), crate::alg::ALL.len());
        for (alg, files) in cases {
            let (signer, verifier) = match files {
                None => (
                    Signer::new(alg, &secret).unwrap(),
                    SigKey::new(KeyKind::Hmac, crate::keys::KeyBytes::Secret(&secret)).unwrap(),
                ),
                Some((private, public)) => {
                    let public = String::from_utf8(fixture(public)).unwrap();
                    (Signer::new(alg, &fixture(private)).unwrap(), parse_pem_public_key(&public).unwrap().1)
                }
            };
            let sig = signer.sign(b"message").unwrap();
            assert!(verifier.verify(alg, b"message", &sig), "{alg:?}");
            assert!(!verifier.verify(alg, b"messagf", &sig), "{alg:?}");
            let t = encode_jws(&signer, Some("k"), &json!({"sub": "a"})).unwrap();
            assert_eq!(t.split('.').count(), 3);
        }
        assert!(Signer::new(Alg::ES512, &fixture("ec256.key")).is_err(), "a P-256 key cannot sign ES512");
        assert!(Signer::new(Alg::RS256, b"not pem").is_err());
    }
}
