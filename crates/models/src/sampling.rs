//! Batched autoregressive sampling with a KV cache.
//!
//! Each step turns the last logits of every unfinished row into a token on the host. First the
//! vocabulary is masked: only ids below `vocab_limit` can be drawn (see below). Then greedy
//! (`argmax`), or a draw (one seeded generator per row) from `softmax(logits / temperature)`
//! restricted to the `top_k` most likely tokens and then to the smallest set of most likely
//! tokens whose probability reaches `top_p` (the order of Hugging Face's logits warpers). The RNG
//! is seeded, so a seed reproduces a generation exactly. A row stops at its first stop token
//! (kept in its output) or after `max_new_tokens`; finished rows are fed padding (mask 0) while
//! the others go on.
//!
//! **The vocabulary mask.** A checkpoint's embedding often has more rows than its tokenizer has
//! ids (Qwen2.5: 151,936 rows, 151,665 ids), padded for matmul speed. The padding rows are never
//! trained towards and have no text, yet they keep some probability; over millions of tokens at
//! temperature 1 one is drawn, and the response cannot be decoded. With
//! [`SamplingConfig::vocab_limit`] set (every caller passes its tokenizer's
//! [`crate::Tokenizer::vocab_size`]), the logits of ids `≥ vocab_limit` are dropped before
//! temperature, top-k and top-p: the draw, the arg-max and the returned log-probs are all those
//! of `softmax` over the ids `< vocab_limit`. The same limit on a [`crate::ResponseBatch`] makes
//! [`crate::response_scores`] use that distribution, so the log-probs PPO compares are over what
//! was sampled from. The mask runs on the host, after the logits are read back, so it is the same
//! for every backend.

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::{CausalLm, TokenBatch};

/// How to pick each new token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingConfig {
    /// Upper bound on new tokens per row.
    pub max_new_tokens: usize,
    /// Softmax temperature; `≤ 0` means greedy.
    pub temperature: f32,
    /// Keep only the `k` most likely tokens (`None`: no limit).
    pub top_k: Option<usize>,
    /// Nucleus sampling: keep the most likely tokens up to cumulative probability `top_p`
    /// (`1.0`: no limit).
    pub top_p: f32,
    /// Always take the most likely token (ties: the lowest id).
    pub greedy: bool,
    /// Tokens that end a row (included in its output).
    pub stop_token_ids: Vec<u32>,
    /// Token fed to finished rows (its attention mask is 0, so its value never matters).
    pub pad_token_id: u32,
    /// Only ids `< vocab_limit` can be drawn: the tokenizer's size, so that no padding row of the
    /// embedding is ever sampled (module docs). `None` (or a limit `≥` the model's vocabulary)
    /// masks nothing; at least id 0 always stays allowed.
    pub vocab_limit: Option<usize>,
}

impl Default for SamplingConfig {
    /// The rollout defaults of docs/algorithm.md §2: temperature 1, top-p 1, top-k off.
    fn default() -> Self {
        Self {
            max_new_tokens: 64,
            temperature: 1.0,
            top_k: None,
            top_p: 1.0,
            greedy: false,
            stop_token_ids: Vec::new(),
            pad_token_id: 0,
            vocab_limit: None,
        }
    }
}

/// Why a row stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FinishReason {
    /// It produced a stop token.
    Stop,
    /// It reached `max_new_tokens`.
    Length,
}

/// The result of [`generate`], one entry per prompt row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// New token ids per row, including the stop token when one was produced.
    pub tokens: Vec<Vec<u32>>,
    /// Why each row ended.
    pub finish_reasons: Vec<FinishReason>,
    /// Per new token, its log-probability under `softmax(logits / temperature)` over the ids
    /// below `vocab_limit` (temperature 1 when greedy), before top-k / top-p truncation.
    /// Informational: training recomputes log-probs with the training model.
    pub logprobs: Vec<Vec<f32>>,
}

impl Generation {
    /// Number of new tokens per row.
    pub fn lengths(&self) -> Vec<usize> {
        self.tokens.iter().map(Vec::len).collect()
    }
}

/// Samples continuations of the left-padded `prompts` with the KV cache.
pub fn generate<B: Backend, M: CausalLm<B>>(
    model: &M,
    prompts: &TokenBatch<B>,
    config: &SamplingConfig,
    seed: u64,
) -> Generation {
    let [batch, prompt_len] = prompts.input_ids.dims();
    let mut cache = model.new_cache(batch, prompt_len + config.max_new_tokens);
    let mut seen = 0;
    let mut step = |ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Int>| {
        let total = ids.dims()[1];
        let new_ids = ids.slice([0..batch, seen..total]);
        seen = total;
        last_position(model.forward_step(new_ids, mask, &mut cache))
    };
    run(prompts, config, row_rngs(seed, batch), &mut step)
}

