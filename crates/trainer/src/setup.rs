//! Everything a run needs before its first step: tokenizer, prompts, verifier runner, and the
//! estimator, built from the config.

use std::path::{Path, PathBuf};

use prime_advantages::{AdvantageEstimator, Registry};
use prime_data::arithmetic::{save_arithmetic_tokenizer, ArithmeticTask, Split};
use prime_data::{read_problems, Problem, ReadOptions};
use prime_models::Tokenizer;
use prime_verifiers::{Router, RunnerConfig, VerifyRunner};

use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::rollout::PromptItem;
use crate::sft::SftPair;

/// Where the tokenizer comes from: the model directory, an explicit file, or (built-in task
/// without a model) the task's own tokenizer written into `<run_dir>/tokenizer`.
pub fn load_tokenizer(
    config: &TrainConfig,
    run_dir: &Path,
) -> Result<(Tokenizer, PathBuf), TrainError> {
    let model_err = |e: prime_models::TokenizerError| TrainError::Model(e.to_string());
    if let Some(file) = &config.model.tokenizer {
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        return Ok((Tokenizer::from_file(file).map_err(model_err)?, dir));
    }
    if let Some(dir) = &config.model.path {
        return Ok((Tokenizer::from_dir(dir).map_err(model_err)?, dir.clone()));
    }
    let dir = run_dir.join("tokenizer");
    save_arithmetic_tokenizer(&dir, &config.data.task)
        .map_err(|e| TrainError::Data(e.to_string()))?;
    Ok((Tokenizer::from_dir(&dir).map_err(model_err)?, dir))
}

/// Copies the tokenizer files found in `from` into `to` (so a saved model directory loads on its
/// own in `transformers`).
pub fn copy_tokenizer_files(from: &Path, to: &Path) -> Result<(), TrainError> {
    for name in [
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "special_tokens_map.json",
    ] {
        let src = from.join(name);
        if src.is_file() {
            let dst = to.join(name);
            std::fs::copy(&src, &dst).map_err(|e| TrainError::io(&dst, e))?;
        }
    }
    Ok(())
}

/// The training and evaluation problems.
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

/// Renders and tokenises every prompt with the chat template; prompts longer than
/// `max_prompt_len` tokens are dropped. Returns the kept items and the number dropped.
pub fn tokenize_prompts(
    problems: Vec<Problem>,
    tokenizer: &Tokenizer,
    max_prompt_len: usize,
) -> Result<(Vec<PromptItem>, usize), TrainError> {
    let mut items = Vec::with_capacity(problems.len());
    let mut dropped = 0;
    for problem in problems {
        let ids = tokenizer
            .encode_chat(&problem.messages, true)
            .map_err(|e| TrainError::Model(format!("prompt {}: {e}", problem.id)))?;
        if ids.is_empty() || ids.len() > max_prompt_len {
            dropped += 1;
            continue;
        }
        items.push(PromptItem { problem, ids });
    }
    Ok((items, dropped))
}

/// Supervised pairs of the built-in task, examples `first..first + count` of the SFT split.
pub fn sft_pairs(
    config: &TrainConfig,
    tokenizer: &Tokenizer,
    eos: u32,
    first: u64,
    count: usize,
) -> Result<Vec<SftPair>, TrainError> {
    let task = ArithmeticTask::new(config.data.task.clone())
        .map_err(|e| TrainError::Data(e.to_string()))?;
    let examples = task
        .sft_examples(config.seed, first, count)
        .map_err(|e| TrainError::Data(e.to_string()))?;
    examples
        .into_iter()
        .map(|ex| {
            let prompt = tokenizer
                .encode_chat(&ex.problem.messages, true)
                .map_err(|e| TrainError::Model(e.to_string()))?;
            let mut completion = tokenizer
                .encode(&ex.completion, false)
                .map_err(|e| TrainError::Model(e.to_string()))?;
            completion.push(eos);
            Ok(SftPair { prompt, completion })
        })
        .collect()
}

/// The parallel verifier over the default router (math, code, built-in tasks).
pub fn verify_runner() -> VerifyRunner {
    VerifyRunner::new(
        std::sync::Arc::new(Router::default()),
        RunnerConfig::default(),
    )
}

/// The estimator named by `[advantage] estimator`.
pub fn build_estimator(config: &TrainConfig) -> Result<Box<dyn AdvantageEstimator>, TrainError> {
    Registry::with_builtins()
        .build_from_options(&config.advantage)
        .map_err(|e| TrainError::Advantage(e.to_string()))
}
