//! Sampling's memory: the key/value cache of a batch of rows and what decoding holds besides it.
//!
//! `crates/models/src/cache.rs` keeps, per layer, keys and values `[rows, K, t, d]` after
//! RoPE, appended by concatenation. So for `rows` sequences of `P` prompt and `R` response
//! positions (`T = P + R`), in f32 (4 bytes):
//!
//! - the cache when full: `L · 2 · K·d · T · rows · 4`;
//! - the prefill (all `P` prompt positions at once) also holds the logits of every prompt
//!   position (`rows · P · V · 4`; `forward_step` returns them all, sampling reads the last),
//!   after one layer's scores and softmax (`2 · rows · H · P² · 4`) have been freed: the larger
//!   of the two, with the cache holding `P` positions;
//! - each decoding step, in one layer at a time, the concatenation's new keys and values next to
//!   the old (`2 · K·d · T · rows · 4`) and the keys and values repeated to the `H` query heads
//!   (`2 · H·d · T · rows · 4`, grouped-query attention only).
//!
//! The peak is the larger of the prefill's and the last decoding step's.

use super::activations::ACTIVATION_BYTES;
use super::architecture::Architecture;

/// Bytes of sampling `rows` sequences of `prompt` + `response` positions (module docs).
pub fn sampling_bytes(arch: &Architecture, rows: u64, prompt: u64, response: u64) -> u64 {
    let total = prompt + response;
    let cache = |positions: u64| arch.layers * 2 * arch.kv_width() * positions * rows;
    let prefill_logits = rows * prompt * arch.vocab;
    let prefill_scores = 2 * rows * arch.heads * prompt * prompt;
    let prefill = cache(prompt) + prefill_logits.max(prefill_scores);
    let repeated = if arch.heads > arch.kv_heads {
        2 * arch.q_width() * total * rows
    } else {
        0
    };
    let decode = cache(total) + 2 * arch.kv_width() * total * rows + repeated;
    prefill.max(decode) * ACTIVATION_BYTES
}

/// Bytes of the full cache alone (`L · 2 · K·d · T · rows · 4`).
pub fn cache_bytes(arch: &Architecture, rows: u64, positions: u64) -> u64 {
    arch.layers * 2 * arch.kv_width() * positions * rows * ACTIVATION_BYTES
}
