//! Issue 22's fused token log-probs against the burn ops they replace, at the `small_10m`
//! shapes (vocabulary 8192, batch 8 × 128 positions), both paths in one run
//! (`RAYON_NUM_THREADS=2 cargo bench -p prime-models --bench fused_log_probs`):
//!
//! - `log_probs/{fused,decomposed}`: `Σ log p(next token)` forward + backward on
//!   `Autodiff<Flex>` (what the train step does), [`next_token_scores`] against
//!   [`next_token_scores_decomposed`];
//! - `log_probs_entropy/{fused,decomposed}`: the same with the entropy, `Σ lp + Σ H`;
//! - `log_probs_inference/{fused,decomposed}`: log-probs and entropies, forward alone on `Flex`.

use std::hint::black_box;

use burn::backend::{Autodiff, Flex};
use burn::tensor::{backend::Backend, Distribution, Int, Tensor, TensorData};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use prime_models::{next_token_scores, next_token_scores_decomposed, Qwen2Config, TokenBatch};

type Ad = Autodiff<Flex>;

const BATCH: usize = 8;
const SEQ: usize = 128;

/// Random ids below `vocab`; every other row left-padded by 16 tokens.
fn batch<B: Backend>(vocab: usize) -> TokenBatch<B> {
    let device = Default::default();
    let ids: Vec<i64> = (0..BATCH * SEQ)
        .map(|i| ((i * 7919 + 13) % vocab) as i64)
        .collect();
    let mask: Vec<i64> = (0..BATCH * SEQ)
        .map(|i| i64::from((i / SEQ) % 2 == 0 || i % SEQ >= 16))
        .collect();
    TokenBatch {
        input_ids: Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [BATCH, SEQ]), &device),
        attention_mask: Tensor::<B, 2, Int>::from_data(
            TensorData::new(mask, [BATCH, SEQ]),
            &device,
        ),
    }
}

fn log_probs(c: &mut Criterion) {
    let device = Default::default();
    let vocab = Qwen2Config::small_10m().vocab_size;
    let logits =
        Tensor::<Ad, 3>::random([BATCH, SEQ, vocab], Distribution::Normal(0.0, 2.0), &device);
    let data = logits.to_data();
    let tokens = batch::<Ad>(vocab);
    for (group_name, with_entropy) in [("log_probs", false), ("log_probs_entropy", true)] {
        let mut group = c.benchmark_group(group_name);
        group.sample_size(20);
        for (name, fused) in [("fused", true), ("decomposed", false)] {
            group.bench_function(name, |bench| {
                // Fresh logits each time, handed over like the LM head's output (nothing else
                // holds them), made outside the timing.
                let fresh = || Tensor::<Ad, 3>::from_data(data.clone(), &device).require_grad();
                bench.iter_batched(
                    fresh,
                    |logits| {
                        let (lp, h) = if fused {
                            next_token_scores(logits, &tokens, with_entropy)
                        } else {
                            next_token_scores_decomposed(logits, &tokens, with_entropy)
                        };
                        let loss = match h {
                            Some(h) => lp.sum().add(h.sum()),
                            None => lp.sum(),
                        };
                        black_box(loss.backward())
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        group.finish();
    }

    let logits = logits.inner();
    let tokens = batch::<Flex>(vocab);
    let mut group = c.benchmark_group("log_probs_inference");
    group.sample_size(20);
    for (name, fused) in [("fused", true), ("decomposed", false)] {
        group.bench_function(name, |bench| {
            bench.iter(|| {
                let (lp, h) = if fused {
                    next_token_scores(logits.clone(), &tokens, true)
                } else {
                    next_token_scores_decomposed(logits.clone(), &tokens, true)
                };
                black_box((lp.into_primitive(), h.map(Tensor::into_primitive)))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, log_probs);
criterion_main!(benches);
