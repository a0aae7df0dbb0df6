//! Problems rendered through the model's chat template and tokenised once, with over-long
//! prompts dropped and counted.

use prime_models::Tokenizer;
use serde::{Deserialize, Serialize};

use super::batch::PromptBatch;
use crate::error::DataError;
use crate::problem::Problem;

/// How prompts are built from problems.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromptOptions {
    /// Replaces every problem's system message (`Some("")` removes it; `None` keeps the
    /// dataset's).
    pub system_prompt: Option<String>,
    /// Prompts with more tokens than this are dropped (and counted).
    pub max_prompt_len: usize,
}

impl Default for PromptOptions {
    fn default() -> Self {
        Self {
            system_prompt: None,
            max_prompt_len: 1024,
        }
    }
}

/// The token ids of `problem`'s prompt: its messages (with the system prompt override) through
/// the chat template with the generation prompt (`<|im_start|>assistant\n` for ChatML),
/// tokenised without the post-processor.
pub fn prompt_token_ids(
    problem: &Problem,
    tokenizer: &Tokenizer,
    system_prompt: Option<&str>,
) -> Result<Vec<u32>, DataError> {
    let problem = problem.with_system_prompt(system_prompt);
    tokenizer
        .encode_chat(&problem.messages, true)
        .map_err(|err| DataError::Tokenizer(format!("problem {}: {err}", problem.id)))
}

/// Problems with their tokenised prompts, ready to batch.
#[derive(Debug, Clone)]
pub struct PromptDataset {
    problems: Vec<Problem>,
    prompt_ids: Vec<Vec<u32>>,
    dropped_too_long: usize,
    pad_token_id: u32,
    fingerprint: u64,
}

impl PromptDataset {
    /// Renders and tokenises every problem; those longer than `options.max_prompt_len` tokens
    /// are dropped and counted in [`PromptDataset::dropped_too_long`]. The pad id is the
    /// tokenizer's pad token, else its eos token.
    pub fn new(
        problems: impl IntoIterator<Item = Problem>,
        tokenizer: &Tokenizer,
        options: &PromptOptions,
    ) -> Result<Self, DataError> {
        let pad_token_id = tokenizer
            .pad_token_id()
            .or(tokenizer.eos_token_id())
            .ok_or_else(|| {
                DataError::Config("the tokenizer has neither a pad nor an eos token".into())
            })?;
        let mut kept = Vec::new();
        let mut prompt_ids = Vec::new();
        let mut dropped_too_long = 0;
        for problem in problems {
            let ids = prompt_token_ids(&problem, tokenizer, options.system_prompt.as_deref())?;
            if ids.len() > options.max_prompt_len {
                dropped_too_long += 1;
                continue;
            }
            kept.push(problem);
            prompt_ids.push(ids);
        }
        let fingerprint = fingerprint(&kept, &prompt_ids);
        Ok(Self {
            problems: kept,
            prompt_ids,
            dropped_too_long,
            pad_token_id,
            fingerprint,
        })
    }

    /// Number of kept problems.
    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// Whether no problem was kept.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// Problems dropped for exceeding `max_prompt_len`.
    pub fn dropped_too_long(&self) -> usize {
        self.dropped_too_long
    }

    /// The id written under left padding.
    pub fn pad_token_id(&self) -> u32 {
        self.pad_token_id
    }

    /// Kept problem `index`.
    pub fn problem(&self, index: usize) -> &Problem {
        &self.problems[index]
    }

    /// All kept problems, in dataset order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The prompt token ids of kept problem `index`.
    pub fn prompt_ids(&self, index: usize) -> &[u32] {
        &self.prompt_ids[index]
    }

    /// A hash of the kept problems' ids and prompt tokens: a saved cursor only resumes on the
    /// dataset it was saved from.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The left-padded batch of kept problems `indices` (in that order).
    ///
    /// Panics if an index is out of range (indices come from this crate's sampler).
    pub fn batch(&self, indices: &[usize]) -> PromptBatch {
        PromptBatch::left_padded(
            indices.to_vec(),
            indices.iter().map(|&i| self.prompt_ids[i].as_slice()),
            self.pad_token_id,
        )
    }
}

/// FNV-1a over ids and tokens.
fn fingerprint(problems: &[Problem], prompt_ids: &[Vec<u32>]) -> u64 {
    let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= b as u64;
            hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
        }
    };
    for (problem, ids) in problems.iter().zip(prompt_ids) {
        feed(problem.id.as_bytes());
        feed(&[0xFF]);
        for id in ids {
            feed(&id.to_le_bytes());
        }
    }
    hash
}
