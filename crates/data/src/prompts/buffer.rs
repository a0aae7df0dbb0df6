//! The prompt buffer of the accuracy filter (docs/algorithm.md §4): surplus prompts whose groups
//! survived the filter wait here and are taken first by the next step.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// A first-in first-out queue of dataset indices; serialisable for checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptBuffer {
    items: VecDeque<usize>,
}

impl PromptBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `indices` at the back.
    pub fn push(&mut self, indices: impl IntoIterator<Item = usize>) {
        self.items.extend(indices);
    }

    /// Removes and returns up to `n` indices from the front.
    pub fn take(&mut self, n: usize) -> Vec<usize> {
        let n = n.min(self.items.len());
        self.items.drain(..n).collect()
    }

    /// Indices waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The waiting indices, front first.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.items.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_and_serde_round_trip() {
        let mut buffer = PromptBuffer::new();
        buffer.push([4, 2, 9]);
        buffer.push([1]);
        assert_eq!(buffer.take(2), vec![4, 2]);
        let json = serde_json::to_string(&buffer).unwrap();
        let mut restored: PromptBuffer = serde_json::from_str(&json).unwrap();
        assert_eq!(restored, buffer);
        assert_eq!(restored.take(5), vec![9, 1]);
        assert!(restored.is_empty());
    }
}
