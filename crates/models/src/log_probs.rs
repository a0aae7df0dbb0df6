//! Per-token log-probabilities and entropies of a causal LM's logits, aligned with the tokens
//! they predict.
//!
//! Both functions return `[batch, seq − 1]`: entry `t` belongs to the prediction of token `t + 1`
//! from `input_ids[..=t]` (`logits[:, t]`), and is 0 where `attention_mask[t + 1] = 0`. Both are
//! differentiable under an autodiff backend and computed from a max-shifted log-softmax, so
//! large logits neither overflow nor lose precision.

use burn::tensor::{activation::log_softmax, backend::Backend, Int, Tensor};

use crate::chunked_response::chunked_response_scores;
use crate::fused::fused_kernels_enabled;
use crate::log_probs_fused::{fused_next_token_scores, NextTokenScores};
use crate::response_scores::ResponseScores;
use crate::sampling::allowed_vocab;
use crate::{CausalLm, ModelError, ResponseBatch, ResponseDims, TokenBatch};

/// `log p(input_ids[t+1] | input_ids[..=t])` for every `t < seq − 1`, 0 on padded targets.
///
/// `logits`: `[batch, seq, vocab]` from [`crate::CausalLm::forward`] on `batch`.
/// Returns `[batch, seq − 1]`. Target ids under padding are ignored (they may be any value).
pub fn token_log_probs<B: Backend>(logits: Tensor<B, 3>, batch: &TokenBatch<B>) -> Tensor<B, 2> {
    next_token_scores(logits, batch, false).0
}

/// Entropy `H_t = −Σ_v p_t(v) log p_t(v)` of the distribution predicting token `t + 1`, in nats.
///
/// Same alignment and masking as [`token_log_probs`]: `[batch, seq − 1]`.
pub fn entropy<B: Backend>(logits: Tensor<B, 3>, batch: &TokenBatch<B>) -> Tensor<B, 2> {
    let [rows, _, _] = logits.dims();
    let device = logits.device();
    next_token_scores(logits, batch, true)
        .1
        .unwrap_or_else(|| Tensor::zeros([rows, 0], &device))
}

/// One forward of `model` on `batch` and the scores of its response tokens: the one function
/// every consumer (old and new policy log-probs, the implicit PRM and its reference, SFT) uses.
///
/// Column `t` is `log π(y_t | x, y_<t)`: the logits at column `P + t − 1` scored against the
/// token at `P + t`. Only the `R` response positions go through the log-softmax. Differentiable
/// under an autodiff backend.
///
/// With [`ResponseBatch::vocab_limit`] set, `π` is the model's distribution over the ids below
/// the limit, the one the sampler draws from with the same limit (`crate::sampling`'s vocabulary
/// mask): the log-softmax and the entropy run over the first `vocab_limit` logits only, and a
/// response token at or past the limit (which that distribution never produces) scores `−∞`.
///
/// With [`ResponseBatch::logprob_chunk`] `> 0` and a model that exposes its hidden states
/// ([`CausalLm::hidden_states`]), the same scores come from the hidden states of the response
/// tokens, `logprob_chunk` tokens at a time: no `[n, P + R, vocab]` logits in the forward, nor
/// in the backward under the autodiff backends of [`crate::backend`].
pub fn response_scores<B: Backend, M: CausalLm<B>>(
    model: &M,
    batch: &ResponseBatch<B>,
    with_entropy: bool,
) -> Result<ResponseScores<B>, ModelError> {
    let dims = batch.dims()?;
    if batch.logprob_chunk > 0 {
        if let Some(states) = model.hidden_states(&batch.tokens) {
            let chunk = batch.logprob_chunk;
            return Ok(chunked_response_scores(
                states,
                batch,
                dims,
                chunk,
                with_entropy,
            ));
        }
    }
    let logits = model.forward(&batch.tokens); // [n, P + R, V]
    let vocab = logits.dims()[2];
    let allowed = allowed_vocab(batch.vocab_limit, vocab);
    let start = batch.response_start;
    let mask = batch.response_mask(dims.response_width);
    // The logits at P − 1 + t predict response token t.
    let positions = start - 1..start - 1 + dims.response_width;
    let fused = fused_kernels_enabled()
        .then(|| fused_next_token_scores(&logits, &batch.tokens, positions, allowed, with_entropy))
        .flatten();
    let (log_probs, entropy) =
        fused.unwrap_or_else(|| decomposed_response_scores(logits, batch, dims, with_entropy));
    Ok(ResponseScores {
        log_probs: log_probs.mul(mask.clone()),
        entropy: entropy.map(|h| h.mul(mask.clone())),
        mask,
    })
}

