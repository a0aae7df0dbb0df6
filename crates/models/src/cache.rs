//! The key/value cache of incremental decoding.

use burn::tensor::{backend::Backend, Tensor};

/// Keys and values of one attention layer for every position seen so far (after RoPE), in the
/// layout of the attention path that fills them: `[batch, kv_heads, positions, head_dim]` for
/// the decomposed ops ([`Self::append`]), `[batch, positions, kv_heads, head_dim]` (the
/// projections' layout) for the fused CPU kernels ([`Self::with_rows`], [`Self::set_rows`]).
/// A cache filled by one path and read by the other is converted once.
#[derive(Debug, Clone)]
pub struct LayerCache<B: Backend> {
    /// Cached keys, `None` before the first step.
    pub key: Option<Tensor<B, 4>>,
    /// Cached values, `None` before the first step.
    pub value: Option<Tensor<B, 4>>,
    /// Whether `key` and `value` are in the fused path's layout.
    rows_layout: bool,
}

impl<B: Backend> LayerCache<B> {
    /// An empty cache.
    pub fn new() -> Self {
        Self {
            key: None,
            value: None,
            rows_layout: false,
        }
    }

    /// Whether the cache holds `[batch, positions, kv_heads, head_dim]` tensors (the fused
    /// path's layout) rather than `[batch, kv_heads, positions, head_dim]`.
    pub fn is_rows_layout(&self) -> bool {
        self.rows_layout
    }

    /// Appends `key` / `value` (`[batch, kv_heads, n, head_dim]`) and returns the full tensors.
    pub fn append(
        &mut self,
        key: Tensor<B, 4>,
        value: Tensor<B, 4>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        self.convert(false);
        let key = concat(self.key.take(), key, 2);
        let value = concat(self.value.take(), value, 2);
        self.key = Some(key.clone());
        self.value = Some(value.clone());
        (key, value)
    }

    /// The cached keys and values followed by `key` / `value` (`[batch, n, kv_heads, head_dim]`),
    /// in the fused path's layout, without storing them: [`Self::set_rows`] does once the
    /// attention has accepted them.
    pub fn with_rows(
        &mut self,
        key: Tensor<B, 4>,
        value: Tensor<B, 4>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        self.convert(true);
        (
            concat(self.key.clone(), key, 1),
            concat(self.value.clone(), value, 1),
        )
    }

    /// Stores the full keys and values from [`Self::with_rows`].
    pub fn set_rows(&mut self, key: Tensor<B, 4>, value: Tensor<B, 4>) {
        self.key = Some(key);
        self.value = Some(value);
        self.rows_layout = true;
    }

    /// Puts the cached tensors in the rows layout (`true`) or the heads-first one.
    fn convert(&mut self, rows_layout: bool) {
        if self.rows_layout != rows_layout {
            // [b, h, t, d] ↔ [b, t, h, d]: the same swap both ways.
            self.key = self.key.take().map(|key| key.swap_dims(1, 2));
            self.value = self.value.take().map(|value| value.swap_dims(1, 2));
            self.rows_layout = rows_layout;
        }
    }
}

impl<B: Backend> Default for LayerCache<B> {
    fn default() -> Self {
        Self::new()
    }
}

/// `past` followed by `new` along `dim` (`new` alone when nothing is cached).
fn concat<B: Backend>(past: Option<Tensor<B, 4>>, new: Tensor<B, 4>, dim: usize) -> Tensor<B, 4> {
    match past {
        Some(past) => Tensor::cat(vec![past, new], dim),
        None => new,
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
            layers: (0..num_layers).map(|_| LayerCache::new()).collect(),
            len: 0,
            batch_size,
        }
    }
}
