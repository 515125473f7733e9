//! Hashers for keys no client can choose, cheaper than the default SipHash on every CONNECT, ACL
//! check and DISCONNECT. Keys a client can choose (client ids) keep the default.
use std::hash::{BuildHasherDefault, Hasher};

/// For SHA-256 digests (or their first half): their first 8 bytes already are a uniform hash. Only tokens whose signature
/// verified are inserted, so nobody can fill a table with chosen digests.
#[derive(Default)]
pub struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // The array's length prefix comes through write_usize, the digest itself here.
        for (i, b) in bytes.iter().take(8).enumerate() {
            self.0 ^= (*b as u64) << (8 * i);
        }
    }
    fn write_usize(&mut self, _: usize) {}
}

pub type DigestKeyed = BuildHasherDefault<DigestHasher>;

/// For client handles (mosquitto's pointers to its client structures): mixed so that alignment
/// does not leave the low bits, which pick the bucket, all zero.
#[derive(Default)]
pub struct HandleHasher(u64);

impl Hasher for HandleHasher {
    fn finish(&self) -> u64 {
        let h = (self.0 ^ (self.0 >> 17)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^ (h >> 29)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ *b as u64;
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 ^= n as u64;
    }
}

pub type HandleKeyed = BuildHasherDefault<HandleHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    #[test]
    fn digests_hash_by_their_first_bytes_and_aligned_handles_spread() {
        let d = crate::cache::digest("a");
        let mut h = DigestHasher::default();
        d.hash(&mut h);
        assert_eq!(h.finish().to_le_bytes(), d[..8]);
        let buckets: std::collections::HashSet<u64> =
            (0..1024usize).map(|i| HandleKeyed::default().hash_one(0x7f00_0000_0000usize + i * 64) & 1023).collect();
        assert!(buckets.len() > 600, "{} of 1024 buckets", buckets.len());
    }
}
