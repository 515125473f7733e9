//! PEM public keys: SPKI ("PUBLIC KEY": RSA, EC P-256/P-384, Ed25519) and PKCS#1 ("RSA PUBLIC KEY").
use crate::alg::KeyKind;
use base64::Engine;
use jsonwebtoken::DecodingKey;

const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const OID_RSA: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn pem_body(label: &str, text: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = text[start..].find(&end)? + start;
    let b64: String = text[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

pub fn parse_pem_public_key(text: &str) -> Result<(KeyKind, DecodingKey), String> {
    if text.contains("PRIVATE KEY-----") {
        return Err("this is a private key: configure the public key only".into());
    }
    if text.contains("-----BEGIN CERTIFICATE-----") {
        return Err("certificates are not supported: extract the public key (openssl x509 -pubkey -noout)".into());
    }
    if text.contains("-----BEGIN RSA PUBLIC KEY-----") {
        let key = DecodingKey::from_rsa_pem(text.as_bytes()).map_err(|e| format!("invalid PKCS#1 RSA public key: {e}"))?;
        return Ok((KeyKind::Rsa, key));
    }
    let der = pem_body("PUBLIC KEY", text).ok_or("expected a PEM block \"-----BEGIN PUBLIC KEY-----\"")?;
    // The SPKI's algorithm identifier says what the key is; look at the OIDs it carries.
    let head = &der[..der.len().min(40)];
    if contains(head, OID_RSA) {
        let key = DecodingKey::from_rsa_pem(text.as_bytes()).map_err(|e| format!("invalid RSA public key: {e}"))?;
        Ok((KeyKind::Rsa, key))
    } else if contains(head, OID_EC_PUBLIC_KEY) {
        let kind = if contains(head, OID_P256) {
            KeyKind::EcP256
        } else if contains(head, OID_P384) {
            KeyKind::EcP384
        } else {
            return Err("unsupported EC curve (supported: P-256, P-384)".into());
        };
        let key = DecodingKey::from_ec_pem(text.as_bytes()).map_err(|e| format!("invalid EC public key: {e}"))?;
        Ok((kind, key))
    } else if contains(head, OID_ED25519) {
        let key = DecodingKey::from_ed_pem(text.as_bytes()).map_err(|e| format!("invalid Ed25519 public key: {e}"))?;
        Ok((KeyKind::Ed25519, key))
    } else {
        Err("unsupported public key type (supported: RSA, EC P-256/P-384, Ed25519)".into())
    }
}
