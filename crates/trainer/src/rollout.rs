//! Sampling K responses per prompt and verifying them (docs/algorithm.md §2–3).

use std::time::Instant;

use burn::tensor::backend::Backend;
use prime_data::prompts::PromptDataset;
use prime_models::{generate, CausalLm, FinishReason, SamplingConfig, Tokenizer};
use prime_verifiers::{Status, StatusCounts, VerifyItem, VerifyRunner};

use crate::error::TrainError;
use crate::filter::ScoredGroup;
use crate::seeds::derive_seed;

/// One sampled, verified response.
#[derive(Debug, Clone)]
pub struct Sampled {
    /// New token ids, including the stop token when one was produced.
    pub ids: Vec<u32>,
    /// Decoded text (special tokens skipped) as the verifier saw it.
    pub text: String,
    /// It hit `max_response_len` without a stop token.
    pub truncated: bool,
    /// Verifier score `acc ∈ [0, 1]` (0 for timeouts and errors).
    pub score: f64,
    /// How verification ended.
    pub status: Status,
}

/// The K responses of one prompt.
#[derive(Debug, Clone)]
pub struct SampledGroup {
    /// Index of the prompt in its prompt set.
    pub prompt: usize,
    /// The responses.
    pub responses: Vec<Sampled>,
    acc: Vec<f64>,
    truncated: Vec<bool>,
}

impl SampledGroup {
    fn new(prompt: usize, responses: Vec<Sampled>) -> Self {
        let acc = responses.iter().map(|r| r.score).collect();
        let truncated = responses.iter().map(|r| r.truncated).collect();
        Self {
            prompt,
            responses,
            acc,
            truncated,
        }
    }
}

impl ScoredGroup for SampledGroup {
    type Prompt = usize;
    fn accuracies(&self) -> &[f64] {
        &self.acc
    }
    fn truncated(&self) -> &[bool] {
        &self.truncated
    }
    fn prompt(&self) -> &usize {
        &self.prompt
    }
}

/// Time and volume of sampling and verification, accumulated over rounds.
#[derive(Debug, Clone, Default)]
pub struct RolloutTally {
    /// Seconds generating.
    pub rollout_seconds: f64,
    /// Seconds verifying.
    pub verify_seconds: f64,
    /// Tokens generated.
    pub tokens: usize,
    /// Verdicts by status.
    pub counts: StatusCounts,
    /// Sum of scores over every response.
    pub score_sum: f64,
    /// Responses sampled.
    pub responses: usize,
}

/// Everything sampling needs besides the model.
pub struct Sampler<'a> {
    /// Decodes responses for the verifier.
    pub tokenizer: &'a Tokenizer,
    /// Temperature, top-p/k, max tokens, stop ids.
    pub sampling: SamplingConfig,
    /// Responses per prompt.
    pub samples_per_prompt: usize,
    /// Prompts per batched `generate` call.
    pub prompts_per_call: usize,
    /// The parallel verifier.
    pub runner: &'a VerifyRunner,
}

impl Sampler<'_> {
    /// Samples `samples_per_prompt` responses for each of `indices` (into `prompts`) and
    /// verifies them. The draws are a pure function of `seed` (chunk `c` samples with
    /// `derive_seed(seed, [c])`).
    pub fn sample<B: Backend, M: CausalLm<B>>(
        &self,
        model: &M,
        prompts: &PromptDataset,
        indices: &[usize],
        seed: u64,
        device: &B::Device,
        tally: &mut RolloutTally,
    ) -> Result<Vec<SampledGroup>, TrainError> {
        let k = self.samples_per_prompt;
        let mut groups = Vec::with_capacity(indices.len());
        for (chunk_no, chunk) in indices.chunks(self.prompts_per_call.max(1)).enumerate() {
            if let Some(&p) = chunk.iter().find(|&&p| p >= prompts.len()) {
                return Err(TrainError::Data(format!(
                    "prompt index {p} out of range ({})",
                    prompts.len()
                )));
            }
            let rows: Vec<usize> = chunk
                .iter()
                .flat_map(|&p| std::iter::repeat_n(p, k))
                .collect();
            let started = Instant::now();
            let batch = prompts.batch(&rows).to_token_batch::<B>(device);
            let chunk_seed = derive_seed(seed, &[chunk_no as u64]);
            let generation = generate(model, &batch, &self.sampling, chunk_seed);
            tally.rollout_seconds += started.elapsed().as_secs_f64();

            let started = Instant::now();
            let mut items = Vec::with_capacity(rows.len());
            let mut texts = Vec::with_capacity(rows.len());
            for (row, ids) in generation.tokens.iter().enumerate() {
                tally.tokens += ids.len();
                let text = self
                    .tokenizer
                    .decode(ids, true)
                    .map_err(|e| TrainError::Model(e.to_string()))?;
                let problem = prompts.problem(chunk[row / k]);
                items.push(VerifyItem {
                    response: text.clone(),
                    reference: problem.reference.clone(),
                });
                texts.push(text);
            }
            let result = self.runner.run(items);
            tally.verify_seconds += started.elapsed().as_secs_f64();
            for (g, &p) in chunk.iter().enumerate() {
                let responses: Vec<Sampled> = (0..k)
                    .map(|j| {
                        let row = g * k + j;
                        let verdict = &result.verdicts[row];
                        let score = if verdict.score.is_finite() {
                            verdict.score.clamp(0.0, 1.0)
                        } else {
                            0.0
                        };
                        tally.counts.add(verdict.status);
                        tally.score_sum += score;
                        tally.responses += 1;
                        Sampled {
                            ids: generation.tokens[row].clone(),
                            text: texts[row].clone(),
                            truncated: generation.finish_reasons[row] == FinishReason::Length,
                            score,
                            status: verdict.status,
                        }
                    })
                    .collect();
                groups.push(SampledGroup::new(p, responses));
            }
        }
        Ok(groups)
    }
}
