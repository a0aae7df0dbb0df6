//! Self-attention (rotary + causal grouped-query attention) forward + backward on
//! `Autodiff<Flex>` at the `small_10m` shapes (hidden 256, 8 query heads over 4 key/value heads
//! of width 32), batch 8 × 128 with the first row left-padded by 8: the fused ops
//! (`Qwen2Attention::forward`: `rotary_fused.rs`, `attention_fused.rs`) against the decomposed
//! ops (`Qwen2Attention::decomposed`), both in one run; then the inference forward on plain
//! `Flex` (where the decomposed path runs burn-flex's attention kernel). The q/k/v/o projections
//! are the same burn ops in both variants.
//!
//! `RAYON_NUM_THREADS=2 cargo bench -p prime-models --bench fused_attention`

use std::hint::black_box;
use std::time::Duration;

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use criterion::{criterion_group, criterion_main, Criterion};
use prime_models::{Qwen2Config, RotaryEmbedding};

type Ad = Autodiff<Flex>;

const BATCH: usize = 8;
const SEQ: usize = 128;
const LEFT_PAD: usize = 8;

/// The attention mask (`[BATCH, SEQ]`), the first row left-padded (its first `LEFT_PAD` keys).
fn attention_mask() -> Vec<i64> {
    (0..BATCH * SEQ).map(|i| i64::from(i >= LEFT_PAD)).collect()
}

/// `[BATCH, 1, SEQ, SEQ]`: 0 where a query may attend a key (causal, not padding), −1e30
/// elsewhere, as the model builds it.
fn mask_bias(mask: &[i64]) -> Vec<f32> {
    (0..BATCH)
        .flat_map(|b| {
            (0..SEQ).flat_map(move |q| {
                (0..SEQ).map(move |k| {
                    if k <= q && mask[b * SEQ + k] == 1 {
                        0.0
                    } else {
                        -1e30
                    }
                })
            })
        })
        .collect()
}

fn attention(c: &mut Criterion) {
    let config = Qwen2Config::small_10m();
    let device = Default::default();
    Ad::seed(&device, 0);
    let model = config.init::<Ad>(&device);
    let attn = &model.model.layers[0].self_attn;
    let mask = attention_mask();
    // Position ids as the model computes them: cumsum(mask) − 1, 0 on left pads.
    let positions: Vec<i64> = mask
        .chunks(SEQ)
        .flat_map(|row| {
            row.iter()
                .scan(0i64, |seen, &m| {
                    *seen += m;
                    Some((*seen - 1).max(0))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let positions =
        Tensor::<Ad, 2, Int>::from_data(TensorData::new(positions, [BATCH, SEQ]), &device);
    let (cos, sin) = RotaryEmbedding::of(&config).cos_sin(positions);
    let bias = Tensor::<Ad, 4>::from_data(
        TensorData::new(mask_bias(&mask), [BATCH, 1, SEQ, SEQ]),
        &device,
    );
    let x = Tensor::<Ad, 3>::random(
        [BATCH, SEQ, config.hidden_size],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let mut group = c.benchmark_group("attention_small_10m");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    for fused in [true, false] {
        let name = if fused { "fused" } else { "decomposed" };
        group.bench_function(format!("{name}_forward_backward"), |b| {
            b.iter(|| {
                let x = x.clone().require_grad();
                let y = if fused {
                    attn.forward(x.clone(), &cos, &sin, &bias, None)
                } else {
                    attn.decomposed(x.clone(), &cos, &sin, &bias, None)
                };
                let grads = y.sum().backward();
                black_box(x.grad(&grads).map(|g| g.into_data()))
            })
        });
    }
    group.finish();
    // Inference (plain Flex, no graph): the decomposed path runs burn-flex's attention kernel.
    let attn = attn.valid();
    let inner = |t: &Tensor<Ad, 4>| t.clone().inner();
    let (cos, sin, bias) = (inner(&cos), inner(&sin), inner(&bias));
    let x = x.inner();
    let mut group = c.benchmark_group("attention_small_10m_inference");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    for fused in [true, false] {
        let name = if fused { "fused" } else { "decomposed" };
        group.bench_function(format!("{name}_forward"), |b| {
            b.iter(|| {
                let y = if fused {
                    attn.forward(x.clone(), &cos, &sin, &bias, None)
                } else {
                    attn.decomposed(x.clone(), &cos, &sin, &bias, None)
                };
                black_box(y.into_data())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, attention);
criterion_main!(benches);