/// [`generate`] with one seed per row (`row_seeds`: `[batch]`): row `i` draws from a generator
/// seeded `row_seeds[i]` alone, so its response does not depend on which rows share its batch
/// (data-parallel ranks and one process sample the same responses for the same prompt).
/// A seed count other than the batch's rows is an error.
pub fn generate_rows<B: Backend, M: CausalLm<B>>(
    model: &M,
    prompts: &TokenBatch<B>,
    config: &SamplingConfig,
    row_seeds: &[u64],
) -> Result<Generation, crate::ModelError> {
    let [batch, prompt_len] = prompts.input_ids.dims();
    if row_seeds.len() != batch {
        return Err(crate::ModelError::Batch(format!(
            "{} row seeds for a batch of {batch} rows",
            row_seeds.len()
        )));
    }
    let rngs = row_seeds
        .iter()
        .map(|&s| StdRng::seed_from_u64(s))
        .collect();
    let mut cache = model.new_cache(batch, prompt_len + config.max_new_tokens);
    let mut seen = 0;
    let mut step = |ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Int>| {
        let total = ids.dims()[1];
        let new_ids = ids.slice([0..batch, seen..total]);
        seen = total;
        last_position(model.forward_step(new_ids, mask, &mut cache))
    };
    Ok(run(prompts, config, rngs, &mut step))
}

/// One generator per row, drawn from `seed`: a row's draws do not depend on when the other
/// rows finish.
fn row_rngs(seed: u64, batch: usize) -> Vec<StdRng> {
    let mut master = StdRng::seed_from_u64(seed);
    (0..batch).map(|_| StdRng::from_rng(&mut master)).collect()
}

/// The same sampling as [`generate`] but re-running the whole sequence every step, without a
/// cache: a slow reference that the cached path must match token for token.
pub fn generate_uncached<B: Backend, M: CausalLm<B>>(
    model: &M,
    prompts: &TokenBatch<B>,
    config: &SamplingConfig,
    seed: u64,
) -> Generation {
    let mut step = |ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Int>| {
        let logits = model.forward(&TokenBatch {
            input_ids: ids,
            attention_mask: mask,
        });
        last_position(logits)
    };
    let batch = prompts.input_ids.dims()[0];
    run(prompts, config, row_rngs(seed, batch), &mut step)
}

/// `[batch, n, vocab]` → the last position's logits, flattened on the host (`batch · vocab`).
fn last_position<B: Backend>(logits: Tensor<B, 3>) -> (Vec<f32>, usize) {
    let [batch, n, vocab] = logits.dims();
    let last = logits.slice([0..batch, n - 1..n, 0..vocab]);
    let values = last
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap_or_default();
    (values, vocab)
}

/// The decoding loop. `step(ids, mask)` receives the whole sequence so far (`[batch, len]`)
/// and its mask, and returns the logits of the last position; the cached step only runs the
/// positions it has not seen.
fn run<B: Backend, F>(
    prompts: &TokenBatch<B>,
    config: &SamplingConfig,
    mut rngs: Vec<StdRng>,
    step: &mut F,
) -> Generation
where
    F: FnMut(Tensor<B, 2, Int>, Tensor<B, 2, Int>) -> (Vec<f32>, usize),
{
    let [batch, _] = prompts.input_ids.dims();
    let device = prompts.input_ids.device();
    let mut tokens = vec![Vec::new(); batch];
    let mut logprobs = vec![Vec::new(); batch];
    let mut finish: Vec<Option<FinishReason>> = vec![None; batch];
    if config.max_new_tokens == 0 {
        return Generation {
            tokens,
            finish_reasons: vec![FinishReason::Length; batch],
            logprobs,
        };
    }
    let mut ids = prompts.input_ids.clone();
    let mut mask = prompts.attention_mask.clone();
    let (mut logits, mut vocab) = step(ids.clone(), mask.clone());
    let greedy = config.greedy || config.temperature <= 0.0;
    for produced in 0..config.max_new_tokens {
        let allowed = allowed_vocab(config.vocab_limit, vocab);
        let mut next_ids = Vec::with_capacity(batch);
        let mut next_mask = Vec::with_capacity(batch);
        for row in 0..batch {
            if finish[row].is_some() {
                next_ids.push(config.pad_token_id as i64);
                next_mask.push(0i64);
                continue;
            }
            let row_logits = &logits[row * vocab..row * vocab + allowed];
            let (token, logprob) = if greedy {
                pick_greedy(row_logits)
            } else {
                pick_sampled(row_logits, config, &mut rngs[row])
            };
            tokens[row].push(token);
            logprobs[row].push(logprob);
            if config.stop_token_ids.contains(&token) {
                finish[row] = Some(FinishReason::Stop);
            }
            next_ids.push(token as i64);
            next_mask.push(1i64);
        }
        let done = finish.iter().all(Option::is_some) || produced + 1 == config.max_new_tokens;
        if done {
            break;
        }
        let new_ids =
            Tensor::<B, 2, Int>::from_data(TensorData::new(next_ids, [batch, 1]), &device);
        let new_mask =
            Tensor::<B, 2, Int>::from_data(TensorData::new(next_mask, [batch, 1]), &device);
        ids = Tensor::cat(vec![ids, new_ids], 1);
        mask = Tensor::cat(vec![mask, new_mask], 1);
        (logits, vocab) = step(ids.clone(), mask.clone());
    }
    Generation {
        tokens,
        finish_reasons: finish
            .into_iter()
            .map(|reason| reason.unwrap_or(FinishReason::Length))
            .collect(),
        logprobs,
    }
}

