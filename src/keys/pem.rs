//! PEM public keys: SPKI ("PUBLIC KEY": RSA, EC P-256/P-384/P-521, Ed25519) and PKCS#1 ("RSA PUBLIC KEY").
use super::{der, KeyBytes, SigKey};
use crate::alg::KeyKind;
use base64::Engine;

const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const OID_RSA: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

pub(super) fn pem_body(label: &str, text: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = text[start..].find(&end)? + start;
    let b64: String = text[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

pub fn parse_pem_public_key(text: &str) -> Result<(KeyKind, SigKey), String> {
    if text.contains("PRIVATE KEY-----") {
        return Err("this is a private key: configure the public key only".into());
    }
    if text.contains("-----BEGIN CERTIFICATE-----") {
        return Err("certificates are not supported: extract the public key (openssl x509 -pubkey -noout)".into());
    }
    if let Some(pkcs1) = pem_body("RSA PUBLIC KEY", text) {
        return Ok((KeyKind::Rsa, rsa_key(&pkcs1)?));
    }
    let der = pem_body("PUBLIC KEY", text).ok_or("expected a PEM block \"-----BEGIN PUBLIC KEY-----\"")?;
    let (alg_id, key) = der::spki(&der).ok_or("malformed SubjectPublicKeyInfo")?;
    let kind = if alg_id.starts_with(OID_RSA) {
        KeyKind::Rsa
    } else if alg_id.starts_with(OID_EC_PUBLIC_KEY) {
        match &alg_id[OID_EC_PUBLIC_KEY.len()..] {
            OID_P256 => KeyKind::EcP256,
            OID_P384 => KeyKind::EcP384,
            OID_P521 => KeyKind::EcP521,
            _ => return Err("unsupported EC curve (supported: P-256, P-384, P-521)".into()),
        }
    } else if alg_id == OID_ED25519 {
        KeyKind::Ed25519
    } else {
        return Err("unsupported public key type (supported: RSA, EC P-256/P-384/P-521, Ed25519)".into());
    };
    let bytes = match kind {
        KeyKind::Rsa => return Ok((kind, rsa_key(key)?)),
        KeyKind::Ed25519 => KeyBytes::Ed25519(key),
        _ => KeyBytes::Ec(key),
    };
    Ok((kind, SigKey::new(kind, bytes)?))
}

fn rsa_key(pkcs1: &[u8]) -> Result<SigKey, String> {
    let (n, e) = der::rsa_parts(pkcs1).ok_or("malformed RSAPublicKey")?;
    super::rsa::check_rsa(n, e)?;
    SigKey::new(KeyKind::Rsa, KeyBytes::Rsa(pkcs1))
}
