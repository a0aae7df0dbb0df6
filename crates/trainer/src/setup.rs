//! Everything a run needs before its first step: the tokenizer and its special ids, the
//! problems, their tokenised prompts (prime-data's prompt pipeline) and the SFT examples.

use std::path::{Path, PathBuf};

use prime_data::arithmetic::{save_arithmetic_tokenizer, ArithmeticTask, Split};
use prime_data::prompts::{prompt_token_ids, PromptDataset, PromptOptions};
use prime_data::{read_problems, Problem, ReadOptions};
use prime_models::Tokenizer;

use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::sft::SftPair;

/// The run's tokenizer, where its files live, and the ids sampling needs.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// The tokenizer (with its chat template).
    pub tokenizer: Tokenizer,
    /// The directory holding `tokenizer.json` and friends, copied next to every saved model.
    pub dir: PathBuf,
    /// End of sequence.
    pub eos_id: u32,
    /// Written under padding: the pad token, else `eos_id`.
    pub pad_id: u32,
    /// Ids that end a response: the tokenizer's stop tokens and `eos_id`.
    pub stop_ids: Vec<u32>,
}

impl Vocabulary {
    /// The ids a run samples and scores: those below the tokenizer's size. A checkpoint's
    /// embedding may have more rows (Qwen2.5: 151,936 for 151,665 ids); those padding rows have
    /// no text, so the sampler never draws them and every log-prob of the run (old and new
    /// policy, KL reference, implicit PRM and its reference, SFT) is over the ids below this
    /// limit (`prime_models::SamplingConfig::vocab_limit`, `ResponseBatch::vocab_limit`).
    pub fn vocab_limit(&self) -> Option<usize> {
        Some(self.tokenizer.vocab_size())
    }

    /// The tokenizer of `model.tokenizer`, else of `model.path`, else (built-in task without a
    /// model) the task's own tokenizer, written into `<run_dir>/tokenizer`.
    pub fn load(config: &TrainConfig, run_dir: &Path) -> Result<Self, TrainError> {
        let model_err = |e: prime_models::TokenizerError| TrainError::Model(e.to_string());
        let (tokenizer, dir) = if let Some(file) = &config.model.tokenizer {
            let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            (Tokenizer::from_file(file).map_err(model_err)?, dir)
        } else if let Some(dir) = &config.model.path {
            (Tokenizer::from_dir(dir).map_err(model_err)?, dir.clone())
        } else {
            let dir = run_dir.join("tokenizer");
            save_arithmetic_tokenizer(&dir, &config.data.task)
                .map_err(|e| TrainError::Data(e.to_string()))?;
            (Tokenizer::from_dir(&dir).map_err(model_err)?, dir)
        };
        let tokenizer = config
            .model
            .chat_template_variables
            .iter()
            .fold(tokenizer, |tokenizer, (name, value)| {
                tokenizer.with_template_variable(name.clone(), value)
            });
        let eos_id = tokenizer
            .eos_token_id()
            .ok_or_else(|| TrainError::Model("the tokenizer names no eos token".into()))?;
        let pad_id = tokenizer.pad_token_id().unwrap_or(eos_id);
        let mut stop_ids = tokenizer.stop_token_ids().to_vec();
        if !stop_ids.contains(&eos_id) {
            stop_ids.push(eos_id);
        }
        Ok(Self {
            tokenizer,
            dir,
            eos_id,
            pad_id,
            stop_ids,
        })
    }

    /// Copies the tokenizer files into `to`, so a saved model directory loads on its own in
    /// `transformers`.
    pub fn copy_files_to(&self, to: &Path) -> Result<(), TrainError> {
        for name in [
            "tokenizer.json",
            "tokenizer_config.json",
            "generation_config.json",
            "special_tokens_map.json",
        ] {
            let src = self.dir.join(name);
            if src.is_file() {
                let dst = to.join(name);
                std::fs::copy(&src, &dst).map_err(|e| TrainError::io(&dst, e))?;
            }
        }
        Ok(())
    }
}