/// How many ids, from 0, a model with `vocab` output rows may produce under `vocab_limit`: the
/// one definition of the vocabulary mask, shared by the sampler and [`crate::response_scores`].
pub(crate) fn allowed_vocab(vocab_limit: Option<usize>, vocab: usize) -> usize {
    vocab_limit.map_or(vocab, |limit| limit.clamp(1, vocab.max(1)))
}

/// `log Σ exp(x / temperature)`, max-shifted.
fn log_sum_exp(logits: &[f32], temperature: f32) -> f64 {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
    let t = temperature as f64;
    let sum: f64 = logits.iter().map(|&x| ((x as f64 - max) / t).exp()).sum();
    max / t + sum.ln()
}

/// The arg-max (lowest id on ties) and its log-probability.
fn pick_greedy(logits: &[f32]) -> (u32, f32) {
    let mut best = 0;
    for (i, &x) in logits.iter().enumerate() {
        if x > logits[best] {
            best = i;
        }
    }
    let logprob = logits[best] as f64 - log_sum_exp(logits, 1.0);
    (best as u32, logprob as f32)
}

/// A draw from the temperature-scaled distribution truncated by top-k then top-p.
fn pick_sampled(logits: &[f32], config: &SamplingConfig, rng: &mut StdRng) -> (u32, f32) {
    let t = config.temperature as f64;
    let lse = log_sum_exp(logits, config.temperature);
    let log_p = |i: usize| logits[i] as f64 / t - lse;
    let truncate_k = config.top_k.filter(|&k| k > 0 && k < logits.len());
    let truncate_p = config.top_p < 1.0;
    let candidates: Vec<usize> = if truncate_k.is_none() && !truncate_p {
        (0..logits.len()).collect()
    } else {
        let mut order: Vec<usize> = (0..logits.len()).collect();
        // Most likely first; ties by id, so the order (and the draw) is deterministic.
        let by_logit = |a: &usize, b: &usize| logits[*b].total_cmp(&logits[*a]).then(a.cmp(b));
        if let Some(k) = truncate_k {
            order.select_nth_unstable_by(k - 1, by_logit);
            order.truncate(k);
        }
        order.sort_by(by_logit);
        if truncate_p {
            // Probabilities renormalised over the top-k survivors, as HF's warpers see them.
            let kept_lse = log_sum_exp_of(&order, &log_p);
            let mut cumulative = 0.0;
            let mut keep = order.len();
            for (rank, &i) in order.iter().enumerate() {
                cumulative += (log_p(i) - kept_lse).exp();
                if cumulative >= config.top_p as f64 {
                    keep = rank + 1;
                    break;
                }
            }
            order.truncate(keep.max(1));
        }
        order
    };
    let kept_lse = log_sum_exp_of(&candidates, &log_p);
    let u: f64 = rng.random();
    let mut cumulative = 0.0;
    let mut chosen = *candidates.last().unwrap_or(&0);
    for &i in &candidates {
        cumulative += (log_p(i) - kept_lse).exp();
        if u < cumulative {
            chosen = i;
            break;
        }
    }
    (chosen as u32, log_p(chosen) as f32)
}

