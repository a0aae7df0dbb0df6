//! Sampling K responses per prompt and verifying them (docs/algorithm.md §2–3).

use std::time::Instant;

use burn::tensor::backend::Backend;
use prime_data::prompts::PromptDataset;
use prime_models::{generate_rows, CausalLm, FinishReason, Generation, SamplingConfig, Tokenizer};
use prime_verifiers::{Status, StatusCounts, Verdict, VerifyItem, VerifyRunner};

use crate::error::TrainError;
use crate::filter::ScoredGroup;
use crate::seeds::derive_seed;

/// One sampled, verified response.
#[derive(Debug, Clone)]
pub struct Sampled {
    /// New token ids, including the stop token when one was produced.
    pub ids: Vec<u32>,
    /// The sampler's `log π(y_t)` of each id (the in-process sampler's at its temperature, a
    /// vLLM server's of the raw logits); empty when the engine gave none. Informational: the
    /// trainer recomputes the old log-probs itself.
    pub log_probs: Vec<f32>,
    /// Decoded text (special tokens skipped) as the verifier saw it; `None` when the ids could
    /// not be decoded (then the response was never verified).
    pub text: Option<String>,
    /// It hit `max_response_len` without a stop token.
    pub truncated: bool,
    /// Verifier score `acc ∈ [0, 1]` (0 for timeouts and errors).
    pub score: f64,
    /// How verification ended ([`Status::Error`] for a response that could not be decoded).
    pub status: Status,
    /// The verifier's reason, or why decoding failed.
    pub reason: String,
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
    /// Of `counts.error`: responses the tokenizer could not decode (never verified).
    pub undecodable: usize,
    /// Sum of scores over every response.
    pub score_sum: f64,
    /// Responses sampled.
    pub responses: usize,
}

