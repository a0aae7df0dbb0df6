//! Opening the run's vLLM servers (`rollout.engine = "vllm"`) and writing the policy for them.

use std::path::Path;

use burn::tensor::backend::AutodiffBackend;
use prime_models::{SaveDtype, TrainableLm};

use super::VllmRollouts;
use crate::config::{RolloutEngine, TrainConfig};
use crate::error::TrainError;
use crate::models::model_err;
use crate::setup::Vocabulary;

/// Writes `policy` as an HF directory (f32 weights, tokenizer files) into `dir`.
pub(crate) fn write_policy<B: AutodiffBackend, M: TrainableLm<B>>(
    policy: &M,
    vocabulary: &Vocabulary,
    dir: &Path,
) -> Result<(), TrainError> {
    policy
        .save_pretrained(dir, SaveDtype::F32)
        .map_err(model_err)?;
    vocabulary.copy_files_to(dir)
}

/// With `rollout.engine = "vllm"`, the run's servers (reached or launched on `policy`). Not
/// with data parallelism (`ranks > 1`): every rank would sync and launch on its own.
pub(crate) fn open_engine<B: AutodiffBackend, M: TrainableLm<B>>(
    config: &TrainConfig,
    run_dir: &Path,
    ranks: usize,
    policy: &M,
    vocabulary: &Vocabulary,
    cancelled: impl Fn() -> bool,
) -> Result<Option<VllmRollouts>, TrainError> {
    match config.rollout.engine {
        RolloutEngine::Burn => Ok(None),
        RolloutEngine::Vllm if ranks > 1 => Err(TrainError::Config(format!(
            "rollout.engine = \"vllm\" with {ranks} data-parallel ranks is not supported yet; run one process (the servers batch the rollouts)"
        ))),
        RolloutEngine::Vllm => VllmRollouts::open(
            config,
            run_dir,
            |dir| write_policy(policy, vocabulary, dir),
            cancelled,
        )
        .map(Some),
    }
}
