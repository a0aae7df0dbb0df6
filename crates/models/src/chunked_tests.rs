//! Chunked token scores (`ResponseBatch::logprob_chunk > 0`) against the unchunked path: values
//! and gradients, for tied and untied heads, chunk sizes that do and do not divide the token
//! count, a vocabulary limit below the head's size and rows with padded (or no) response tokens.

use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::tensor::ElementConversion;
use burn::tensor::{backend::Backend, Distribution, Int, Tensor, TensorData};

use crate::chunked_backward::autodiff_scores;
use crate::chunked_scores::{decomposed_scores, ChunkSpec, ScoreInputs};
use crate::token_scores::token_scores;
use crate::{response_scores, Qwen2Config, Qwen2ForCausalLm, ResponseBatch};

type Ad = Autodiff<Flex>;

/// `max |a − b| / max |b|` (elementwise over the flattened tensors; `b` is the reference).
fn rel_err<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> f64 {
    let a: Vec<f32> = a.into_data().convert::<f32>().to_vec().unwrap();
    let b: Vec<f32> = b.into_data().convert::<f32>().to_vec().unwrap();
    assert_eq!(a.len(), b.len());
    let scale = b
        .iter()
        .fold(0f64, |m, &x| m.max((x as f64).abs()))
        .max(1e-30);
    let diff = a.iter().zip(&b).fold(0f64, |m, (&x, &y)| {
        if x == y {
            m // equal infinities included
        } else {
            m.max((x as f64 - y as f64).abs())
        }
    });
    diff / scale
}

/// A small deterministic generator (so the cases do not depend on the global seed).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn model(tied: bool, seed: u64) -> Qwen2ForCausalLm<Ad> {
    let device = Default::default();
    Ad::seed(&device, seed);
    let mut config = Qwen2Config::tiny();
    config.tie_word_embeddings = tied;
    config.initializer_range = 0.2; // far from uniform logits
    config.init::<Ad>(&device)
}

/// Rows with prompts of 1..=4 tokens and responses of 0..=6 (the first one empty), ids below
/// the vocabulary (some above `limit` when it is set).
fn random_batch(rng: &mut Lcg, rows: usize, vocab: usize) -> ResponseBatch<Ad> {
    let mut ids = |len: usize| {
        (0..len)
            .map(|_| rng.below(vocab) as u32)
            .collect::<Vec<_>>()
    };
    let mut prompts = Vec::new();
    let mut responses = Vec::new();
    for row in 0..rows {
        let (p, r) = (
            (row * 5 + 1) % 4 + 1,
            if row == 0 { 0 } else { (row * 3) % 7 },
        );
        prompts.push(ids(p));
        responses.push(ids(r));
    }
    responses[rows - 1] = ids(6);
    ResponseBatch::from_ids(&prompts, &responses, 0, &Default::default()).unwrap()
}

/// The scores' log-probs (−∞ replaced by 0) and entropies, and the gradients of
/// `Σ a ⊙ log p + Σ b ⊙ H` with respect to the embedding, the final norm and the untied head.
fn scores_and_grads(
    model: &Qwen2ForCausalLm<Ad>,
    batch: &ResponseBatch<Ad>,
) -> (Vec<Tensor<Ad, 2>>, Vec<Tensor<Flex, 2>>) {
    let scores = response_scores(model, batch, true).unwrap();
    let [rows, width] = scores.log_probs.dims();
    let weights = |seed: u64| {
        let mut rng = Lcg(seed);
        let values: Vec<f32> = (0..rows * width)
            .map(|_| rng.below(1000) as f32 / 500.0 - 1.0)
            .collect();
        Tensor::<Ad, 2>::from_data(TensorData::new(values, [rows, width]), &Default::default())
    };
    let log_probs = scores.log_probs.clone();
    let finite = log_probs
        .clone()
        .mask_fill(log_probs.lower_elem(-1e30), 0.0);
    let entropy = scores.entropy.unwrap();
    let loss = finite
        .clone()
        .mul(weights(1))
        .sum()
        .add(entropy.clone().mul(weights(2)).sum());
    let grads = loss.backward();
    let mut out = vec![
        model.model.embed_tokens.weight.val().grad(&grads).unwrap(),
        model
            .model
            .norm
            .weight
            .val()
            .grad(&grads)
            .unwrap()
            .unsqueeze::<2>(),
    ];
    if let Some(head) = &model.lm_head {
        out.push(head.weight.val().grad(&grads).unwrap());
    }
    (vec![scores.log_probs, entropy], out)
}

