//! Parity with Hugging Face `transformers` on tiny random Qwen2, Qwen3 and Llama 3 checkpoints:
//! logits, next-token log-probs and entropies, a left-padded batch, and greedy decoding with the
//! KV cache.
//!
//! `tests/data/<fixture>/` holds a checkpoint written by `transformers` and `reference.json` with
//! what `transformers` computes from it in float32 (`tools/make_fixtures.py`):
//!
//! - `tied_f32`: GQA 2:1, tied embeddings, transformers-4 config layout;
//! - `untied_padded_v5`: GQA 3:1, separate `lm_head`, vocabulary padded to 448 rows beyond the
//!   tokenizer's 403, transformers-5 config layout (`rope_parameters`, `dtype`), RoPE θ = 1e6;
//! - `bf16_mqa`: one key/value head, weights stored in bfloat16, 3 layers;
//! - `qwen3_untied_v5`: Qwen3 (per-head q/k RMSNorm, `head_dim` 16 ≠ hidden / heads), untied,
//!   transformers-5 layout;
//! - `qwen3_bias_tied_v4`: Qwen3 with `attention_bias` (q/k/v/o), tied, bf16, transformers-4
//!   layout;
//! - `llama3_scaled_bias_v4`: Llama 3.1-style Llama-3 RoPE scaling over an original context of 16
//!   tokens with sequences up to 40 (so the scaled and the smoothed frequencies matter),
//!   `attention_bias` and `mlp_bias`, untied, transformers-4 layout (`rope_scaling`);
//! - `llama32_tied_v5`: Llama 3.2-style, tied, no biases, scaling in `rope_parameters`
//!   (transformers-5 layout).
//!
//! Norm weights, q/k/v biases and embeddings are perturbed, so a forgotten bias or norm weight, a
//! wrong RoPE convention or a mask that leaks padding moves the logits far beyond the tolerance.

use std::path::{Path, PathBuf};

use burn::tensor::{Int, Tensor, TensorData};
use prime_models::backend::CpuBackend;
use prime_models::{
    entropy, generate, generate_uncached, load_hf, save_hf, token_log_probs, CausalLm,
    FinishReason, Qwen2ForCausalLm, SamplingConfig, SaveDtype, TokenBatch,
};
use serde::Deserialize;

type B = CpuBackend;

/// Logits and log-probs must match `transformers` to this absolute difference.
const TOLERANCE: f32 = 1e-4;

const FIXTURES: [&str; 7] = [
    "tied_f32",
    "untied_padded_v5",
    "bf16_mqa",
    "qwen3_untied_v5",
    "qwen3_bias_tied_v4",
    "llama3_scaled_bias_v4",
    "llama32_tied_v5",
];

#[derive(Deserialize)]
struct Reference {
    vocab_size: usize,
    single: Single,
    batch: Batch,
    greedy: Vec<Greedy>,
}

#[derive(Deserialize)]
struct Single {
    input_ids: Vec<i64>,
    logits_shape: [usize; 3],
    logits: Vec<f32>,
    token_logprobs: Vec<f32>,
    entropy: Vec<f32>,
}

#[derive(Deserialize)]
struct Batch {
    input_ids: Vec<Vec<i64>>,
    attention_mask: Vec<Vec<i64>>,
    logits_shape: [usize; 3],
    logits: Vec<f32>,
    token_logprobs: Vec<f32>,
    entropy: Vec<f32>,
}

#[derive(Deserialize)]
struct Greedy {
    input_ids: Vec<Vec<i64>>,
    attention_mask: Vec<Vec<i64>>,
    max_new_tokens: usize,
    new_ids: Vec<Vec<u32>>,
    logprobs: Vec<Vec<f32>>,
}

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn load(name: &str) -> (Qwen2ForCausalLm<B>, Reference) {
    let dir = fixture_dir(name);
    let model = load_hf::<B>(&dir, &Default::default())
        .unwrap_or_else(|err| panic!("loading {}: {err}", dir.display()));
    let text = std::fs::read_to_string(dir.join("reference.json")).expect("reference.json");
    let reference: Reference = serde_json::from_str(&text).expect("reference.json parses");
    (model, reference)
}

fn int_tensor(rows: &[Vec<i64>]) -> Tensor<B, 2, Int> {
    let width = rows[0].len();
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(
        TensorData::new(flat, [rows.len(), width]),
        &Default::default(),
    )
}

fn batch(ids: &[Vec<i64>], mask: &[Vec<i64>]) -> TokenBatch<B> {
    TokenBatch {
        input_ids: int_tensor(ids),
        attention_mask: int_tensor(mask),
    }
}

