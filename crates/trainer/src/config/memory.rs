//! `[memory]`: what a run does to fit its device (docs/algorithm.md §17).

use serde::{Deserialize, Serialize};

/// `[memory]`: trading compute for memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemorySection {
    /// Recompute each decoder layer's activations in the backward pass instead of keeping them
    /// (`prime_models::training_scores`): the PPO and PRM updates keep only every layer's input
    /// plus one layer's activations, for one extra forward of the layers. Default off.
    pub checkpoint_activations: bool,
    /// Tokens per chunk when computing token log-probs (LM head + log-softmax + gather), so
    /// `[batch, seq, vocab]` logits never exist at once; 0 (the default) computes the logits in
    /// one piece, as small models are fastest with. Large-vocabulary runs set e.g. 1024.
    pub logprob_chunk: usize,
    /// On CUDA, start even when the memory plan exceeds the device's memory (default off: the
    /// trainer refuses, naming the biggest components).
    pub allow_over_plan: bool,
}
