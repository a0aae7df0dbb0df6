//! Held-out evaluation (docs/algorithm.md §11): greedy pass@1 and avg@k at T > 0, per data source.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::tensor::backend::Backend;
use prime_data::prompts::PromptDataset;
use prime_models::{CausalLm, SamplingConfig, Tokenizer};
use prime_verifiers::VerifyRunner;

use crate::error::TrainError;
use crate::metrics::{EvalRecord, SourceScore};
use crate::rollout::{RolloutTally, SampledGroup, Sampler};
use crate::seeds::{seed_for, EVAL_GREEDY, EVAL_SAMPLED};

/// How to evaluate.
#[derive(Debug, Clone)]
pub struct EvalSettings {
    /// Samples per problem for avg@k (0 = off).
    pub k: usize,
    /// Temperature of avg@k.
    pub temperature: f64,
    /// Longest response.
    pub max_response_len: usize,
    /// Prompts per `generate` call.
    pub prompts_per_call: usize,
    /// Stop ids.
    pub stop_token_ids: Vec<u32>,
    /// Padding id.
    pub pad_token_id: u32,
    /// Only ids below it are sampled: the tokenizer's size ([`SamplingConfig::vocab_limit`]).
    pub vocab_limit: Option<usize>,
    /// The run seed (evaluation draws derive from it and the step).
    pub seed: u64,
}

/// Evaluates `model` on every prompt. `step` is recorded in the result.
pub fn evaluate<B: Backend, M: CausalLm<B>>(
    model: &M,
    prompts: &PromptDataset,
    tokenizer: &Tokenizer,
    runner: &VerifyRunner,
    settings: &EvalSettings,
    step: usize,
    device: &B::Device,
) -> Result<EvalRecord, TrainError> {
    let started = Instant::now();
    let indices: Vec<usize> = (0..prompts.len()).collect();
    let base = SamplingConfig {
        max_new_tokens: settings.max_response_len,
        temperature: 0.0,
        top_k: None,
        top_p: 1.0,
        greedy: true,
        stop_token_ids: settings.stop_token_ids.clone(),
        pad_token_id: settings.pad_token_id,
        vocab_limit: settings.vocab_limit,
    };
    let greedy = Sampler {
        tokenizer,
        sampling: base.clone(),
        samples_per_prompt: 1,
        prompts_per_call: settings.prompts_per_call,
        runner,
    };
    let mut tally = RolloutTally::default();
    let greedy_groups = greedy.sample(
        model,
        prompts,
        &indices,
        seed_for(settings.seed, EVAL_GREEDY, &[step as u64]),
        device,
        &mut tally,
    )?;
    let sampled_groups = if settings.k > 0 {
        let sampler = Sampler {
            tokenizer,
            sampling: SamplingConfig {
                temperature: settings.temperature as f32,
                greedy: false,
                ..base
            },
            samples_per_prompt: settings.k,
            prompts_per_call: settings.prompts_per_call,
            runner,
        };
        Some(sampler.sample(
            model,
            prompts,
            &indices,
            seed_for(settings.seed, EVAL_SAMPLED, &[step as u64]),
            device,
            &mut tally,
        )?)
    } else {
        None
    };
    Ok(summarise(
        prompts,
        &greedy_groups,
        sampled_groups.as_deref(),
        step,
        tally.undecodable,
        started.elapsed().as_secs_f64(),
    ))
}

fn mean_score(g: &SampledGroup) -> f64 {
    g.responses.iter().map(|r| r.score).sum::<f64>() / g.responses.len().max(1) as f64
}

fn summarise(
    prompts: &PromptDataset,
    greedy: &[SampledGroup],
    sampled: Option<&[SampledGroup]>,
    step: usize,
    undecodable: usize,
    seconds: f64,
) -> EvalRecord {
    // source → (problems, greedy sum, sampled sum)
    let mut by_source: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
    let mut length_sum = 0usize;
    for (i, g) in greedy.iter().enumerate() {
        let source = prompts.problem(g.prompt).data_source.clone();
        let entry = by_source.entry(source).or_default();
        entry.0 += 1;
        entry.1 += mean_score(g);
        if let Some(s) = sampled {
            entry.2 += mean_score(&s[i]);
        }
        length_sum += g.responses.iter().map(|r| r.ids.len()).sum::<usize>();
    }
    let n = greedy.len().max(1) as f64;
    let accuracy = by_source.values().map(|v| v.1).sum::<f64>() / n;
    let avg_at_k = sampled.map(|_| by_source.values().map(|v| v.2).sum::<f64>() / n);
    EvalRecord {
        step,
        accuracy,
        by_source: by_source
            .into_iter()
            .map(|(source, (problems, g, s))| SourceScore {
                source,
                problems,
                pass_at_1: g / problems.max(1) as f64,
                avg_at_k: sampled.map(|_| s / problems.max(1) as f64),
            })
            .collect(),
        avg_at_k,
        response_length: length_sum as f64 / n,
        undecodable,
        seconds,
    }
}
