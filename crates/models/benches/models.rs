//! Speed of the model on the CPU: forward, `token_log_probs`, generation and a training step
//! (forward + backward + global-norm clipping + AdamW), for the `tiny` preset and the ~10M
//! `small_10m` preset, batch 8 × 128. `tools/bench_torch.py` times the same shapes in PyTorch.
//!
//! `cargo bench -p prime-models --bench models --profile dev` (burn is optimised in the dev
//! profile; no second, release build of burn). With `--features ndarray` the 4.5M backend
//! comparison also runs on burn's ndarray backend. Set `RAYON_NUM_THREADS` to fix the threads.

use std::hint::black_box;
use std::time::Duration;

use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use prime_models::optim::{adamw, clip_grad_norm};
use prime_models::{generate, token_log_probs, CausalLm, Qwen2Config, SamplingConfig, TokenBatch};

/// mimalloc with freed pages kept, as `prime-train` runs (`prime_trainer::allocator`: glibc maps
/// and faults in every large tensor afresh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `prime_trainer::allocator::keep_freed_memory` (prime-models cannot depend on the trainer):
/// mimalloc's option 15, `mi_option_purge_delay`, set to −1.
fn keep_freed_memory() {
    // SAFETY: sets one integer option of mimalloc's.
    unsafe { libmimalloc_sys::mi_option_set(15, -1) }
}

const BATCH: usize = 8;
const SEQ: usize = 128;

/// The 4.5M-parameter shape of the backend comparison (issue 2, section 5).
fn config_4_5m() -> Qwen2Config {
    Qwen2Config {
        vocab_size: 5120,
        num_hidden_layers: 4,
        ..Qwen2Config::small_10m()
    }
}

/// `BATCH` rows of `len` pseudo-random ids below `vocab`, the first row left-padded by 8.
fn token_batch<B: Backend>(vocab: usize, len: usize, device: &B::Device) -> TokenBatch<B> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let ids: Vec<i64> = (0..BATCH * len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % vocab as u64) as i64
        })
        .collect();
    let mask: Vec<i64> = (0..BATCH * len)
        .map(|i| i64::from(!(i < len && i % len < 8)))
        .collect();
    TokenBatch {
        input_ids: Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [BATCH, len]), device),
        attention_mask: Tensor::<B, 2, Int>::from_data(TensorData::new(mask, [BATCH, len]), device),
    }
}

fn inference<B: Backend>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    config: &Qwen2Config,
) {
    let device = B::Device::default();
    B::seed(&device, 0);
    let model = config.init::<B>(&device);
    let batch = token_batch::<B>(config.vocab_size, SEQ, &device);
    group.throughput(Throughput::Elements((BATCH * SEQ) as u64));
    group.bench_function("forward", |b| {
        b.iter(|| {
            let logits = model.forward(black_box(&batch));
            B::sync(&device).ok();
            logits
        })
    });
    group.bench_function("token_log_probs", |b| {
        b.iter(|| {
            let log_probs = token_log_probs(model.forward(&batch), &batch).into_data();
            black_box(log_probs)
        })
    });
    let prompts = token_batch::<B>(config.vocab_size, 16, &device);
    let sampling = SamplingConfig {
        max_new_tokens: 32,
        ..Default::default()
    };
    group.throughput(Throughput::Elements(
        (BATCH * sampling.max_new_tokens) as u64,
    ));
    group.bench_function("generate_8x32", |b| {
        b.iter(|| black_box(generate(&model, &prompts, &sampling, 0)))
    });
}

fn train_step<B: AutodiffBackend>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    config: &Qwen2Config,
    name: &str,
) {
    let device = B::Device::default();
    B::seed(&device, 0);
    let mut model = Some(config.init::<B>(&device));
    let batch = token_batch::<B>(config.vocab_size, SEQ, &device);
    let mut optimizer = adamw(0.0).init::<B, prime_models::Qwen2ForCausalLm<B>>();
    group.throughput(Throughput::Elements((BATCH * SEQ) as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            let current = model.take().expect("model");
            let loss = token_log_probs(current.forward(&batch), &batch)
                .mean()
                .neg();
            let grads = GradientsParams::from_grads(loss.backward(), &current);
            let (grads, norm) = clip_grad_norm(&current, grads, 1.0);
            model = Some(optimizer.step(1e-4, current, grads));
            black_box(norm)
        })
    });
}

fn models(c: &mut Criterion) {
    keep_freed_memory();
    type Cpu = prime_models::backend::CpuBackend;
    for (name, config) in [
        ("tiny", Qwen2Config::tiny()),
        ("small_10m", Qwen2Config::small_10m()),
    ] {
        let mut group = c.benchmark_group(name);
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        inference::<Cpu>(&mut group, &config);
        train_step::<burn::backend::Autodiff<Cpu>>(&mut group, &config, "train_step");
        group.finish();
    }
}

fn backends(c: &mut Criterion) {
    let config = config_4_5m();
    let mut group = c.benchmark_group("backend_4_5m");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let device = Default::default();
    let model = config.init::<burn::backend::Flex>(&device);
    let batch = token_batch::<burn::backend::Flex>(config.vocab_size, SEQ, &device);
    group.bench_function("flex_forward", |b| {
        b.iter(|| model.forward(&batch).into_data())
    });
    train_step::<burn::backend::Autodiff<burn::backend::Flex>>(
        &mut group,
        &config,
        "flex_train_step",
    );
    #[cfg(feature = "ndarray")]
    {
        type Nd = burn::backend::NdArray;
        let device = Default::default();
        let model = config.init::<Nd>(&device);
        let batch = token_batch::<Nd>(config.vocab_size, SEQ, &device);
        group.bench_function("ndarray_forward", |b| {
            b.iter(|| model.forward(&batch).into_data())
        });
        train_step::<burn::backend::Autodiff<Nd>>(&mut group, &config, "ndarray_train_step");
    }
    group.finish();
}

/// RMSNorm forward + backward at the `small_10m` width (`[8, 128, 256]`) on `Autodiff<Flex>`:
/// the fused op (`RmsNorm::forward`) against the decomposed ops (`RmsNorm::decomposed`), in one run.
fn rms_norm(c: &mut Criterion) {
    type Ad = burn::backend::Autodiff<burn::backend::Flex>;
    let config = Qwen2Config::small_10m();
    let device = Default::default();
    let norm = config.init::<Ad>(&device).model.norm;
    let shape = [BATCH, SEQ, config.hidden_size];
    let x = Tensor::<Ad, 3>::random(shape, burn::tensor::Distribution::Default, &device);
    let mut group = c.benchmark_group("rms_norm_8x128x256");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, fused) in [("fused_fwd_bwd", true), ("decomposed_fwd_bwd", false)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let x = x.clone().require_grad();
                let y = if fused {
                    norm.forward(x.clone())
                } else {
                    norm.decomposed(x.clone())
                };
                let grads = y.sum().backward();
                black_box(x.grad(&grads).map(|g| g.into_data()))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, models, backends, rms_norm);
criterion_main!(benches);
