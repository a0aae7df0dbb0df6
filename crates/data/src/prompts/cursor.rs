//! The order in which prompts are visited: a seeded permutation per epoch, and a cursor that
//! saves and restores the position exactly.

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::rng::SplitMix64;

/// Where a [`PromptSampler`] stands; everything needed to continue identically after a resume.
///
/// The permutation of epoch `e` is `rng.shuffle(0..len)` with `rng` as saved here (the state
/// at the start of the epoch); the next epoch starts from the state the shuffle left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptCursor {
    /// Epochs completed.
    pub epoch: u64,
    /// Prompts of this epoch already handed out.
    pub position: usize,
    /// Generator state at the start of this epoch.
    pub rng: SplitMix64,
    /// Whether epochs are shuffled (else dataset order).
    pub shuffle: bool,
    /// Size of the dataset the cursor walks.
    pub dataset_len: usize,
    /// [`PromptDataset::fingerprint`](super::PromptDataset::fingerprint) of that dataset.
    pub dataset_fingerprint: u64,
}

/// Hands out dataset indices epoch after epoch, each epoch a fresh seeded permutation.
#[derive(Debug, Clone)]
pub struct PromptSampler {
    cursor: PromptCursor,
    order: Vec<usize>,
}

impl PromptSampler {
    /// A sampler over `dataset_len` prompts starting at epoch 0.
    pub fn new(dataset_len: usize, dataset_fingerprint: u64, seed: u64, shuffle: bool) -> Self {
        Self::at(PromptCursor {
            epoch: 0,
            position: 0,
            rng: SplitMix64::new(seed),
            shuffle,
            dataset_len,
            dataset_fingerprint,
        })
    }

    /// A sampler that continues exactly where `cursor` was saved. The dataset must be the one
    /// the cursor was saved from (same length and fingerprint).
    pub fn restore(
        cursor: PromptCursor,
        dataset_len: usize,
        dataset_fingerprint: u64,
    ) -> Result<Self, DataError> {
        if cursor.dataset_len != dataset_len || cursor.dataset_fingerprint != dataset_fingerprint {
            return Err(DataError::Config(format!(
                "the saved data cursor belongs to a dataset of {} prompts (fingerprint {:016x}), not this one of {} prompts (fingerprint {:016x}); same data files, system prompt, max_prompt_len and tokenizer are needed to resume",
                cursor.dataset_len, cursor.dataset_fingerprint, dataset_len, dataset_fingerprint
            )));
        }
        if cursor.position > dataset_len {
            return Err(DataError::Config(format!(
                "the saved data cursor is at position {} of an epoch of {dataset_len}",
                cursor.position
            )));
        }
        Ok(Self::at(cursor))
    }

    fn at(cursor: PromptCursor) -> Self {
        let order = epoch_order(&cursor);
        Self { cursor, order }
    }

    /// The current position, to save in a checkpoint.
    pub fn cursor(&self) -> PromptCursor {
        self.cursor
    }

    /// The next `n` indices, crossing into new (reshuffled) epochs as needed. Empty when the
    /// dataset is empty.
    pub fn next_indices(&mut self, n: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(n);
        if self.cursor.dataset_len == 0 {
            return out;
        }
        while out.len() < n {
            if self.cursor.position == self.order.len() {
                self.start_next_epoch();
            }
            let take = (n - out.len()).min(self.order.len() - self.cursor.position);
            out.extend_from_slice(&self.order[self.cursor.position..self.cursor.position + take]);
            self.cursor.position += take;
        }
        out
    }

    fn start_next_epoch(&mut self) {
        // The state after shuffling this epoch seeds the next one.
        let mut rng = self.cursor.rng;
        if self.cursor.shuffle {
            let mut scratch: Vec<usize> = (0..self.cursor.dataset_len).collect();
            rng.shuffle(&mut scratch);
        }
        self.cursor.epoch += 1;
        self.cursor.position = 0;
        self.cursor.rng = if self.cursor.shuffle {
            rng
        } else {
            self.cursor.rng
        };
        self.order = epoch_order(&self.cursor);
    }
}

fn epoch_order(cursor: &PromptCursor) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cursor.dataset_len).collect();
    if cursor.shuffle {
        let mut rng = cursor.rng;
        rng.shuffle(&mut order);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_epoch_is_a_permutation_and_epochs_differ() {
        let mut sampler = PromptSampler::new(10, 0, 3, true);
        let first = sampler.next_indices(10);
        let second = sampler.next_indices(10);
        for epoch in [&first, &second] {
            let mut sorted = epoch.clone();
            sorted.sort();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        }
        assert_ne!(first, second);
        assert_eq!(sampler.cursor().epoch, 1);
    }

    #[test]
    fn unshuffled_walks_in_order_across_epochs() {
        let mut sampler = PromptSampler::new(3, 0, 3, false);
        assert_eq!(sampler.next_indices(7), vec![0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn restore_continues_identically() {
        let mut sampler = PromptSampler::new(17, 9, 5, true);
        sampler.next_indices(40); // into epoch 2
        let saved = serde_json::to_string(&sampler.cursor()).unwrap();
        let expected = sampler.next_indices(50);
        let cursor: PromptCursor = serde_json::from_str(&saved).unwrap();
        let mut resumed = PromptSampler::restore(cursor, 17, 9).unwrap();
        assert_eq!(resumed.next_indices(50), expected);
    }

    #[test]
    fn restore_rejects_another_dataset() {
        let sampler = PromptSampler::new(17, 9, 5, true);
        assert!(PromptSampler::restore(sampler.cursor(), 18, 9).is_err());
        assert!(PromptSampler::restore(sampler.cursor(), 17, 8).is_err());
    }
}