fn values<const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap()
}

/// Largest `|a - b|` over the positions where `keep` is true.
fn max_abs_diff(a: &[f32], b: &[f32], keep: impl Fn(usize) -> bool) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(_, (x, y))| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn single_sequence_logits_log_probs_and_entropy_match_transformers() {
    for name in FIXTURES {
        let (model, reference) = load(name);
        assert_eq!(model.vocab_size(), reference.vocab_size, "{name}");
        let single = &reference.single;
        let mask = vec![vec![1; single.input_ids.len()]];
        let batch = batch(std::slice::from_ref(&single.input_ids), &mask);
        let logits = model.forward(&batch);
        assert_eq!(logits.dims(), single.logits_shape, "{name}");
        let logit_diff = max_abs_diff(&values(logits.clone()), &single.logits, |_| true);
        let logp = token_log_probs(logits.clone(), &batch);
        assert_eq!(logp.dims(), [1, single.input_ids.len() - 1]);
        let logp_diff = max_abs_diff(&values(logp), &single.token_logprobs, |_| true);
        let entropies = values(entropy(logits, &batch));
        let entropy_diff = max_abs_diff(&entropies, &single.entropy, |_| true);
        eprintln!(
            "{name}: single max |Δlogit| = {logit_diff:.2e}, max |Δlogp| = {logp_diff:.2e}, max |Δentropy| = {entropy_diff:.2e}"
        );
        assert!(
            logit_diff <= TOLERANCE,
            "{name}: logits differ by {logit_diff}"
        );
        assert!(
            logp_diff <= TOLERANCE,
            "{name}: log-probs differ by {logp_diff}"
        );
        assert!(
            entropy_diff <= TOLERANCE,
            "{name}: entropies differ by {entropy_diff}"
        );
    }
}

#[test]
fn left_padded_batch_matches_transformers_and_unpadded_rows() {
    for name in FIXTURES {
        let (model, reference) = load(name);
        let reference = &reference.batch;
        let batch = batch(&reference.input_ids, &reference.attention_mask);
        let logits = model.forward(&batch);
        assert_eq!(logits.dims(), reference.logits_shape);
        let [rows, seq, vocab] = reference.logits_shape;
        let mask: Vec<i64> = reference.attention_mask.iter().flatten().copied().collect();
        // Logits under padding are unspecified: compare real positions only.
        let ours = values(logits.clone());
        let logit_diff = max_abs_diff(&ours, &reference.logits, |i| mask[i / vocab] == 1);
        let logp = values(token_log_probs(logits.clone(), &batch));
        let entropies = values(entropy(logits, &batch));
        // Entry t predicts token t+1 from position t. Where position t is padding (a row's first
        // real token) the value is unspecified; everywhere else it must match.
        let predicted_from_real = |t: usize| mask[(t / (seq - 1)) * seq + t % (seq - 1)] == 1;
        let logp_diff = max_abs_diff(&logp, &reference.token_logprobs, predicted_from_real);
        let entropy_diff = max_abs_diff(&entropies, &reference.entropy, predicted_from_real);
        eprintln!(
            "{name}: batch max |Δlogit| = {logit_diff:.2e}, max |Δlogp| = {logp_diff:.2e}, max |Δentropy| = {entropy_diff:.2e}"
        );
        assert!(
            logit_diff <= TOLERANCE,
            "{name}: logits differ by {logit_diff}"
        );
        assert!(
            logp_diff <= TOLERANCE,
            "{name}: log-probs differ by {logp_diff}"
        );
        assert!(
            entropy_diff <= TOLERANCE,
            "{name}: entropies differ by {entropy_diff}"
        );
        for (t, (value, h)) in logp.iter().zip(&entropies).enumerate() {
            let (row, col) = (t / (seq - 1), t % (seq - 1));
            // Entries whose target is padding are exactly 0.
            if reference.attention_mask[row][col + 1] == 0 {
                assert_eq!(*value, 0.0, "{name}: masked log-prob [{row}, {col}]");
                assert_eq!(*h, 0.0, "{name}: masked entropy [{row}, {col}]");
            }
        }

        // Each row equals the same tokens run alone without padding.
        for row in 0..rows {
            let real: Vec<i64> = reference.input_ids[row]
                .iter()
                .zip(&reference.attention_mask[row])
                .filter(|(_, &m)| m == 1)
                .map(|(&id, _)| id)
                .collect();
            let alone = values(model.forward(&self::batch(
                std::slice::from_ref(&real),
                &[vec![1; real.len()]],
            )));
            let offset = (seq - real.len()) * vocab;
            let padded_row = &ours[row * seq * vocab + offset..(row + 1) * seq * vocab];
            let diff = max_abs_diff(padded_row, &alone, |_| true);
            assert!(
                diff <= TOLERANCE,
                "{name}: row {row} differs from unpadded by {diff}"
            );
        }
    }
}

