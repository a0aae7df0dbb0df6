//! What one forward under autodiff keeps for the backward pass, counted from the ops our
//! decoder runs (`crates/models/src`: `rms_norm.rs`, `attention.rs`, `rotary.rs`, `mlp.rs`,
//! `decoder_layer.rs`, `lora.rs`) and what burn-autodiff 0.21 saves for each: a product `a·b`
//! keeps `a` only when `b` needs a gradient and `b` only when `a` does; `exp`, `sigmoid` and
//! `sqrt` keep one tensor; sums, slices, reshapes, `+`, `−` and scalar products keep none. A
//! frozen weight (every base weight under LoRA) therefore never makes its input be kept, and
//! RoPE (products with the constant `cos`/`sin` tables) keeps nothing.
//!
//! Per token, per decoder layer, in f32 elements (`h` hidden, `H·d` all query heads, `K·d` all
//! key heads, `I` MLP width, `n` sequence length, `r` LoRA rank):
//!
//! | kept tensor | full fine-tuning | LoRA |
//! |---|---|---|
//! | both norms' inputs `x` (for `x²` and `x·rms⁻¹`) | `2h` | `2h` |
//! | both norms' `x·rms⁻¹` (for the norm weight's gradient) | `2h` | — |
//! | attention norm output (lhs of q/k/v) | `h` | `h` if q, k or v is adapted |
//! | MLP norm output (lhs of gate/up) | `h` | `h` if gate or up is adapted |
//! | rotated `q`, repeated `k` and `v` (the two attention products) | `3·H·d` | `3·H·d` |
//! | the context copied to `[n, H·d]` (lhs of o) | `H·d` | `H·d` if o is adapted |
//! | `exp(s − max)` and the softmax (`H` rows of `n` scores) | `2·H·n` | `2·H·n` |
//! | `gate`, `σ(gate)`, `silu(gate)`, `up` | `4I` | `4I` |
//! | `silu(gate)·up` (lhs of down) | `I` | `I` if down is adapted |
//! | per-head q/k norms (Qwen3): inputs and normalised | `2(H·d + K·d)` | `H·d + K·d` |
//! | each adapter's `x·A` | — | `r` per adapted projection |
//!
//! so full fine-tuning of a Qwen2 layer keeps `6h + 4·H·d + 2·H·n + 5I` elements per token. The
//! per-token scalars (`rms⁻¹`, softmax sums) are left out. After the last layer: the final
//! norm's input (and, fully fine-tuned, its `x·rms⁻¹` and output: `3h`, LoRA `h`).
//!
//! A bf16 base is upcast to f32 per product (`AdaptedLinear::forward`); the product keeps that
//! f32 copy for the input's gradient, so each layer in the graph also holds `4 ·` its projection
//! weights in bytes.
//!
//! With `memory.checkpoint_activations`, only each layer's input (`h` per token per layer) is
//! kept and one layer at a time is recomputed in the backward: `L·h + (one layer's set)`. That is
//! what the PPO and PRM updates do (`prime_models::training_scores`, per-layer recomputation).

use prime_models::{LoraConfig, LoraTarget};

use super::architecture::Architecture;

/// Bytes of one activation element (the decoder computes in f32).
pub const ACTIVATION_BYTES: u64 = 4;

/// How the model's parameters are trained, which decides what the backward needs.
#[derive(Debug, Clone, Copy)]
pub enum Tracking<'a> {
    /// Every parameter has a gradient.
    Full,
    /// Only the adapters of these targets do; the base is frozen.
    Lora(&'a LoraConfig),
}

impl Tracking<'_> {
    fn trains(&self, target: LoraTarget) -> bool {
        match self {
            Tracking::Full => true,
            Tracking::Lora(lora) => lora.targets.contains(&target),
        }
    }
}

/// Elements one token keeps in one decoder layer for the backward, for sequences of `seq`
/// positions (the table of the module docs).
pub fn kept_per_token_layer(arch: &Architecture, seq: u64, tracking: Tracking) -> u64 {
    use LoraTarget::*;
    let full = matches!(tracking, Tracking::Full);
    let trains = |targets: &[LoraTarget]| targets.iter().any(|&t| tracking.trains(t));
    let when = |kept: bool, elements: u64| if kept { elements } else { 0 };
    let (h, q, kv, i) = (
        arch.hidden,
        arch.q_width(),
        arch.kv_width(),
        arch.intermediate,
    );
    let norms = 2 * h + when(full, 2 * h);
    let norm_outputs =
        when(trains(&[QProj, KProj, VProj]), h) + when(trains(&[GateProj, UpProj]), h);
    let attention = 3 * q + when(trains(&[OProj]), q) + 2 * arch.heads * seq;
    let mlp = 4 * i + when(trains(&[DownProj]), i);
    let qk_norm = when(arch.qk_norm, if full { 2 * (q + kv) } else { q + kv });
    let adapters = match tracking {
        Tracking::Full => 0,
        Tracking::Lora(lora) => lora.rank as u64 * lora.targets.len() as u64,
    };
    norms + norm_outputs + attention + mlp + qk_norm + adapters
}

/// Elements per token kept after the last layer: the final norm's input, plus (fully
/// fine-tuned) its `x·rms⁻¹` and output, the LM head's input.
pub fn kept_per_token_head(arch: &Architecture, tracking: Tracking) -> u64 {
    match tracking {
        Tracking::Full => 3 * arch.hidden,
        Tracking::Lora(_) => arch.hidden,
    }
}

/// Bytes of saved activations of one forward over `rows` sequences of `seq` positions, with the
/// f32 copies of a bf16 base (`upcast`) held per layer in the graph.
pub fn activation_bytes(
    arch: &Architecture,
    rows: u64,
    seq: u64,
    tracking: Tracking,
    checkpoint: bool,
    upcast: bool,
) -> u64 {
    let tokens = rows * seq;
    let layer = kept_per_token_layer(arch, seq, tracking);
    let head = kept_per_token_head(arch, tracking);
    let (per_token, layers_in_graph) = if checkpoint {
        (arch.layers * arch.hidden + layer + head, 1)
    } else {
        (arch.layers * layer + head, arch.layers)
    };
    let copies = if upcast {
        layers_in_graph * arch.projection_weights_per_layer() * 4
    } else {
        0
    };
    tokens * per_token * ACTIVATION_BYTES + copies
}

/// Bytes of `[positions, vocab]` f32 tensors alive while token log-probs are computed for `rows`
/// sequences of `seq` positions, `response` of them scored: unchunked (`chunk = 0`), the LM
/// head's output over every position plus what the log-softmax keeps over the response
/// positions (`exp(z − max)`, and with the entropy also `log p` and `p`: `kept` tensors);
/// chunked, `chunk` positions of the LM head's output plus the `kept` tensors of those positions.
pub fn logit_bytes(
    arch: &Architecture,
    rows: u64,
    seq: u64,
    response: u64,
    chunk: u64,
    kept: u64,
) -> u64 {
    let positions = if chunk == 0 {
        rows * seq + kept * rows * response
    } else {
        (1 + kept) * chunk.min(rows * seq)
    };
    positions * arch.vocab * ACTIVATION_BYTES
}