/// [`response_scores`]' log-probs and entropies (`[n, R]`, before the response mask) from the
/// logits `[n, P + R, V]`, with burn's decomposed ops.
pub(crate) fn decomposed_response_scores<B: Backend>(
    logits: Tensor<B, 3>,
    batch: &ResponseBatch<B>,
    dims: ResponseDims,
    with_entropy: bool,
) -> NextTokenScores<B> {
    let (rows, start) = (dims.rows, batch.response_start);
    let width = start + dims.response_width;
    let vocab = logits.dims()[2];
    let allowed = allowed_vocab(batch.vocab_limit, vocab);
    // The logits at P − 1 + t predict response token t: the R + 1 columns P − 1 ..= P + R − 1
    // seen as a sequence of their own give exactly the R response scores.
    let columns = start - 1..width;
    let mut window = TokenBatch {
        input_ids: batch
            .tokens
            .input_ids
            .clone()
            .slice([0..rows, columns.clone()]),
        attention_mask: batch
            .tokens
            .attention_mask
            .clone()
            .slice([0..rows, columns.clone()]),
    };
    // Tokens past the limit have probability 0: scored as id 0 (so the gather stays in range),
    // then set to −∞.
    let outside = (allowed < vocab).then(|| {
        let outside = window
            .input_ids
            .clone()
            .greater_equal_elem(allowed as i64)
            .bool_and(window.attention_mask.clone().equal_elem(1));
        window.input_ids = window.input_ids.clone().mask_fill(outside.clone(), 0);
        outside.slice([0..rows, 1..dims.response_width + 1]) // [n, R]
    });
    let logits = logits.slice([0..rows, columns, 0..allowed]); // [n, R + 1, allowed]
    let (mut log_probs, entropy) = next_token_scores_decomposed(logits, &window, with_entropy);
    if let Some(outside) = outside {
        log_probs = log_probs.mask_fill(outside, f32::NEG_INFINITY);
    }
    (log_probs, entropy)
}

/// [`token_log_probs`] and, with `with_entropy`, [`entropy`], from one pass over the logits:
/// `[batch, seq − 1]` each, 0 where the target is padding (a target id past the vocabulary
/// scores `−∞` on the CPU backend). On the CPU backend (with or without autodiff) one fused op
/// with its own backward, unless [`crate::fused::fused_kernels_enabled`] says no; elsewhere
/// [`next_token_scores_decomposed`].
pub fn next_token_scores<B: Backend>(
    logits: Tensor<B, 3>,
    batch: &TokenBatch<B>,
    with_entropy: bool,
) -> NextTokenScores<B> {
    let [_, seq, vocab] = logits.dims();
    if seq >= 2 && fused_kernels_enabled() {
        if let Some(scores) =
            fused_next_token_scores(&logits, batch, 0..seq - 1, vocab, with_entropy)
        {
            return scores;
        }
    }
    next_token_scores_decomposed(logits, batch, with_entropy)
}

