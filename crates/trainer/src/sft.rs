//! Supervised warm-up: cross-entropy on worked solutions (the paper's RL starts from an SFT
//! model). Loss per batch = `−Σ log π(y_t | x, y_<t) / Σ L_i` over completion tokens only.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use prime_models::{optim::clip_grad_norm, response_scores, CausalLm, ResponseBatch};

use crate::error::TrainError;
use crate::schedule::LrSchedule;
use prime_models::optim_state::AdamWOf;

/// One supervised example as token ids: the prompt (chat template up to the assistant turn) and
/// the completion (solution + end-of-turn token).
#[derive(Debug, Clone)]
pub struct SftPair {
    /// Prompt ids.
    pub prompt: Vec<u32>,
    /// Completion ids.
    pub completion: Vec<u32>,
}

/// Progress of the warm-up.
#[derive(Debug, Clone, Default)]
pub struct SftReport {
    /// Loss of each step.
    pub losses: Vec<f64>,
    /// Steps skipped for a non-finite loss or gradient.
    pub skipped: usize,
    /// Wall seconds.
    pub seconds: f64,
}

/// Settings of the warm-up.
#[derive(Debug, Clone)]
pub struct SftSettings {
    /// Optimizer steps.
    pub steps: usize,
    /// Examples per step.
    pub batch_size: usize,
    /// Learning-rate schedule over `steps`.
    pub schedule: LrSchedule,
    /// Global grad-norm clip.
    pub grad_clip: f64,
    /// Padding id.
    pub pad_id: u32,
    /// Train the distribution over the ids below this limit, the one RL samples from
    /// (`ResponseBatch::vocab_limit`).
    pub vocab_limit: Option<usize>,
    /// Score `logprob_chunk` tokens at a time, without whole-vocabulary logits
    /// (`ResponseBatch::logprob_chunk`, `[memory] logprob_chunk`; 0: unchunked).
    pub logprob_chunk: usize,
}

/// Runs the warm-up: step `s` trains on `examples(s)` (the caller decides where examples come
/// from, so the stream is reproducible). `on_step(step, loss)` is called after every step.
pub fn supervised_warmup<B: AutodiffBackend, M: CausalLm<B> + AutodiffModule<B>>(
    mut model: M,
    optimizer: &mut AdamWOf<M, B>,
    settings: &SftSettings,
    mut examples: impl FnMut(usize) -> Result<Vec<SftPair>, TrainError>,
    device: &B::Device,
    mut on_step: impl FnMut(usize, f64),
) -> Result<(M, SftReport), TrainError> {
    let started = Instant::now();
    let mut report = SftReport::default();
    for step in 0..settings.steps {
        let pairs = examples(step)?;
        if pairs.is_empty() {
            break;
        }
        let prompts: Vec<&[u32]> = pairs.iter().map(|p| p.prompt.as_slice()).collect();
        let completions: Vec<&[u32]> = pairs.iter().map(|p| p.completion.as_slice()).collect();
        let batch = ResponseBatch::<B>::from_ids(&prompts, &completions, settings.pad_id, device)
            .map_err(|e| TrainError::Model(e.to_string()))?
            .with_vocab_limit(settings.vocab_limit)
            .with_logprob_chunk(settings.logprob_chunk);
        let tokens: usize = completions.iter().map(|c| c.len()).sum();
        let scores =
            response_scores(&model, &batch, false).map_err(|e| TrainError::Model(e.to_string()))?;
        let loss = scores
            .log_probs
            .sum()
            .neg()
            .div_scalar(tokens.max(1) as f64);
        let value = loss.clone().into_scalar_f64();
        if !value.is_finite() {
            report.skipped += 1;
            continue;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let (grads, norm) = clip_grad_norm(&model, grads, settings.grad_clip);
        if !norm.is_finite() {
            report.skipped += 1;
            continue;
        }
        model = optimizer.step(settings.schedule.lr(step), model, grads);
        report.losses.push(value);
        on_step(step, value);
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok((model, report))
}

/// A scalar tensor's value as `f64`.
trait IntoScalarF64 {
    fn into_scalar_f64(self) -> f64;
}

impl<B: burn::tensor::backend::Backend> IntoScalarF64 for burn::tensor::Tensor<B, 1> {
    fn into_scalar_f64(self) -> f64 {
        self.into_data()
            .convert::<f64>()
            .into_vec::<f64>()
            .ok()
            .and_then(|v| v.first().copied())
            .unwrap_or(f64::NAN)
    }
}