/// Values and gradients of the chunked scores equal the unchunked ones (relative error ≤ 1e-5),
/// tied and untied, chunk 1, chunks that do not divide the token count and one chunk, with
/// and without a vocabulary limit (tokens past it score −∞ in both).
#[test]
fn chunked_scores_and_gradients_equal_the_unchunked_ones() {
    let mut rng = Lcg(7);
    let (mut worst_value, mut worst_grad) = (0f64, 0f64);
    for tied in [true, false] {
        let model = model(tied, 11 + tied as u64);
        for limit in [None, Some(300)] {
            let batch = random_batch(&mut rng, 4, 512).with_vocab_limit(limit);
            let (values_ref, grads_ref) = scores_and_grads(&model, &batch);
            let outside = batch
                .tokens
                .input_ids
                .clone()
                .greater_equal_elem(300)
                .int()
                .sum()
                .into_scalar();
            assert!(
                limit.is_none() || outside > 0,
                "the case has no token past the limit"
            );
            for chunk in [1, 3, 1000] {
                let (values, grads) =
                    scores_and_grads(&model, &batch.clone().with_logprob_chunk(chunk));
                for (got, want) in values.into_iter().zip(values_ref.iter().cloned()) {
                    let err = rel_err(got, want);
                    assert!(
                        err <= 1e-5,
                        "tied {tied} limit {limit:?} chunk {chunk}: value {err}"
                    );
                    worst_value = worst_value.max(err);
                }
                for (got, want) in grads.into_iter().zip(grads_ref.iter().cloned()) {
                    let err = rel_err(got, want);
                    assert!(
                        err <= 1e-5,
                        "tied {tied} limit {limit:?} chunk {chunk}: grad {err}"
                    );
                    worst_grad = worst_grad.max(err);
                }
            }
        }
    }
    eprintln!("max relative error: values {worst_value:.2e}, gradients {worst_grad:.2e}");
}

/// Inference (no autodiff) takes the chunked forward with plain tensor ops: same values.
#[test]
fn inference_backend_gives_the_same_scores() {
    let mut rng = Lcg(3);
    let model = model(true, 5).valid();
    let batch = random_batch(&mut rng, 3, 512)
        .inner()
        .with_vocab_limit(Some(400));
    let reference = response_scores(&model, &batch, true).unwrap();
    let chunked = response_scores(&model, &batch.with_logprob_chunk(2), true).unwrap();
    assert!(rel_err(chunked.log_probs, reference.log_probs) <= 1e-5);
    assert!(rel_err(chunked.entropy.unwrap(), reference.entropy.unwrap()) <= 1e-5);
}

