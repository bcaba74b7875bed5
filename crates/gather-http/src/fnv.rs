//! FNV-1a, 64 bits: a hash that is cheap on short keys and the same on
//! every machine and in every version.
//!
//! Two uses need exactly that: the origin table's keys (an authority of a
//! dozen bytes, hashed once per request, where SipHash spent ~230
//! instructions), and the fingerprint of an input list that a shard
//! records and a later run or `gather merge` compares (std's hashers may
//! change between Rust versions; this one is fixed by its definition).

/// FNV-1a over everything written to it; starts from the offset basis.
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hasher;

    /// The published test vectors: the value must never change.
    #[test]
    fn is_fnv_1a_64() {
        let hash = |bytes: &[u8]| {
            let mut h = Fnv::default();
            h.write(bytes);
            h.finish()
        };
        assert_eq!(hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
