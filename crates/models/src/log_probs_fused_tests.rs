//! The fused token scores ([`crate::log_probs_fused`]) against the decomposed burn ops they
//! replace ([`next_token_scores_decomposed`], [`decomposed_response_scores`], differentiated by
//! burn-autodiff): log-probs, entropies and `∂L/∂logits` for `L = Σ a ⊙ lp + Σ b ⊙ H` with random
//! `a`, `b`, on random shapes with left- and right-padded rows, sequence length 1 and 2, a
//! vocabulary limit with tokens past it, under both checkpointing strategies, and the
//! inference forward. Error measure: `max |fused − reference| / max |reference|` over each
//! tensor, ≤ 1e-5 (equal infinities count as equal). The chunked scores' use of the same row
//! kernels is checked against burn's autodiff by `chunked_tests`.

use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::{Autodiff, Flex};
use burn::tensor::{backend::Backend, Int, Tensor, TensorData};

use crate::fused_test_support::{host, relative_error, values, SizeDraws};
use crate::log_probs::{decomposed_response_scores, next_token_scores_decomposed};
use crate::log_probs_fused::fused_next_token_scores;
use crate::{token_log_probs, ResponseBatch, TokenBatch};

const TOLERANCE: f32 = 1e-5;

/// A `[rows, seq]` batch: row `i` is left-padded (`i % 3 == 1`), right-padded (`i % 3 == 2`) or
/// full; ids in `0..vocab + 3` (some past the vocabulary), 999 under padding.
fn token_batch<B: Backend>(rows: usize, seq: usize, vocab: usize, seed: u64) -> TokenBatch<B> {
    let draws = values(rows * seq, seed, 1.0);
    let mut ids = vec![0i64; rows * seq];
    let mut mask = vec![0i64; rows * seq];
    for i in 0..rows {
        let pad = (seq / 3).max(1).min(seq - 1);
        for j in 0..seq {
            let padded = match i % 3 {
                1 => j < pad,
                2 => j >= seq - pad,
                _ => false,
            };
            let k = i * seq + j;
            mask[k] = i64::from(!padded);
            ids[k] = if padded {
                999
            } else {
                ((draws[k] + 1.0) / 2.0 * (vocab + 3) as f32) as i64 % (vocab as i64 + 3)
            };
        }
    }
    let device = Default::default();
    TokenBatch {
        input_ids: Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [rows, seq]), &device),
        attention_mask: Tensor::<B, 2, Int>::from_data(TensorData::new(mask, [rows, seq]), &device),
    }
}

/// `batch` with the tokens at or past `vocab` turned into padding (id 0, mask 0): the
/// decomposed gather needs ids in range (the fused op scores them −∞, checked by
/// [`response_window_and_vocab_limit_equal_the_decomposed_ops`]).
fn in_range<B: Backend>(batch: TokenBatch<B>, vocab: usize) -> TokenBatch<B> {
    let outside = batch.input_ids.clone().greater_equal_elem(vocab as i64);
    TokenBatch {
        input_ids: batch.input_ids.mask_fill(outside.clone(), 0),
        attention_mask: batch.attention_mask.mask_fill(outside, 0),
    }
}