/// The custom node against burn's own autodiff of the same chunked forward, on the bare op:
/// `[N, H]` hidden rows, a `[H, V]` head, a limit below `V`; also under balanced checkpointing.
#[test]
fn custom_backward_equals_autodiff_of_the_decomposed_forward() {
    fn check<B: burn::tensor::backend::AutodiffBackend>() -> f64 {
        let device = Default::default();
        let (rows, hidden, vocab, limit) = (11, 8, 37, 30);
        B::seed(&device, 9);
        let h = Tensor::<B, 2>::random([rows, hidden], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<B, 2>::random([hidden, vocab], Distribution::Normal(0.0, 1.0), &device);
        let mut rng = Lcg(1);
        let ids: Vec<i64> = (0..rows).map(|_| rng.below(limit) as i64).collect();
        let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(ids, [rows]), &device);
        let g = Tensor::<B, 2>::random([rows, 2], Distribution::Normal(0.0, 1.0), &device);
        let spec = ChunkSpec { limit, chunk: 4 };
        let run = |node: bool| {
            let (h, w) = (h.clone().require_grad(), w.clone().require_grad());
            let inputs = ScoreInputs {
                hidden: h.clone(),
                head: w.clone(),
                targets: targets.clone(),
            };
            let scores = if node {
                autodiff_scores(&inputs, spec).expect("a shipped autodiff backend")
            } else {
                decomposed_scores(inputs, spec)
            };
            let grads = scores.clone().mul(g.clone()).sum().backward();
            (scores, h.grad(&grads).unwrap(), w.grad(&grads).unwrap())
        };
        let (s_node, h_node, w_node) = run(true);
        let (s_ref, h_ref, w_ref) = run(false);
        let zero_columns = w_node.clone().slice([0..hidden, limit..vocab]).abs().max();
        assert_eq!(zero_columns.into_scalar().elem::<f32>(), 0.0);
        [
            rel_err(s_node, s_ref),
            rel_err(h_node, h_ref),
            rel_err(w_node, w_ref),
        ]
        .into_iter()
        .fold(0.0, f64::max)
    }
    for err in [
        check::<Ad>(),
        check::<Autodiff<Flex, BalancedCheckpointing>>(),
    ] {
        assert!(err <= 1e-5, "{err}");
    }
}

/// Only autodiff backends get the custom node; the plain backend uses the decomposed forward.
#[test]
fn the_node_is_used_only_under_autodiff() {
    let device = Default::default();
    let inputs = ScoreInputs::<Flex> {
        hidden: Tensor::ones([2, 3], &device),
        head: Tensor::ones([3, 4], &device),
        targets: Tensor::zeros([2], &device),
    };
    let spec = ChunkSpec { limit: 4, chunk: 1 };
    assert!(autodiff_scores(&inputs, spec).is_none());
    // Uniform logits: log p = −ln 4, H = ln 4.
    let scores: Vec<f32> = token_scores(inputs.hidden, inputs.head, inputs.targets, spec)
        .into_data()
        .to_vec()
        .unwrap();
    let ln4 = 4f32.ln();
    for (got, want) in scores.iter().zip([-ln4, ln4, -ln4, ln4]) {
        assert!((got - want).abs() < 1e-6, "{scores:?}");
    }
}

/// Timing of chunked against unchunked scoring, for docs/performance.md (not a check):
/// `cargo test -p prime-models --lib chunked_timing -- --ignored --nocapture`.
///
/// A head-dominated shape: `Qwen2Config::tiny` (hidden 64, 2 layers) with a 32768-id
/// vocabulary, 4 rows of 16 prompt + 112 response tokens, chunk 64.
#[test]
#[ignore = "a measurement, not a check"]
fn chunked_timing() {
    use std::time::Instant;
    let device = Default::default();
    Ad::seed(&device, 1);
    let mut config = Qwen2Config::tiny();
    config.vocab_size = 32_768;
    let model = config.init::<Ad>(&device);
    let mut rng = Lcg(5);
    let mut ids = |len: usize| {
        (0..len)
            .map(|_| rng.below(32_768) as u32)
            .collect::<Vec<_>>()
    };
    let prompts: Vec<Vec<u32>> = (0..4).map(|_| ids(16)).collect();
    let responses: Vec<Vec<u32>> = (0..4).map(|_| ids(112)).collect();
    let batch = ResponseBatch::<Ad>::from_ids(&prompts, &responses, 0, &device).unwrap();
    let time = |f: &dyn Fn()| {
        f(); // warm-up
        (0..3)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    for chunk in [0, 64] {
        let batch = batch.clone().with_logprob_chunk(chunk);
        let train = time(&|| {
            let s = response_scores(&model, &batch, true).unwrap();
            let _ = s.log_probs.sum().add(s.entropy.unwrap().sum()).backward();
        });
        let inner = model.valid();
        let inner_batch = batch.inner();
        let infer = time(&|| {
            let s = response_scores(&inner, &inner_batch, true).unwrap();
            let _ = s.log_probs.into_data();
        });
        eprintln!(
            "chunk {chunk}: forward + backward {train:.3} s, forward (inference) {infer:.3} s"
        );
    }
}
