//! The narrow interface every consumer of a language model uses: the implicit PRM, the reference
//! model and the trainer call these methods without knowing the architecture behind them.

use burn::tensor::{backend::Backend, Int, Tensor};

/// A batch of token sequences, left-padded to a common length.
///
/// `attention_mask[b, t] = 1` where `input_ids[b, t]` is a real token and `0` for padding.
/// Padding may sit on the left (prompts) and on the right (finished responses); position ids are
/// always derived from the mask as `cumsum(mask) - 1`, so a row's first real token has position 0.
#[derive(Debug, Clone)]
pub struct TokenBatch<B: Backend> {
    /// `[batch, seq]` token ids; the id stored under padding is irrelevant.
    pub input_ids: Tensor<B, 2, Int>,
    /// `[batch, seq]` 1 for real tokens, 0 for padding.
    pub attention_mask: Tensor<B, 2, Int>,
}

/// A causal (decoder-only) language model.
///
/// Implemented by [`crate::Qwen2ForCausalLm`]. Everything that only runs a model — log-probs and
/// entropy ([`crate::response_scores`]), sampling ([`crate::generate`]), the implicit PRM's
/// scores — needs this trait alone. To train a new architecture with `prime-trainer`, a fork
/// writes one module whose model type (a burn `Module`) implements this trait and
/// [`crate::PretrainedLm`] (load and save its Hugging Face layout, build from a
/// [`crate::ScratchArchitecture`]), then adds its variant to [`crate::ModelFamily`] with its arm
/// in [`crate::ModelFamily::dispatch`]; a config then picks it by `config.json`'s `model_type` or
/// `[model.scratch] family`.
pub trait CausalLm<B: Backend> {
    /// The key/value cache for incremental decoding.
    type Cache;

    /// Number of rows of the output projection (may exceed the tokenizer's vocabulary).
    fn vocab_size(&self) -> usize;

    /// Logits for every position of a padded batch: `[batch, seq, vocab]`.
    ///
    /// `logits[b, t]` is the distribution of the token after `input_ids[b, ..=t]`.
    fn forward(&self, batch: &TokenBatch<B>) -> Tensor<B, 3>;

    /// An empty cache for `batch_size` rows that can hold up to `capacity` positions.
    fn new_cache(&self, batch_size: usize, capacity: usize) -> Self::Cache;

    /// One incremental step: run `new_ids` (`[batch, n]`, appended after what `cache` holds) and
    /// return their logits `[batch, n, vocab]`, extending `cache` with their keys and values.
    ///
    /// `attention_mask` (`[batch, cached + n]`) covers the cached positions and the new ones.
    fn forward_step(
        &self,
        new_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
        cache: &mut Self::Cache,
    ) -> Tensor<B, 3>;

    /// The final hidden states of [`Self::forward`] and the LM head that maps them to its
    /// logits, so that [`crate::response_scores`] can score tokens chunk by chunk without ever
    /// holding `[batch, seq, vocab]` logits (`logits = hidden · head`, no bias).
    ///
    /// `None` (the default): the model does not expose them, and scoring falls back to
    /// [`Self::forward`]. A model that overrides this must keep it consistent with `forward`.
    fn hidden_states(&self, batch: &TokenBatch<B>) -> Option<HiddenStates<B>> {
        let _ = batch;
        None
    }
}

/// What [`CausalLm::hidden_states`] returns: `forward(batch) = hidden · head`.
#[derive(Debug, Clone)]
pub struct HiddenStates<B: Backend> {
    /// `[batch, seq, hidden]`: the input of the LM head at every position.
    pub hidden: Tensor<B, 3>,
    /// `[hidden, vocab]`: the LM head as a matrix (for tied embeddings, the embedding matrix
    /// transposed), differentiable with respect to the parameter it comes from.
    pub head: Tensor<B, 2>,
}