/// `(lp, H, ∂L/∂logits)` of the scores `score` gives, `L = Σ a ⊙ lp + Σ b ⊙ H` over the finite
/// log-probs.
fn scores_and_grad<C: CheckpointStrategy>(
    logits: Vec<f32>,
    shape: [usize; 3],
    seed: u64,
    score: impl Fn(
        Tensor<Autodiff<Flex, C>, 3>,
    ) -> (Tensor<Autodiff<Flex, C>, 2>, Tensor<Autodiff<Flex, C>, 2>),
) -> [Vec<f32>; 3] {
    let device = Default::default();
    let logits = Tensor::<Autodiff<Flex, C>, 3>::from_data(TensorData::new(logits, shape), &device)
        .require_grad();
    // An intermediate (what the LM head's output is) lets the backward write the gradient over
    // the logits' buffer; a leaf the caller still holds makes it allocate. Both are checked.
    let input = if seed % 2 == 0 {
        logits.clone().mul_scalar(1.5)
    } else {
        logits.clone()
    };
    let (lp, h) = score(input);
    let dims = lp.dims();
    let weights = |s: u64| {
        Tensor::from_data(
            TensorData::new(values(dims[0] * dims[1], s, 1.0), dims),
            &device,
        )
    };
    let finite = lp.clone().mask_fill(lp.clone().lower_elem(-1e30), 0.0);
    let loss = finite
        .mul(weights(seed + 1))
        .sum()
        .add(h.clone().mul(weights(seed + 2)).sum());
    let grads = loss.backward();
    let d_logits = logits.grad(&grads).expect("∂L/∂logits");
    [host(lp), host(h), host(d_logits)]
}

fn assert_close(fused: &[Vec<f32>; 3], reference: &[Vec<f32>; 3], case: &str) {
    for (name, got, want) in [
        ("log-probs", &fused[0], &reference[0]),
        ("entropy", &fused[1], &reference[1]),
        ("∂L/∂logits", &fused[2], &reference[2]),
    ] {
        let error = relative_error(got, want);
        assert!(
            error <= TOLERANCE,
            "{name} at {case}: relative error {error}"
        );
    }
}

/// Every next-token score of `[rows, seq, vocab]` logits, fused and decomposed.
fn check_next_token<C: CheckpointStrategy>(shape: [usize; 3], seed: u64) {
    let [rows, seq, vocab] = shape;
    let logits = values(rows * seq * vocab, seed, 6.0);
    let batch = token_batch::<Autodiff<Flex, C>>(rows, seq, vocab, seed);
    let batch = in_range(batch, vocab);
    let fused = scores_and_grad::<C>(logits.clone(), shape, seed, |logits| {
        let (lp, h) = fused_next_token_scores(&logits, &batch, 0..seq - 1, vocab, true)
            .expect("the fused op runs on Autodiff<Flex>");
        (lp, h.expect("entropy"))
    });
    let reference = scores_and_grad::<C>(logits, shape, seed, |logits| {
        let (lp, h) = next_token_scores_decomposed(logits, &batch, true);
        (lp, h.expect("entropy"))
    });
    assert_close(&fused, &reference, &format!("{shape:?}"));
}

#[test]
fn next_token_scores_and_gradient_equal_the_decomposed_ops_on_random_shapes() {
    let mut draws = SizeDraws::new(5);
    let mut draw = |bound: u64| draws.next(bound);
    let mut shapes = vec![[1, 2, 1], [1, 2, 7], [3, 2, 64], [4, 5, 100]];
    shapes.extend((0..8).map(|_| [draw(4), 1 + draw(9), draw(300)]));
    for (seed, shape) in shapes.into_iter().enumerate() {
        check_next_token::<NoCheckpointing>(shape, seed as u64);
    }
}

#[test]
fn balanced_checkpointing_takes_the_fused_node_too() {
    check_next_token::<BalancedCheckpointing>([3, 6, 129], 17);
}

/// A sequence of length 1 predicts nothing: `[rows, 0]`, fused or not.
#[test]
fn length_one_scores_nothing() {
    let device = Default::default();
    let logits = Tensor::<Flex, 3>::ones([2, 1, 5], &device);
    let batch = token_batch::<Flex>(2, 1, 5, 3);
    assert!(fused_next_token_scores(&logits, &batch, 0..0, 5, true).is_none());
    assert_eq!(token_log_probs(logits, &batch).dims(), [2, 0]);
}

