//! Just enough DER to take public keys apart (SPKI, PKCS#1) and build a PKCS#1 RSA key from a JWK's n and e.

/// One TLV: (tag, contents, rest). Only definite lengths up to 4 bytes, as DER requires.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        rest = &rest[n..];
        len
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// SubjectPublicKeyInfo → (AlgorithmIdentifier contents, subjectPublicKey bytes).
pub fn spki(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (0x30, body, []) = tlv(der)? else { return None };
    let (0x30, alg_id, rest) = tlv(body)? else { return None };
    let (0x03, bits, []) = tlv(rest)? else { return None };
    let (&0, key) = bits.split_first()? else { return None };
    Some((alg_id, key))
}

/// RSAPublicKey (PKCS#1) → (modulus, publicExponent), big-endian, leading zero included.
pub fn rsa_parts(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (0x30, body, []) = tlv(der)? else { return None };
    let (0x02, n, rest) = tlv(body)? else { return None };
    let (0x02, e, []) = tlv(rest)? else { return None };
    Some((n, e))
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
}

fn push_uint(out: &mut Vec<u8>, be: &[u8]) {
    let be = &be[be.iter().take_while(|b| **b == 0).count()..];
    let pad = be.first().is_none_or(|b| b & 0x80 != 0);
    out.push(0x02);
    push_len(out, be.len() + pad as usize);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(be);
}

/// RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017).
pub fn rsa_public_key(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    push_uint(&mut body, n);
    push_uint(&mut body, e);
    let mut out = vec![0x30];
    push_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_key_round_trips_through_tlv() {
        let n = [0x80u8; 256];
        let der = rsa_public_key(&n, &[1, 0, 1]);
        let (0x30, body, []) = tlv(&der).unwrap() else { panic!() };
        let (0x02, int_n, rest) = tlv(body).unwrap() else { panic!() };
        assert_eq!(int_n.len(), 257, "a high bit needs a leading zero");
        let (0x02, int_e, []) = tlv(rest).unwrap() else { panic!() };
        assert_eq!(int_e, &[1, 0, 1]);
        assert_eq!(rsa_parts(&der), Some((int_n, int_e)));
    }

    #[test]
    fn truncated_input_is_refused() {
        assert!(tlv(&[0x30, 0x82, 0x01]).is_none());
        assert!(tlv(&[0x30, 0x05, 0x00]).is_none());
        assert!(spki(&[]).is_none());
    }
}