/// The training and evaluation prompts, tokenised once through the chat template; prompts longer
/// than `data.max_prompt_len` tokens are dropped (and logged).
pub fn prompt_datasets(
    config: &TrainConfig,
    tokenizer: &Tokenizer,
) -> Result<(PromptDataset, PromptDataset), TrainError> {
    let (train, eval) = load_problems(config)?;
    let options = PromptOptions {
        system_prompt: None,
        max_prompt_len: config.data.max_prompt_len,
    };
    let dataset = |problems: Vec<Problem>| {
        PromptDataset::new(problems, tokenizer, &options)
            .map_err(|e| TrainError::Data(e.to_string()))
    };
    let (train, eval) = (dataset(train)?, dataset(eval)?);
    if train.is_empty() {
        return Err(TrainError::Data(
            "no training prompt fits data.max_prompt_len".into(),
        ));
    }
    tracing::info!(
        train = train.len(),
        eval = eval.len(),
        dropped_train = train.dropped_too_long(),
        dropped_eval = eval.dropped_too_long(),
        "prompts ready"
    );
    Ok((train, eval))
}

/// The training and evaluation problems: the built-in task's splits, or the data files.
pub fn load_problems(config: &TrainConfig) -> Result<(Vec<Problem>, Vec<Problem>), TrainError> {
    let data = &config.data;
    if data.train_files.is_empty() {
        let task =
            ArithmeticTask::new(data.task.clone()).map_err(|e| TrainError::Data(e.to_string()))?;
        let train = task
            .problems(Split::Rl, config.seed, 0, data.train_size)
            .map_err(|e| TrainError::Data(e.to_string()))?;
        let eval = task
            .problems(Split::Eval, config.seed, 0, data.eval_size)
            .map_err(|e| TrainError::Data(e.to_string()))?;
        return Ok((train, eval));
    }
    let options = ReadOptions {
        on_bad_row: data.on_bad_row,
        ..ReadOptions::default()
    };
    let read = |files: &[PathBuf]| -> Result<Vec<Problem>, TrainError> {
        let mut all = Vec::new();
        for f in files {
            // prime-data's errors already name the file (and row and field).
            let (problems, stats) =
                read_problems(f, &options).map_err(|e| TrainError::Data(e.to_string()))?;
            if stats.skipped > 0 {
                tracing::warn!(
                    file = %f.display(),
                    skipped = stats.skipped,
                    kept = problems.len(),
                    first = ?stats.skipped_examples.iter().take(3).collect::<Vec<_>>(),
                    "malformed rows skipped"
                );
            }
            all.extend(problems);
        }
        Ok(all)
    };
    let train = read(&data.train_files)?;
    let mut eval = read(&data.eval_files)?;
    if data.eval_size > 0 && eval.len() > data.eval_size {
        eval.truncate(data.eval_size);
    }
    Ok((train, eval))
}

/// Supervised pairs of the built-in task, examples `first..first + count` of the SFT split.
pub fn sft_pairs(
    config: &TrainConfig,
    vocabulary: &Vocabulary,
    first: u64,
    count: usize,
) -> Result<Vec<SftPair>, TrainError> {
    let task = ArithmeticTask::new(config.data.task.clone())
        .map_err(|e| TrainError::Data(e.to_string()))?;
    let examples = task
        .sft_examples(config.seed, first, count)
        .map_err(|e| TrainError::Data(e.to_string()))?;
    let tokenizer = &vocabulary.tokenizer;
    examples
        .into_iter()
        .map(|ex| {
            let prompt = prompt_token_ids(&ex.problem, tokenizer, None)
                .map_err(|e| TrainError::Data(e.to_string()))?;
            let mut completion = tokenizer
                .encode(&ex.completion, false)
                .map_err(|e| TrainError::Model(e.to_string()))?;
            completion.push(vocabulary.eos_id);
            Ok(SftPair { prompt, completion })
        })
        .collect()
}
