//! Running a config: the backend (`[backend] kind`) and the model family (`model_type` of
//! `model.path`'s `config.json`, or `[model.scratch] family`) are picked here, once, and the
//! generic [`Trainer`] runs with both. A fork with its own model family calls
//! `Trainer::<B, MyLm<B>>::open` directly instead.

use std::path::Path;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use prime_models::{FamilyVisitor, ModelFamily, PretrainedLm, TrainableLm};

use crate::checkpoint_dir::CheckpointDir;
use crate::config::{BackendKind, TrainConfig};
use crate::error::TrainError;
use crate::eval::{evaluate, EvalSettings};
use crate::extensions::Extensions;
use crate::metrics::EvalRecord;
use crate::models::model_err;
use crate::setup::{prompt_datasets, Vocabulary};
use crate::state::RunSummary;
use crate::trainer::{RunOptions, Trainer};

/// Trains `config` in `run_dir` on the configured backend with the model family the config
/// names, and returns the summary.
pub fn train(
    config: TrainConfig,
    run_dir: &Path,
    options: RunOptions,
) -> Result<RunSummary, TrainError> {
    let family = model_family(&config)?;
    match config.backend.kind {
        BackendKind::Cpu => {
            family.dispatch::<prime_models::backend::CpuAutodiffBackend, _>(Train {
                config,
                run_dir,
                options,
                device: Default::default(),
            })
        }
        BackendKind::Cuda => cuda::train(family, config, run_dir, options),
    }
}

/// Evaluates the latest checkpoint of the run in `run_dir` (trained with `config`) on its eval
/// split, on the CPU.
pub fn evaluate_run(config: &TrainConfig, run_dir: &Path) -> Result<EvalRecord, TrainError> {
    model_family(config)?.dispatch::<prime_models::backend::CpuAutodiffBackend, _>(Evaluate {
        config,
        run_dir,
        device: Default::default(),
    })
}

/// The family of the policy: `model.path`'s `config.json`, else `[model.scratch] family`. A PRM
/// of its own (`prm.path`, `[prm.scratch]`) must be of the same family.
pub fn model_family(config: &TrainConfig) -> Result<ModelFamily, TrainError> {
    let family = match &config.model.path {
        Some(dir) => ModelFamily::of_checkpoint(dir).map_err(model_err)?,
        None => config.model.scratch.family,
    };
    let prm_family = match (&config.prm.path, &config.prm.scratch) {
        (Some(dir), _) => Some(ModelFamily::of_checkpoint(dir).map_err(model_err)?),
        (None, Some(scratch)) => Some(scratch.family),
        (None, None) => None,
    };
    if let Some(prm_family) = prm_family.filter(|&f| f != family) {
        return Err(TrainError::Config(format!(
            "the PRM's model family `{}` differs from the policy's `{}` (one family per run)",
            prm_family.model_type(),
            family.model_type()
        )));
    }
    Ok(family)
}

/// [`train`] once the family's type is known.
struct Train<'a, B: AutodiffBackend> {
    config: TrainConfig,
    run_dir: &'a Path,
    options: RunOptions,
    device: B::Device,
}

impl<B: AutodiffBackend> FamilyVisitor<B> for Train<'_, B> {
    type Output = Result<RunSummary, TrainError>;

    fn visit<M: TrainableLm<B>>(self) -> Self::Output {
        Trainer::<B, M>::open(self.config, self.run_dir, self.options, self.device)?.run()
    }
}

/// [`evaluate_run`] once the family's type is known.
struct Evaluate<'a, B: AutodiffBackend> {
    config: &'a TrainConfig,
    run_dir: &'a Path,
    device: B::Device,
}

impl<B: AutodiffBackend> FamilyVisitor<B> for Evaluate<'_, B> {
    type Output = Result<EvalRecord, TrainError>;

    fn visit<M: TrainableLm<B>>(self) -> Self::Output {
        let (config, run_dir) = (self.config, self.run_dir);
        let (step, dir) = CheckpointDir::new(run_dir, config.checkpoint.keep_last)
            .latest()?
            .ok_or_else(|| {
                TrainError::Config(format!("{} has no checkpoint", run_dir.display()))
            })?;
        let vocabulary = Vocabulary::load(config, run_dir)?;
        let (_, eval_prompts) = prompt_datasets(config, &vocabulary.tokenizer)?;
        let extensions = Extensions::builtin();
        extensions.check_problems(eval_prompts.problems())?;
        // A LoRA run's checkpoint holds the adapter; its base is `model.path` or `init/policy`.
        let policy_dir = dir.join("policy");
        let base = prime_models::peft::is_adapter_dir(&policy_dir)
            .then(|| {
                <M as AutodiffModule<B>>::InnerModule::load_pretrained(
                    &crate::lora_base::base_dir(config, run_dir),
                    &self.device,
                )
            })
            .transpose()
            .map_err(model_err)?;
        let model = prime_models::peft::load_model_or_adapter(&policy_dir, base, &self.device)
            .map_err(model_err)?;
        let settings = EvalSettings {
            k: config.eval.k,
            temperature: config.eval.temperature,
            max_response_len: config
                .eval
                .max_response_len
                .unwrap_or(config.rollout.max_response_len),
            prompts_per_call: config.eval.micro_batch_size,
            stop_token_ids: vocabulary.stop_ids.clone(),
            pad_token_id: vocabulary.pad_id,
            vocab_limit: vocabulary.vocab_limit(),
            seed: config.seed,
        };
        evaluate(
            &model,
            &eval_prompts,
            &vocabulary.tokenizer,
            &extensions.verify_runner(),
            &settings,
            step,
            &self.device,
        )
    }
}

#[cfg(feature = "cuda-backend")]
mod cuda {
    use super::*;

    /// [`train`] on `backend.device`, after checking that the driver can be loaded.
    pub fn train(
        family: ModelFamily,
        config: TrainConfig,
        run_dir: &Path,
        options: RunOptions,
    ) -> Result<RunSummary, TrainError> {
        check_driver()?;
        crate::memory_plan::device::check_cuda_start(&config)
            .map_err(|e| TrainError::Config(e.to_string()))?;
        let device = burn::backend::cuda::CudaDevice {
            index: config.backend.device,
        };
        family.dispatch::<prime_models::backend::CudaAutodiffBackend, _>(Train {
            config,
            run_dir,
            options,
            device,
        })
    }

    /// burn-cuda loads the driver library at run time and panics (on a worker thread) when it
    /// is missing; probe for it first so the user gets one line instead.
    fn check_driver() -> Result<(), TrainError> {
        const DRIVER: [&str; 2] = ["libcuda.so.1", "libcuda.so"];
        for name in DRIVER {
            // SAFETY: this loads the NVIDIA driver library, whose initialisers are the ones
            // burn-cuda would run right after; nothing is called through the handle.
            if unsafe { libloading::Library::new(name) }.is_ok() {
                return Ok(());
            }
        }
        Err(TrainError::Config(format!(
            "backend `cuda`: no CUDA driver library found (tried {}); install the NVIDIA driver or add its directory to LD_LIBRARY_PATH",
            DRIVER.join(", ")
        )))
    }
}

#[cfg(not(feature = "cuda-backend"))]
mod cuda {
    use super::*;

    /// Without the `cuda` feature there is no CUDA backend to run on.
    pub fn train(
        _family: ModelFamily,
        _config: TrainConfig,
        _run_dir: &Path,
        _options: RunOptions,
    ) -> Result<RunSummary, TrainError> {
        Err(TrainError::Config(
            "backend `cuda` needs a build with `--features cuda` (cargo xtask train --backend cuda does that)".into(),
        ))
    }
}