/// [`crate::response_scores`]' window (`P − 1 ..`) and vocabulary limit: tokens past the limit
/// score −∞ in both, and carry no gradient.
fn check_response<C: CheckpointStrategy>(vocab: usize, limit: usize, seed: u64) {
    let device = Default::default();
    let prompts = [vec![1u32, 2, 3], vec![4], vec![5, 6]];
    let ids = |n: usize, s: u64| -> Vec<u32> {
        values(n, s, 1.0)
            .iter()
            .map(|v| ((v + 1.0) / 2.0 * vocab as f32) as u32 % vocab as u32)
            .collect()
    };
    let responses = [ids(4, seed), ids(1, seed + 1), ids(3, seed + 2)];
    let batch = ResponseBatch::<Autodiff<Flex, C>>::from_ids(&prompts, &responses, 0, &device)
        .expect("batch")
        .with_vocab_limit(Some(limit));
    let dims = batch.dims().expect("dims");
    let seq = batch.tokens.input_ids.dims()[1];
    let shape = [3, seq, vocab];
    let logits = values(3 * seq * vocab, seed, 4.0);
    let positions = batch.response_start - 1..batch.response_start - 1 + dims.response_width;
    let fused = scores_and_grad::<C>(logits.clone(), shape, seed, |logits| {
        let (lp, h) =
            fused_next_token_scores(&logits, &batch.tokens, positions.clone(), limit, true)
                .expect("the fused op runs on Autodiff<Flex>");
        (lp, h.expect("entropy"))
    });
    let reference = scores_and_grad::<C>(logits, shape, seed, |logits| {
        let (lp, h) = decomposed_response_scores(logits, &batch, dims, true);
        (lp, h.expect("entropy"))
    });
    let outside = responses
        .iter()
        .flatten()
        .filter(|&&id| id as usize >= limit)
        .count();
    assert!(outside > 0 || limit == vocab, "no token past the limit");
    assert_eq!(fused[0].iter().filter(|v| v.is_infinite()).count(), outside);
    assert_close(&fused, &reference, &format!("vocab {vocab} limit {limit}"));
}

#[test]
fn response_window_and_vocab_limit_equal_the_decomposed_ops() {
    check_response::<NoCheckpointing>(50, 30, 1);
    check_response::<NoCheckpointing>(50, 50, 2);
    check_response::<BalancedCheckpointing>(300, 200, 3);
}

/// The inference forward equals the decomposed ops, and is bit for bit the forward of the
/// autodiff node, tracked or not (the implicit PRM and its frozen reference must score alike).
#[test]
fn inference_forward_is_the_autodiff_forward_bit_for_bit() {
    let device = Default::default();
    let shape = [3, 7, 211];
    let logits = values(shape.iter().product(), 9, 8.0);
    let run_inner = || {
        let batch = in_range(token_batch::<Flex>(3, 7, 200, 4), 200);
        let x = Tensor::<Flex, 3>::from_data(TensorData::new(logits.clone(), shape), &device);
        let fused = fused_next_token_scores(&x, &batch, 0..6, 200, true).expect("fused on Flex");
        let reference = next_token_scores_decomposed(x.slice([0..3, 0..7, 0..200]), &batch, true);
        (fused, reference)
    };
    let ((lp, h), (lp_ref, h_ref)) = run_inner();
    let (lp, h) = (host(lp), host(h.expect("entropy")));
    assert!(relative_error(&lp, &host(lp_ref)) <= TOLERANCE);
    assert!(relative_error(&h, &host(h_ref.expect("entropy"))) <= TOLERANCE);
    for tracked in [false, true] {
        type Ad = Autodiff<Flex>;
        let batch = in_range(token_batch::<Ad>(3, 7, 200, 4), 200);
        let mut x = Tensor::<Ad, 3>::from_data(TensorData::new(logits.clone(), shape), &device);
        if tracked {
            x = x.require_grad();
        }
        let (lp_ad, h_ad) = fused_next_token_scores(&x, &batch, 0..6, 200, true).expect("fused");
        assert_eq!(host(lp_ad), lp, "tracked {tracked}");
        assert_eq!(host(h_ad.expect("entropy")), h, "tracked {tracked}");
    }
}
