//! The key/value cache of incremental decoding.

use burn::tensor::{backend::Backend, Tensor};

/// Keys and values of one attention layer for every position seen so far,
/// each `[batch, kv_heads, positions, head_dim]` (after RoPE).
#[derive(Debug, Clone)]
pub struct LayerCache<B: Backend> {
    /// Cached keys, `None` before the first step.
    pub key: Option<Tensor<B, 4>>,
    /// Cached values, `None` before the first step.
    pub value: Option<Tensor<B, 4>>,
}

impl<B: Backend> LayerCache<B> {
    /// Appends `key` / `value` (`[batch, kv_heads, n, head_dim]`) and returns the full tensors.
    pub fn append(
        &mut self,
        key: Tensor<B, 4>,
        value: Tensor<B, 4>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let key = match self.key.take() {
            Some(past) => Tensor::cat(vec![past, key], 2),
            None => key,
        };
        let value = match self.value.take() {
            Some(past) => Tensor::cat(vec![past, value], 2),
            None => value,
        };
        self.key = Some(key.clone());
        self.value = Some(value.clone());
        (key, value)
    }
}

/// The KV cache of a whole [`crate::Qwen2ForCausalLm`]: one [`LayerCache`] per decoder layer.
#[derive(Debug, Clone)]
pub struct Qwen2Cache<B: Backend> {
    /// One entry per decoder layer.
    pub layers: Vec<LayerCache<B>>,
    /// Number of positions (padding included) the cache holds.
    pub len: usize,
    /// Rows of the batch the cache was made for.
    pub batch_size: usize,
}

impl<B: Backend> Qwen2Cache<B> {
    /// An empty cache for `num_layers` layers and `batch_size` rows.
    pub fn new(num_layers: usize, batch_size: usize) -> Self {
        Self {
            layers: (0..num_layers)
                .map(|_| LayerCache {
                    key: None,
                    value: None,
                })
                .collect(),
            len: 0,
            batch_size,
        }
    }
}
