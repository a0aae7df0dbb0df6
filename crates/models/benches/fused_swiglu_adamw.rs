//! Issue 22's fused SwiGLU middle and fused AdamW against the burn ops they replace, at the
//! `small_10m` shapes, both paths in one run (`RAYON_NUM_THREADS=2 cargo bench -p prime-models
//! --bench fused_swiglu_adamw`):
//!
//! - `swiglu/{fused,decomposed}`: `silu(a) ⊙ b` forward + backward on `Autodiff<Flex>` at
//!   `[8, 128, 768]` (`Qwen2Mlp::swiglu` against `Qwen2Mlp::swiglu_decomposed`), with the loss
//!   `Σ h ⊙ w`, inputs `a·1`, `b·1` (fresh buffers, as the projections' outputs are); those
//!   products and the loss are the same on both sides and in both times;
//! - `swiglu_inference/{fused,decomposed}`: the forward alone on `Flex`;
//! - `adamw_small_10m/{fused,burn}`: one AdamW step (λ = 0.01) over all of `small_10m`'s
//!   parameters (≈ 10M values) through burn's optimizer adaptor: `optim::adamw(λ).init()`
//!   against `optim::adamw(λ).burn_config().init()`, the same gradients every step.

use std::hint::black_box;

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use prime_models::optim::adamw;
use prime_models::{CausalLm, Qwen2Config, Qwen2ForCausalLm, Qwen2Mlp, TokenBatch};

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
    let weights = Tensor::<Ad, 3>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let mut group = c.benchmark_group("swiglu");
    for (name, fused) in [("fused", true), ("decomposed", false)] {
        group.bench_function(name, |bench| {
            bench.iter(|| {
                let (a, b) = (a.clone().require_grad(), b.clone().require_grad());
                // Fresh buffers that only the op holds, like the projections' outputs.
                let (gate, up) = (a.clone().mul_scalar(1.0), b.clone().mul_scalar(1.0));
                let h = if fused {
                    Qwen2Mlp::swiglu(gate, up)
                } else {
                    Qwen2Mlp::swiglu_decomposed(gate, up)
                };
                // `Σ h ⊙ w`: a dense incoming gradient, as from the down projection.
                let grads = h.mul(weights.clone()).sum().backward();
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

type Model = Qwen2ForCausalLm<Ad>;

/// A second handle on every gradient of `grads` (the tensors are shared, not copied).
fn copy_grads(model: &Model, grads: &GradientsParams) -> GradientsParams {
    struct Copy<'a> {
        from: &'a GradientsParams,
        to: GradientsParams,
    }
    impl ModuleVisitor<Ad> for Copy<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Ad, D>>) {
            if let Some(grad) = self.from.get::<Flex, D>(param.id) {
                self.to.register(param.id, grad);
            }
        }
    }
    let mut copy = Copy {
        from: grads,
        to: GradientsParams::new(),
    };
    model.visit(&mut copy);
    copy.to
}

fn adamw_steps<O: Optimizer<Model, Ad>>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut optimizer: O,
    model: &Model,
    grads: &GradientsParams,
) {
    let mut model = Some(model.clone());
    group.bench_function(name, |bench| {
        bench.iter(|| {
            let current = model.take().expect("model");
            let grads = copy_grads(&current, grads);
            model = Some(optimizer.step(1e-4, current, grads));
        })
    });
}

fn adamw_step(c: &mut Criterion) {
    let device = Default::default();
    Ad::seed(&device, 0);
    let model = Qwen2Config::small_10m().init::<Ad>(&device);
    let ids = Tensor::<Ad, 2, Int>::random([2, 16], Distribution::Uniform(0.0, 8000.0), &device);
    let batch = TokenBatch {
        attention_mask: ids.ones_like(),
        input_ids: ids,
    };
    let grads = GradientsParams::from_grads(model.forward(&batch).mean().backward(), &model);
    let mut group = c.benchmark_group("adamw_small_10m");
    group.sample_size(20);
    adamw_steps(&mut group, "fused", adamw(0.01).init(), &model, &grads);
    let burn = adamw(0.01).burn_config().init();
    adamw_steps(&mut group, "burn", burn, &model, &grads);
    group.finish();
}

criterion_group!(benches, swiglu, adamw_step);
criterion_main!(benches);
