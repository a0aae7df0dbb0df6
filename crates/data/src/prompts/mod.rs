//! The prompt pipeline: problems → chat template → token ids → seeded epochs → left-padded
//! batches, with the accuracy filter's buffer and a state that checkpoints exactly.
//!
//! ```no_run
//! use prime_data::prompts::{PromptBatcher, PromptOptions};
//! use prime_data::{read_problems, ReadOptions};
//! use prime_models::Tokenizer;
//! let tokenizer = Tokenizer::from_dir("model".as_ref())?;
//! let (problems, _) = read_problems("train.parquet".as_ref(), &ReadOptions::default())?;
//! let mut batcher = PromptBatcher::new(problems, &tokenizer, &PromptOptions::default(), 42, true)?;
//! let batch = batcher.next_batch(256); // buffered prompts first, then the epoch's order
//! batcher.push_leftovers(batch.indices[200..].iter().copied());
//! let state = batcher.state(); // serde: goes into the checkpoint
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod batch;
mod buffer;
mod cursor;
mod dataset;

use std::sync::Arc;

use prime_models::Tokenizer;
use serde::{Deserialize, Serialize};

pub use batch::PromptBatch;
pub use buffer::PromptBuffer;
pub use cursor::{PromptCursor, PromptSampler};
pub use dataset::{prompt_token_ids, PromptDataset, PromptOptions};

use crate::error::DataError;
use crate::problem::Problem;

/// What a checkpoint stores of the prompt pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatcherState {
    /// The sampler's position.
    pub cursor: PromptCursor,
    /// Prompts waiting in the accuracy filter's buffer.
    pub buffer: PromptBuffer,
}

/// Dataset + seeded epochs + buffer: takes buffered prompts first, then the epoch order.
#[derive(Debug, Clone)]
pub struct PromptBatcher {
    dataset: Arc<PromptDataset>,
    sampler: PromptSampler,
    buffer: PromptBuffer,
}

impl PromptBatcher {
    /// Tokenises `problems` (see [`PromptDataset::new`]) and starts at epoch 0 with `seed`.
    pub fn new(
        problems: impl IntoIterator<Item = Problem>,
        tokenizer: &Tokenizer,
        options: &PromptOptions,
        seed: u64,
        shuffle: bool,
    ) -> Result<Self, DataError> {
        let dataset = PromptDataset::new(problems, tokenizer, options)?;
        Ok(Self::from_dataset(dataset, seed, shuffle))
    }

    /// Starts at epoch 0 over an already tokenised dataset.
    pub fn from_dataset(dataset: PromptDataset, seed: u64, shuffle: bool) -> Self {
        let sampler = PromptSampler::new(dataset.len(), dataset.fingerprint(), seed, shuffle);
        Self {
            dataset: Arc::new(dataset),
            sampler,
            buffer: PromptBuffer::new(),
        }
    }

    /// The tokenised dataset.
    pub fn dataset(&self) -> &PromptDataset {
        &self.dataset
    }

    /// The tokenised dataset, shared (for use while the batcher is borrowed mutably).
    pub fn shared_dataset(&self) -> Arc<PromptDataset> {
        Arc::clone(&self.dataset)
    }

    /// The next `n` dataset indices: buffered ones first, then the epoch order.
    pub fn next_indices(&mut self, n: usize) -> Vec<usize> {
        let mut indices = self.buffer.take(n);
        let rest = n - indices.len();
        indices.extend(self.sampler.next_indices(rest));
        indices
    }

    /// The next `n` prompts as a left-padded batch (fewer only when the dataset is empty).
    pub fn next_batch(&mut self, n: usize) -> PromptBatch {
        let indices = self.next_indices(n);
        self.dataset.batch(&indices)
    }

    /// Puts surplus prompts (dataset indices) back for the next step.
    pub fn push_leftovers(&mut self, indices: impl IntoIterator<Item = usize>) {
        self.buffer.push(indices);
    }

    /// The buffer of leftovers.
    pub fn buffer(&self) -> &PromptBuffer {
        &self.buffer
    }

    /// Everything needed to resume: cursor and buffer.
    pub fn state(&self) -> BatcherState {
        BatcherState {
            cursor: self.sampler.cursor(),
            buffer: self.buffer.clone(),
        }
    }

    /// Continues from a saved state; fails if it was saved over another dataset or names an
    /// index outside this one.
    pub fn restore(&mut self, state: BatcherState) -> Result<(), DataError> {
        if let Some(bad) = state.buffer.iter().find(|&i| i >= self.dataset.len()) {
            return Err(DataError::Config(format!(
                "the saved prompt buffer holds index {bad}, outside a dataset of {}",
                self.dataset.len()
            )));
        }
        self.sampler =
            PromptSampler::restore(state.cursor, self.dataset.len(), self.dataset.fingerprint())?;
        self.buffer = state.buffer;
        Ok(())
    }
}