fn greedy_config(max_new_tokens: usize) -> SamplingConfig {
    SamplingConfig {
        max_new_tokens,
        greedy: true,
        ..SamplingConfig::default()
    }
}

#[test]
fn greedy_continuation_with_kv_cache_matches_transformers() {
    for name in FIXTURES {
        let (model, reference) = load(name);
        for case in &reference.greedy {
            let prompts = batch(&case.input_ids, &case.attention_mask);
            let config = greedy_config(case.max_new_tokens);
            let generation = generate(&model, &prompts, &config, 0);
            assert_eq!(generation.tokens, case.new_ids, "{name}: greedy tokens");
            assert!(generation
                .finish_reasons
                .iter()
                .all(|r| *r == FinishReason::Length));
            let ours: Vec<f32> = generation.logprobs.iter().flatten().copied().collect();
            let theirs: Vec<f32> = case.logprobs.iter().flatten().copied().collect();
            let diff = max_abs_diff(&ours, &theirs, |_| true);
            eprintln!("{name}: greedy max |Δlogp| = {diff:.2e}");
            assert!(
                diff <= TOLERANCE,
                "{name}: greedy log-probs differ by {diff}"
            );

            let uncached = generate_uncached(&model, &prompts, &config, 0);
            assert_eq!(
                uncached.tokens, generation.tokens,
                "{name}: cache vs no cache"
            );
        }
    }
}

#[test]
fn a_stop_token_ends_its_row_only() {
    let (model, reference) = load("untied_padded_v5");
    let case = &reference.greedy[0];
    // Stop on the third token transformers produced for row 0; row 1 must go on unchanged
    // unless it produces that token too.
    let stop = case.new_ids[0][2];
    let config = SamplingConfig {
        stop_token_ids: vec![stop],
        ..greedy_config(case.max_new_tokens)
    };
    let generation = generate(
        &model,
        &batch(&case.input_ids, &case.attention_mask),
        &config,
        0,
    );
    for (row, expected) in case.new_ids.iter().enumerate() {
        let cut = expected
            .iter()
            .position(|&t| t == stop)
            .map_or(expected.len(), |i| i + 1);
        assert_eq!(generation.tokens[row], expected[..cut], "row {row}");
        let reason = if cut < expected.len() || expected.get(cut - 1) == Some(&stop) {
            FinishReason::Stop
        } else {
            FinishReason::Length
        };
        assert_eq!(generation.finish_reasons[row], reason, "row {row}");
    }
}

/// `save_hf` writes a checkpoint that loads back to the same model. With `PRIME_SAVE_DIR` set,
/// the saved checkpoints stay there (`<fixture>_f32`, `<fixture>_bf16`) for
/// `tools/check_examples.py --saved`, which loads them in `transformers`.
#[test]
fn saved_checkpoints_load_back_to_the_same_logits() {
    let keep = std::env::var_os("PRIME_SAVE_DIR").map(PathBuf::from);
    let root = keep
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("prime-save-{}", std::process::id())));
    for name in FIXTURES {
        let (model, reference) = load(name);
        let single = &reference.single;
        let mask = vec![vec![1; single.input_ids.len()]];
        let batch = batch(std::slice::from_ref(&single.input_ids), &mask);
        for (dtype, suffix) in [(SaveDtype::F32, "f32"), (SaveDtype::Bf16, "bf16")] {
            let dir = root.join(format!("{name}_{suffix}"));
            save_hf(&model, &dir, dtype).unwrap();
            for file in ["tokenizer.json", "tokenizer_config.json", "reference.json"] {
                std::fs::copy(fixture_dir(name).join(file), dir.join(file)).unwrap();
            }
            let reloaded = load_hf::<B>(&dir, &Default::default()).unwrap();
            let logits = values(reloaded.forward(&batch));
            let diff = max_abs_diff(&logits, &single.logits, |_| true);
            // bf16 keeps 8 bits of mantissa: the logits move, but only by rounding noise.
            let tolerance = if dtype == SaveDtype::F32 {
                TOLERANCE
            } else {
                0.5
            };
            eprintln!("{name}: saved as {suffix}, reloaded max |Δlogit| = {diff:.2e}");
            assert!(
                diff <= tolerance,
                "{name} {suffix}: reloaded logits differ by {diff}"
            );
        }
    }
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
}
