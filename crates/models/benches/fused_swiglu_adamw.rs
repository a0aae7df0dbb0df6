//! Issue 22's fused SwiGLU middle and fused AdamW against the burn ops they replace, at the
//! `small_10m` shapes, both paths in one run (`RAYON_NUM_THREADS=2 cargo bench -p prime-models
//! --bench fused_swiglu_adamw`):
//!
//! - `swiglu/{fused,decomposed}`: `silu(a) ⊙ b` forward + backward on `Autodiff<Flex>` at
//!   `[8, 128, 768]` (`Qwen2Mlp::swiglu` against `Qwen2Mlp::swiglu_decomposed`);
//! - `swiglu_inference/{fused,decomposed}`: the forward alone on `Flex`.

use std::hint::black_box;

use burn::backend::{Autodiff, Flex};
use burn::tensor::{Distribution, Tensor};
use criterion::{criterion_group, criterion_main, Criterion};
use prime_models::{Qwen2Config, Qwen2Mlp};

type Ad = Autodiff<Flex>;

/// `[batch, seq, intermediate]` of `small_10m` at batch 8 × 128 tokens.
fn swiglu_shape() -> [usize; 3] {
    [8, 128, Qwen2Config::small_10m().intermediate_size]
}

fn swiglu(c: &mut Criterion) {
    let device = Default::default();
    let shape = swiglu_shape();
    let a = Tensor::<Ad, 3>::random(shape, Distribution::Normal(0.0, 2.0), &device);
    let b = Tensor::<Ad, 3>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let mut group = c.benchmark_group("swiglu");
    for (name, fused) in [("fused", true), ("decomposed", false)] {
        group.bench_function(name, |bench| {
            bench.iter(|| {
                let (a, b) = (a.clone().require_grad(), b.clone().require_grad());
                let h = if fused {
                    Qwen2Mlp::swiglu(a.clone(), b.clone())
                } else {
                    Qwen2Mlp::swiglu_decomposed(a.clone(), b.clone())
                };
                let grads = h.sum().backward();
                black_box((a.grad(&grads), b.grad(&grads)))
            })
        });
    }
    group.finish();

    let (a, b) = (a.inner(), b.inner());
    let mut group = c.benchmark_group("swiglu_inference");
    for (name, fused) in [("fused", true), ("decomposed", false)] {
        group.bench_function(name, |bench| {
            bench.iter(|| {
                let h = if fused {
                    Qwen2Mlp::<Flex>::swiglu(a.clone(), b.clone())
                } else {
                    Qwen2Mlp::<Flex>::swiglu_decomposed(a.clone(), b.clone())
                };
                black_box(h.into_primitive())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, swiglu);
criterion_main!(benches);
