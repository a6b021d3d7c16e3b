//! The simulation's random numbers: delays, choices, ids.

/// SplitMix64: plenty for simulated delays and choices, seeded from the OS.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn seeded() -> Rng {
        Rng(u64::from_le_bytes(crate::random::bytes()))
    }

    /// The same sequence every time for one seed: a run that can be told again.
    pub(super) fn from_seed(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(super) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n > 0).
    pub(super) fn below(&mut self, n: usize) -> usize {
        ((self.unit() * n as f64) as usize).min(n - 1)
    }
}