/// Everything sampling needs besides the model.
pub struct Sampler<'a> {
    /// Decodes responses for the verifier.
    pub tokenizer: &'a Tokenizer,
    /// Temperature, top-p/k, max tokens, stop ids, and the vocabulary limit (the tokenizer's
    /// size, so that no id without text is drawn).
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
    /// verifies them. Response `j` of prompt `p` (dataset index) draws from
    /// `derive_seed(seed, [p, j])` alone, whatever else shares its batch: data-parallel ranks
    /// that split a round's prompts sample what one process samples.
    ///
    /// Decoding is total: a response the tokenizer cannot decode (an id it does not have, which
    /// the vocabulary limit keeps the sampler from drawing) is not verified; it scores 0 with
    /// [`Status::Error`] and the decoding error as its reason, is counted in `tally.undecodable`,
    /// and sampling goes on.
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
        self.sample_with(prompts, indices, tally, |chunks| {
            let generations = chunks.iter().map(|chunk| {
                let rows: Vec<usize> = chunk
                    .iter()
                    .flat_map(|&p| std::iter::repeat_n(p, k))
                    .collect();
                let batch = prompts.batch(&rows).to_token_batch::<B>(device);
                let row_seeds: Vec<u64> = chunk
                    .iter()
                    .flat_map(|&p| (0..k).map(move |j| derive_seed(seed, &[p as u64, j as u64])))
                    .collect();
                generate_rows(model, &batch, &self.sampling, &row_seeds)
                    .map_err(|e| TrainError::Model(e.to_string()))
            });
            generations.collect()
        })
    }

    /// Like [`Sampler::sample`], with the responses from `generate`: given the prompts of each
    /// chunk of `prompts_per_call` (in order), it returns one [`Generation`] per chunk whose
    /// rows are each prompt's `samples_per_prompt` responses, prompt after prompt. Another
    /// rollout engine (a vLLM server) plugs in here; verification is the same.
    pub fn sample_with(
        &self,
        prompts: &PromptDataset,
        indices: &[usize],
        tally: &mut RolloutTally,
        generate: impl FnOnce(&[&[usize]]) -> Result<Vec<Generation>, TrainError>,
    ) -> Result<Vec<SampledGroup>, TrainError> {
        let k = self.samples_per_prompt;
        if let Some(&p) = indices.iter().find(|&&p| p >= prompts.len()) {
            return Err(TrainError::Data(format!(
                "prompt index {p} out of range ({})",
                prompts.len()
            )));
        }
        let chunks: Vec<&[usize]> = indices.chunks(self.prompts_per_call.max(1)).collect();
        let started = Instant::now();
        let generations = generate(&chunks)?;
        tally.rollout_seconds += started.elapsed().as_secs_f64();
        if generations.len() != chunks.len()
            || generations.iter().zip(&chunks).any(|(g, c)| {
                g.tokens.len() != c.len() * k || g.finish_reasons.len() != g.tokens.len()
            })
        {
            return Err(TrainError::Model(
                "the rollout engine returned a different number of responses than asked for".into(),
            ));
        }
        let mut groups = Vec::with_capacity(indices.len());
        for (chunk, generation) in chunks.into_iter().zip(generations) {
            groups.extend(self.verify_chunk(prompts, chunk, generation, tally));
        }
        Ok(groups)
    }

    /// Decodes and verifies the responses of one chunk of prompts, grouped per prompt.
    fn verify_chunk(
        &self,
        prompts: &PromptDataset,
        chunk: &[usize],
        generation: Generation,
        tally: &mut RolloutTally,
    ) -> Vec<SampledGroup> {
        let k = self.samples_per_prompt;
        let started = Instant::now();
        let mut items = Vec::with_capacity(generation.tokens.len());
        // Per row: its text, or the verdict of a response that cannot be decoded.
        let mut decoded = Vec::with_capacity(generation.tokens.len());
        for (row, ids) in generation.tokens.iter().enumerate() {
            tally.tokens += ids.len();
            match self.tokenizer.decode(ids, true) {
                Ok(text) => {
                    let problem = prompts.problem(chunk[row / k]);
                    items.push(VerifyItem {
                        response: text.clone(),
                        reference: problem.reference.clone(),
                    });
                    decoded.push(Ok(text));
                }
                Err(error) => {
                    tracing::warn!(%error, "a response could not be decoded: scored 0");
                    tally.undecodable += 1;
                    decoded.push(Err(Verdict::error(format!("undecodable: {error}"))));
                }
            }
        }
        // Verdicts of the decoded rows, in order, merged back between the undecodable ones.
        let mut verified = self.runner.run(items).verdicts.into_iter();
        let verdicts: Vec<(Option<String>, Verdict)> = decoded
            .into_iter()
            .map(|row| match row {
                Ok(text) => {
                    let verdict = verified.next().unwrap_or_else(|| {
                        Verdict::error("the verify runner returned too few verdicts")
                    });
                    (Some(text), verdict)
                }
                Err(verdict) => (None, verdict),
            })
            .collect();
        tally.verify_seconds += started.elapsed().as_secs_f64();
        let mut rows = generation
            .tokens
            .into_iter()
            .zip(
                generation
                    .logprobs
                    .into_iter()
                    .chain(std::iter::repeat(Vec::new())),
            )
            .zip(generation.finish_reasons)
            .zip(verdicts);
        chunk
            .iter()
            .map(|&p| {
                let responses: Vec<Sampled> = rows
                    .by_ref()
                    .take(k)
                    .map(|(((ids, log_probs), finish), (text, verdict))| {
                        let score = if verdict.score.is_finite() {
                            verdict.score.clamp(0.0, 1.0)
                        } else {
                            0.0
                        };
                        tally.counts.add(verdict.status);
                        tally.score_sum += score;
                        tally.responses += 1;
                        Sampled {
                            ids,
                            log_probs,
                            text,
                            truncated: finish == FinishReason::Length,
                            score,
                            status: verdict.status,
                            reason: verdict.reason,
                        }
                    })
                    .collect();
                SampledGroup::new(p, responses)
            })
            .collect()
    }
}

/// Leaves out of training every group with a response that could not be decoded, and returns
/// how many. Its score of 0 says nothing about its answer, and an id past the vocabulary limit
/// (which [`prime_models::generate`] never draws, but another rollout engine might) has probability 0 under
/// the policy (docs/algorithm.md §2), so no log-prob of it is finite.
pub fn without_undecodable(groups: Vec<SampledGroup>) -> (Vec<SampledGroup>, usize) {
    let before = groups.len();
    let kept: Vec<SampledGroup> = groups
        .into_iter()
        .filter(|g| g.responses.iter().all(|r| r.text.is_some()))
        .collect();
    let dropped = before - kept.len();
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(text: Option<&str>) -> Sampled {
        Sampled {
            ids: vec![1, 2],
            log_probs: vec![-0.5, -0.5],
            text: text.map(str::to_string),
            truncated: false,
            score: 0.0,
            status: if text.is_some() {
                Status::Wrong
            } else {
                Status::Error
            },
            reason: String::new(),
        }
    }

    #[test]
    fn groups_with_an_undecodable_response_are_left_out_of_training() {
        let groups = vec![
            SampledGroup::new(0, vec![response(Some("a")), response(Some("b"))]),
            SampledGroup::new(1, vec![response(Some("c")), response(None)]),
            SampledGroup::new(2, vec![response(Some("d")), response(Some("e"))]),
        ];
        let (kept, dropped) = without_undecodable(groups);
        assert_eq!(dropped, 1);
        assert_eq!(kept.iter().map(|g| g.prompt).collect::<Vec<_>>(), [0, 2]);
    }
}