/// [`next_token_scores`] with burn's decomposed ops on every backend, from one max-shifted
/// log-softmax: the fused CPU op's reference, for tests and benchmarks. Target ids under the
/// attention mask must lie below the vocabulary size.
pub fn next_token_scores_decomposed<B: Backend>(
    logits: Tensor<B, 3>,
    batch: &TokenBatch<B>,
    with_entropy: bool,
) -> NextTokenScores<B> {
    let [rows, seq, vocab] = logits.dims();
    if seq < 2 {
        let zeros = || Tensor::zeros([rows, 0], &logits.device());
        return (zeros(), with_entropy.then(zeros));
    }
    let log_p = log_softmax(logits.slice([0..rows, 0..seq - 1, 0..vocab]), 2); // [b, s − 1, V]
    let target_mask: Tensor<B, 2, Int> = batch.attention_mask.clone().slice([0..rows, 1..seq]);
    let target_mask_f = target_mask.clone().float();
    let entropy = with_entropy.then(|| {
        log_p
            .clone()
            .exp()
            .mul(log_p.clone())
            .sum_dim(2)
            .squeeze_dim::<2>(2)
            .neg()
            .mul(target_mask_f.clone())
    });
    // Pads point at id 0 so that the gather stays in range whatever id they store.
    let targets = batch
        .input_ids
        .clone()
        .slice([0..rows, 1..seq])
        .mul(target_mask)
        .unsqueeze_dim::<3>(2); // [b, s − 1, 1]
    let picked = log_p.gather(2, targets).squeeze_dim::<2>(2);
    (picked.mul(target_mask_f), entropy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::{Int, TensorData};

    type B = Flex;

    fn batch(ids: [[i64; 3]; 2], mask: [[i64; 3]; 2]) -> TokenBatch<B> {
        let device = Default::default();
        TokenBatch {
            input_ids: Tensor::<B, 2, Int>::from_data(TensorData::from(ids), &device),
            attention_mask: Tensor::<B, 2, Int>::from_data(TensorData::from(mask), &device),
        }
    }

    /// Reference: log-softmax computed in f64 on the host.
    fn log_softmax_f64(row: &[f32]) -> Vec<f64> {
        let max = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x as f64));
        let lse = row
            .iter()
            .map(|&x| (x as f64 - max).exp())
            .sum::<f64>()
            .ln()
            + max;
        row.iter().map(|&x| x as f64 - lse).collect()
    }

    #[test]
    fn picks_the_next_token_and_masks_padding() {
        let device = Default::default();
        let values: Vec<f32> = (0..2 * 3 * 4)
            .map(|i| ((i * 7) % 5) as f32 * 0.7 - 1.0)
            .collect();
        let logits = Tensor::<B, 3>::from_data(TensorData::new(values.clone(), [2, 3, 4]), &device);
        // Row 1 is left-padded by one token whose stored id (99) is out of range.
        let batch = batch([[1, 3, 0], [99, 2, 1]], [[1, 1, 1], [0, 1, 1]]);
        let got: Vec<f32> = token_log_probs(logits.clone(), &batch)
            .into_data()
            .to_vec()
            .unwrap();
        let row =
            |b: usize, t: usize| log_softmax_f64(&values[(b * 3 + t) * 4..(b * 3 + t + 1) * 4]);
        let expected = [row(0, 0)[3], row(0, 1)[0], row(1, 0)[2], row(1, 1)[1]];
        for (g, e) in got.iter().zip(expected) {
            assert!((*g as f64 - e).abs() < 1e-6, "{g} vs {e}");
        }
        let entropies: Vec<f32> = entropy(logits, &batch).into_data().to_vec().unwrap();
        let h = |lp: Vec<f64>| -lp.iter().map(|l| l.exp() * l).sum::<f64>();
        let expected = [h(row(0, 0)), h(row(0, 1)), h(row(1, 0)), h(row(1, 1))];
        for (g, e) in entropies.iter().zip(expected) {
            assert!((*g as f64 - e).abs() < 1e-6, "{g} vs {e}");
        }
    }

    #[test]
    fn masks_target_padding_with_zero() {
        let device = Default::default();
        let logits = Tensor::<B, 3>::ones([2, 3, 4], &device);
        let batch = batch([[1, 3, 0], [5, 2, 1]], [[1, 1, 0], [0, 0, 1]]);
        let got: Vec<f32> = token_log_probs(logits.clone(), &batch)
            .into_data()
            .to_vec()
            .unwrap();
        let uniform = -(4f32.ln());
        assert_eq!(got, vec![uniform, 0.0, 0.0, uniform]);
        let h: Vec<f32> = entropy(logits, &batch).into_data().to_vec().unwrap();
        assert!((h[0] - 4f32.ln()).abs() < 1e-6 && h[1] == 0.0 && h[2] == 0.0);
    }

    #[test]
    fn stable_for_huge_logits() {
        let device = Default::default();
        let logits = Tensor::<B, 3>::from_data(
            TensorData::new(vec![1e30f32, 0.0, -1e30, 5.0, 1e4, 1e4 - 1.0], [1, 2, 3]),
            &device,
        );
        let batch = TokenBatch::<B> {
            input_ids: Tensor::from_data(TensorData::from([[0i64, 0]]), &device),
            attention_mask: Tensor::from_data(TensorData::from([[1i64, 1]]), &device),
        };
        let got: Vec<f32> = token_log_probs(logits.clone(), &batch)
            .into_data()
            .to_vec()
            .unwrap();
        assert_eq!(got, vec![0.0]);
        let h: Vec<f32> = entropy(logits, &batch).into_data().to_vec().unwrap();
        assert!(h[0].is_finite() && h[0].abs() < 1e-6);
    }

    /// A "model" whose logits are `LOGITS` at every position, whatever the input: over 4 ids,
    /// id 3 (a padding row past a 3-id tokenizer) dominates; over ids 0..3 alone the
    /// distribution is `[1/5, 3/5, 1/5]`.
    struct FixedLogits<B: Backend> {
        logits: Tensor<B, 1>,
    }

    const LOGITS: [f32; 4] = [0.0, 1.098_612_3 /* ln 3 */, 0.0, 10.0];

    impl<B: Backend> CausalLm<B> for FixedLogits<B> {
        type Cache = ();
        fn vocab_size(&self) -> usize {
            LOGITS.len()
        }
        fn forward(&self, batch: &TokenBatch<B>) -> Tensor<B, 3> {
            let [rows, seq] = batch.input_ids.dims();
            self.logits
                .clone()
                .reshape([1, 1, LOGITS.len()])
                .repeat_dim(0, rows)
                .repeat_dim(1, seq)
        }
        fn new_cache(&self, _batch_size: usize, _capacity: usize) {}
        fn forward_step(
            &self,
            new_ids: Tensor<B, 2, Int>,
            attention_mask: Tensor<B, 2, Int>,
            _cache: &mut (),
        ) -> Tensor<B, 3> {
            self.forward(&TokenBatch {
                input_ids: new_ids,
                attention_mask,
            })
        }
    }

    #[test]
    fn a_vocab_limit_scores_under_the_masked_distribution() {
        let device = Default::default();
        let model = FixedLogits::<B> {
            logits: Tensor::from_data(TensorData::from(LOGITS), &device),
        };
        // Row 0 answers [1, 0] (ids the tokenizer has), row 1 [3] (a padding row).
        let batch =
            ResponseBatch::<B>::from_ids(&[[2u32], [2]], &[vec![1u32, 0], vec![3]], 0, &device)
                .unwrap();
        let scores = |limit| {
            let s = response_scores(&model, &batch.clone().with_vocab_limit(limit), true).unwrap();
            let lp: Vec<f32> = s.log_probs.into_data().to_vec().unwrap();
            let h: Vec<f32> = s.entropy.unwrap().into_data().to_vec().unwrap();
            (lp, h)
        };
        let (lp, h) = scores(Some(3));
        let (ln02, ln06) = (0.2f32.ln(), 0.6f32.ln());
        assert!(
            (lp[0] - ln06).abs() < 1e-6 && (lp[1] - ln02).abs() < 1e-6,
            "{lp:?}"
        );
        assert_eq!(lp[2], f32::NEG_INFINITY);
        assert_eq!(lp[3], 0.0); // padding after L_1 = 1
        let masked_entropy = -(2.0 * 0.2 * ln02 + 0.6 * ln06); // ≈ 0.950 nats
        assert!((h[0] - masked_entropy).abs() < 1e-5, "{h:?}");
        // Unmasked, the padding row holds almost all the mass: log p(1) = ln 3 − ln(5 + e^10).
        let (lp, _) = scores(None);
        let expected = 3f64.ln() - (5.0 + 10f64.exp()).ln();
        assert!((lp[0] as f64 - expected).abs() < 1e-5, "{lp:?}");
        assert!(lp[2].abs() < 1e-3);
    }

    #[test]
    fn masked_ids_get_no_gradient() {
        type AD = Autodiff<B>;
        let device = Default::default();
        let logits = Tensor::<AD, 1>::from_data(TensorData::from(LOGITS), &device).require_grad();
        let model = FixedLogits {
            logits: logits.clone(),
        };
        let batch = ResponseBatch::<AD>::from_ids(&[[2u32]], &[[1u32]], 0, &device)
            .unwrap()
            .with_vocab_limit(Some(3));
        let grads = response_scores(&model, &batch, false)
            .unwrap()
            .log_probs
            .sum()
            .backward();
        let grad: Vec<f32> = logits.grad(&grads).unwrap().into_data().to_vec().unwrap();
        // One-hot(1) minus the masked softmax [0.2, 0.6, 0.2]; nothing reaches id 3.
        for (g, e) in grad.iter().zip([-0.2f32, 0.4, -0.2, 0.0]) {
            assert!((g - e).abs() < 1e-6, "{grad:?}");
        }
    }

    #[test]
    fn gradient_of_log_prob_is_one_hot_minus_softmax() {
        let device = Default::default();
        let values = vec![0.5f32, -1.0, 2.0, 0.0, 0.0, 0.0];
        let logits = Tensor::<Autodiff<B>, 3>::from_data(
            TensorData::new(values.clone(), [1, 2, 3]),
            &device,
        )
        .require_grad();
        let batch = TokenBatch::<Autodiff<B>> {
            input_ids: Tensor::from_data(TensorData::from([[0i64, 1]]), &device),
            attention_mask: Tensor::from_data(TensorData::from([[1i64, 1]]), &device),
        };
        let grads = token_log_probs(logits.clone(), &batch).sum().backward();
        let grad: Vec<f32> = logits.grad(&grads).unwrap().into_data().to_vec().unwrap();
        let p: Vec<f64> = log_softmax_f64(&values[..3])
            .iter()
            .map(|l| l.exp())
            .collect();
        let expected = [-p[0], 1.0 - p[1], -p[2], 0.0, 0.0, 0.0];
        for (g, e) in grad.iter().zip(expected) {
            assert!((*g as f64 - e).abs() < 1e-6, "{g} vs {e}");
        }
    }
}
