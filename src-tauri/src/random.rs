//! Randomness from the operating system, in one place: tokens, secrets, ids, jitter and the
//! emulator's seed. A random source that fails is a broken machine, not a condition to carry
//! on from, so it panics with that sentence.

/// `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fill(&mut bytes);
    bytes
}

/// A fresh random secret of `len` bytes, hex-encoded.
pub fn hex_token(len: usize) -> String {
    let mut random = vec![0u8; len];
    fill(&mut random);
    hex::encode(random)
}

/// A random number in [0, 1).
pub fn unit() -> f64 {
    (u64::from_le_bytes(bytes()) >> 11) as f64 / (1u64 << 53) as f64
}

fn fill(buffer: &mut [u8]) {
    getrandom::fill(buffer).expect("the operating system's random source failed");
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_differ_and_units_stay_in_range() {
        assert_ne!(super::bytes::<16>(), super::bytes::<16>());
        assert_eq!(super::hex_token(24).len(), 48);
        assert!((0..1000)
            .map(|_| super::unit())
            .all(|u| (0.0..1.0).contains(&u)));
    }
}
