//! The training-prompt cursor: a seeded permutation per epoch and a position in it, small enough
//! to store in every checkpoint so a resumed run draws exactly the prompts the uninterrupted run
//! would have drawn. Also the seed derivation every random choice of the trainer goes through.

use prime_data::SplitMix64;
use serde::{Deserialize, Serialize};

/// A seed for one random choice, a pure function of the run seed and the choice's coordinates
/// (`[kind, step, round, chunk]`, …). Deriving instead of carrying an RNG makes resume exact.
pub fn derive_seed(base: u64, parts: &[u64]) -> u64 {
    let mut rng = SplitMix64::new(base);
    let mut h = rng.next_u64();
    for &p in parts {
        let mut r = SplitMix64::new(h ^ p.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        h = r.next_u64();
    }
    h
}

/// Where the run is in its training prompts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptCursor {
    seed: u64,
    len: usize,
    shuffle: bool,
    /// Completed passes over the prompts.
    pub epoch: u64,
    /// Prompts drawn in the current epoch.
    pub position: usize,
    #[serde(skip)]
    order: Vec<usize>,
}

impl PromptCursor {
    /// A cursor over `len` prompts, shuffled per epoch with `seed` when `shuffle`.
    pub fn new(seed: u64, len: usize, shuffle: bool) -> Self {
        Self {
            seed,
            len,
            shuffle,
            epoch: 0,
            position: 0,
            order: Vec::new(),
        }
    }

    /// Number of prompts it walks over.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no prompts.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The next prompt index (`None` only when there are no prompts).
    pub fn next_index(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        if self.position >= self.len {
            self.epoch += 1;
            self.position = 0;
            self.order.clear();
        }
        if self.order.len() != self.len {
            self.order = (0..self.len).collect();
            if self.shuffle {
                let mut rng = SplitMix64::new(derive_seed(self.seed, &[0xC0, self.epoch]));
                rng.shuffle(&mut self.order);
            }
        }
        let index = self.order[self.position];
        self.position += 1;
        Some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_epoch_is_a_permutation_and_epochs_differ() {
        let mut c = PromptCursor::new(7, 10, true);
        let e0: Vec<usize> = (0..10).map(|_| c.next_index().unwrap()).collect();
        let e1: Vec<usize> = (0..10).map(|_| c.next_index().unwrap()).collect();
        let sorted = |v: &[usize]| {
            let mut s = v.to_vec();
            s.sort();
            s
        };
        assert_eq!(sorted(&e0), (0..10).collect::<Vec<_>>());
        assert_eq!(sorted(&e1), (0..10).collect::<Vec<_>>());
        assert_ne!(e0, e1);
        assert_eq!(c.epoch, 1);
    }

    #[test]
    fn a_restored_cursor_continues_identically() {
        let mut a = PromptCursor::new(3, 7, true);
        for _ in 0..9 {
            a.next_index();
        }
        let saved = serde_json::to_string(&a).unwrap();
        let mut b: PromptCursor = serde_json::from_str(&saved).unwrap();
        for _ in 0..20 {
            assert_eq!(a.next_index(), b.next_index());
        }
    }

    #[test]
    fn unshuffled_is_in_order_and_empty_yields_none() {
        let mut c = PromptCursor::new(0, 3, false);
        let v: Vec<usize> = (0..5).map(|_| c.next_index().unwrap()).collect();
        assert_eq!(v, vec![0, 1, 2, 0, 1]);
        assert_eq!(PromptCursor::new(0, 0, true).next_index(), None);
    }

    #[test]
    fn derived_seeds_depend_on_every_part() {
        let a = derive_seed(1, &[2, 3]);
        assert_eq!(a, derive_seed(1, &[2, 3]));
        assert_ne!(a, derive_seed(1, &[3, 2]));
        assert_ne!(a, derive_seed(2, &[2, 3]));
        assert_ne!(a, derive_seed(1, &[2, 3, 0]));
    }
}
