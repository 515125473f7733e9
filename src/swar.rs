//! Bytes eight at a time (SWAR), for the scans that run on every CONNECT and ACL check: a claims
//! set's strings, a topic's wildcards.
pub const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` below `n` (n ≤ 128); exact for the lowest such byte, which is
/// all that is read of it.
pub fn below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * n as u64) & !w & HIGHS
}

/// The high bit of each byte of `w` equal to `c`, exact for the lowest such byte.
pub fn equal(w: u64, c: u8) -> u64 {
    below(w ^ (ONES * c as u64), 1)
}

/// Whether `b` holds any of `set`.
pub fn contains_any(b: &[u8], set: [u8; 3]) -> bool {
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        if set.iter().fold(0, |acc, &c| acc | equal(w, c)) != 0 {
            return true;
        }
    }
    chunks.remainder().iter().any(|c| set.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_any_finds_each_byte_at_every_position() {
        for len in 0..40 {
            for at in 0..len {
                for c in [b'+', b'#', 0] {
                    let mut b = vec![b'a'; len];
                    b[at] = c;
                    assert!(contains_any(&b, [b'+', b'#', 0]), "{len} {at} {c}");
                }
            }
            // Neighbours of the looked-for bytes, and bytes with the high bit set.
            let b: Vec<u8> = (0..len).map(|i| [b'*', b',', b'"', b'$', 1, 0x80, 0xab, 0xff][i % 8]).collect();
            assert!(!contains_any(&b, [b'+', b'#', 0]), "{len}");
        }
    }
}
