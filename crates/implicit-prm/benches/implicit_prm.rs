//! Implicit-PRM cost: reward computation (inference forward of PRM + reference) and one update
//! step (mode `after`: forward + backward + AdamW on one mini-batch, rewards included), for the
//! tiny and the ~10M Qwen2 configs, next to a policy PPO step of the same size (forward +
//! backward + AdamW with a clipped-ratio loss). The paper's PRM update costs ~0.96× the policy's.
//!
//! `cargo bench -p prime-implicit-prm --bench implicit_prm` (set `PRM_BENCH_ONLY=tiny` to skip
//! the ~10M model). After the criterion groups, prints the PRM/PPO step-time ratio per size.

use std::time::{Duration, Instant};

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::{backend::Backend, Distribution, Tensor};
use criterion::{criterion_group, criterion_main, Criterion};
use prime_implicit_prm::{ImplicitPrm, OutcomeLabels, PrmBatch, PrmConfig};
use prime_models::backend::CpuAutodiffBackend as B;
use prime_models::{optim, response_scores, Qwen2Config, Qwen2ForCausalLm};

struct Size {
    name: &'static str,
    config: Qwen2Config,
    rows: usize,
    prompt_len: usize,
    response_len: usize,
}

fn sizes() -> Vec<Size> {
    let mut sizes = vec![Size {
        name: "tiny",
        config: Qwen2Config::tiny(),
        rows: 16,
        prompt_len: 16,
        response_len: 48,
    }];
    if std::env::var("PRM_BENCH_ONLY").as_deref() != Ok("tiny") {
        sizes.push(Size {
            name: "10m",
            config: Qwen2Config::small_10m(),
            rows: 8,
            prompt_len: 32,
            response_len: 96,
        });
    }
    sizes
}

fn inputs(size: &Size) -> (PrmBatch<B>, OutcomeLabels) {
    let vocab = size.config.vocab_size as u32;
    let token = |i: usize| ((i * 7919 + 13) as u32) % (vocab - 1) + 1;
    let prompts: Vec<Vec<u32>> = (0..size.rows)
        .map(|r| (0..size.prompt_len).map(|t| token(r * 1000 + t)).collect())
        .collect();
    // Responses of varying length, as after sampling with stop tokens.
    let responses: Vec<Vec<u32>> = (0..size.rows)
        .map(|r| {
            let len = size.response_len - (r * 5) % (size.response_len / 2);
            (0..len).map(|t| token(r * 1000 + 500 + t)).collect()
        })
        .collect();
    let batch = PrmBatch::from_ids(&prompts, &responses, 0, &Default::default()).unwrap();
    let labels = OutcomeLabels {
        acc: (0..size.rows).map(|r| (r % 2) as f32).collect(),
        group_ids: (0..size.rows).map(|r| r / 4).collect(),
    };
    (batch, labels)
}

fn model(config: &Qwen2Config) -> Qwen2ForCausalLm<B> {
    let device = Default::default();
    B::seed(&device, 0);
    config.init::<B>(&device)
}

/// A policy PPO step: `ρ = exp(log π_θ − log π_old)`, loss `mean(max(−Aρ, −A·clip(ρ, 0.8, 1.2)))`
/// over valid tokens, global grad-norm clip 1, AdamW (lr 5e-7, wd 0.01).
struct PpoStep {
    model: Qwen2ForCausalLm<B>,
    optimizer: prime_models::optim_state::AdamWOf<Qwen2ForCausalLm<B>, B>,
    old_log_probs: Tensor<B, 2>,
    advantages: Tensor<B, 2>,
    mask: Tensor<B, 2>,
}

impl PpoStep {
    fn new(config: &Qwen2Config, batch: &PrmBatch<B>) -> Self {
        let model = model(config);
        let old = response_scores(&model.valid(), &batch.inner().responses, false)
            .unwrap()
            .log_probs;
        let [rows, width] = old.dims();
        let device = Default::default();
        let mask = batch.responses.response_mask(width);
        Self {
            model,
            optimizer: optim::adamw(0.01).init(),
            old_log_probs: Tensor::from_inner(old),
            advantages: Tensor::random([rows, width], Distribution::Normal(0.0, 1.0), &device),
            mask,
        }
    }

    fn step(&mut self, batch: &PrmBatch<B>) {
        let log_probs = response_scores(&self.model, &batch.responses, false)
            .unwrap()
            .log_probs;
        let ratio = log_probs.sub(self.old_log_probs.clone()).exp();
        let a = self.advantages.clone();
        let unclipped = a.clone().neg().mul(ratio.clone());
        let clipped = a.neg().mul(ratio.clamp(0.8, 1.2));
        let per_token = unclipped.max_pair(clipped).mul(self.mask.clone());
        let loss = per_token.sum().div(self.mask.clone().sum());
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        let (grads, _norm) = optim::clip_grad_norm(&self.model, grads, 1.0);
        self.model = self.optimizer.step(5e-7, self.model.clone(), grads);
    }
}

fn prm(size: &Size) -> ImplicitPrm<B, Qwen2ForCausalLm<B>> {
    let config = PrmConfig {
        mini_batch_size: size.rows,
        ..PrmConfig::default()
    };
    ImplicitPrm::with_frozen_reference(model(&size.config), config).unwrap()
}

fn bench(c: &mut Criterion) {
    for size in sizes() {
        let (batch, labels) = inputs(&size);
        let mut group = c.benchmark_group(format!("implicit_prm/{}", size.name));
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(if size.name == "tiny" {
            5
        } else {
            20
        }));

        let mut scorer = prm(&size);
        group.bench_function("token_rewards", |b| {
            b.iter(|| scorer.token_rewards(&batch).unwrap())
        });
        group.bench_function("prm_update_step", |b| {
            b.iter(|| scorer.step(&batch, &labels).unwrap())
        });
        let mut ppo = PpoStep::new(&size.config, &batch);
        group.bench_function("policy_ppo_step", |b| b.iter(|| ppo.step(&batch)));
        group.finish();
    }
}

/// Median of `runs` timings of `f` after one warm-up call.
fn median(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

fn ratio(_: &mut Criterion) {
    for size in sizes() {
        let (batch, labels) = inputs(&size);
        let mut prm = prm(&size);
        let mut ppo = PpoStep::new(&size.config, &batch);
        let prm_time = median(5, || {
            prm.step(&batch, &labels).unwrap();
        });
        let ppo_time = median(5, || ppo.step(&batch));
        eprintln!(
            "{}: {} params, PRM step {:.1} ms, PPO step {:.1} ms, PRM/PPO = {:.2}",
            size.name,
            size.config.num_parameters(),
            prm_time * 1e3,
            ppo_time * 1e3,
            prm_time / ppo_time
        );
    }
}

criterion_group!(benches, bench, ratio);
criterion_main!(benches);