fn log_sum_exp_of(indices: &[usize], log_p: &dyn Fn(usize) -> f64) -> f64 {
    let max = indices
        .iter()
        .map(|&i| log_p(i))
        .fold(f64::NEG_INFINITY, f64::max);
    max + indices
        .iter()
        .map(|&i| (log_p(i) - max).exp())
        .sum::<f64>()
        .ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    type B = Flex;

    /// Logits over 4 ids where id 3 (a padding row past a 3-id tokenizer) dominates:
    /// `softmax` over ids 0..3 alone is `[1/5, 3/5, 1/5]`.
    const LOGITS: [f32; 4] = [0.0, 1.098_612_3 /* ln 3 */, 0.0, 10.0];

    /// Runs the decoding loop with every row seeing [`LOGITS`] at every step.
    fn sample(rows: usize, config: &SamplingConfig, seed: u64) -> Generation {
        let device = Default::default();
        let prompts = TokenBatch::<B> {
            input_ids: Tensor::zeros([rows, 1], &device),
            attention_mask: Tensor::ones([rows, 1], &device),
        };
        let mut step = |ids: Tensor<B, 2, Int>, _mask: Tensor<B, 2, Int>| {
            let batch = ids.dims()[0];
            (LOGITS.repeat(batch), LOGITS.len())
        };
        run(&prompts, config, row_rngs(seed, rows), &mut step)
    }

    fn config(vocab_limit: Option<usize>) -> SamplingConfig {
        SamplingConfig {
            max_new_tokens: 1,
            vocab_limit,
            ..SamplingConfig::default()
        }
    }

    #[test]
    fn greedy_takes_the_argmax_below_the_limit() {
        let greedy = |limit| SamplingConfig {
            greedy: true,
            ..config(limit)
        };
        let unmasked = sample(1, &greedy(None), 0);
        assert_eq!(unmasked.tokens, [[3]]);
        let masked = sample(1, &greedy(Some(3)), 0);
        assert_eq!(masked.tokens, [[1]]);
        // log(3/5): the log-prob is of the masked distribution.
        assert!((masked.logprobs[0][0] - (0.6f32).ln()).abs() < 1e-6);
    }

    #[test]
    fn draws_never_reach_the_masked_ids_and_follow_the_masked_distribution() {
        let rows = 4000;
        let unmasked = sample(rows, &config(None), 1);
        // Unmasked, id 3 has probability e^10 / (e^10 + 5) ≈ 0.99977.
        let padding = unmasked.tokens.iter().filter(|t| t[0] == 3).count();
        assert!(padding > rows * 99 / 100, "{padding} of {rows}");

        let masked = sample(rows, &config(Some(3)), 1);
        let mut counts = [0usize; 4];
        for (tokens, logprobs) in masked.tokens.iter().zip(&masked.logprobs) {
            counts[tokens[0] as usize] += 1;
            let expected = if tokens[0] == 1 { 0.6f32 } else { 0.2 }.ln();
            assert!((logprobs[0] - expected).abs() < 1e-6);
        }
        assert_eq!(counts[3], 0);
        let share = counts[1] as f64 / rows as f64;
        // Binomial(4000, 0.6): standard deviation ≈ 0.0077.
        assert!((share - 0.6).abs() < 0.04, "share of id 1: {share}");
    }

    #[test]
    fn top_k_and_top_p_apply_after_the_mask() {
        let top1 = SamplingConfig {
            top_k: Some(1),
            ..config(Some(3))
        };
        assert!(sample(50, &top1, 2).tokens.iter().all(|t| t[0] == 1));
        // Masked probabilities [0.2, 0.6, 0.2]: the nucleus of mass 0.5 is id 1 alone.
        let nucleus = SamplingConfig {
            top_p: 0.5,
            ..config(Some(3))
        };
        assert!(sample(50, &nucleus, 3).tokens.iter().all(|t| t[0] == 1));
    }

    #[test]
    fn a_limit_outside_the_vocabulary_is_clamped() {
        assert_eq!(allowed_vocab(None, 4), 4);
        assert_eq!(allowed_vocab(Some(3), 4), 3);
        assert_eq!(allowed_vocab(Some(9), 4), 4);
        assert_eq!(allowed_vocab(Some(0), 4), 1);
        let greedy = SamplingConfig {
            greedy: true,
            ..config(Some(0))
        };
        assert_eq!(sample(1, &greedy, 0).tokens, [[0]]);
    }
}
