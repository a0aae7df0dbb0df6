//! LoRA runs: one frozen base that the policy, the PRM and both references read
//! (docs/algorithm.md §17). The policy is `base + A_policy`, the PRM `base + A_prm` (when it
//! starts from the policy, the paper's choice), the references are the base itself. burn tensors
//! are reference-counted, so cloning the frozen base module shares its weights: the base is held
//! once, whatever the number of models reading it.

use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use prime_models::adapters::{attach_lora, cast_base, lora_config_of};
use prime_models::peft::load_adapter;
use prime_models::TrainableLm;

use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::run_files::files;
use crate::seeds::{seed_for, SeedTag};

fn model_err(e: prime_models::ModelError) -> TrainError {
    TrainError::Model(e.to_string())
}

/// Where a LoRA run's policy base lives on disk: `model.path` when RL starts from it unchanged
/// (no SFT warm-up), else the run's `init/policy` (written when RL starts).
pub fn base_dir(config: &TrainConfig, run_dir: &Path) -> PathBuf {
    match (&config.model.path, config.sft.enabled) {
        (Some(path), false) => path.clone(),
        _ => run_dir.join(files::INIT).join("policy"),
    }
}

/// Whether RL starts from `model.path` itself, so `init/policy` need not be written.
pub fn base_is_model_path(config: &TrainConfig) -> bool {
    config.lora.enabled() && config.model.path.is_some() && !config.sft.enabled
}

/// `model` frozen (no gradients, no optimizer state) and stored in `model.base_dtype`.
pub fn freeze<B: AutodiffBackend, M: TrainableLm<B>>(model: M, config: &TrainConfig) -> M {
    cast_base(model.no_grad(), config.model.base_dtype)
}

/// `base` (shared, not copied) with a fresh adapter of `[lora]`, its `A` seeded by `tag`.
pub fn with_fresh_adapter<B: AutodiffBackend, M: TrainableLm<B>>(
    base: &M,
    config: &TrainConfig,
    tag: SeedTag,
    device: &B::Device,
) -> Result<M, TrainError> {
    // The backend's RNG is global: hold the lock while seeding and drawing (see `BACKEND_SEED`).
    let _seeded = crate::seeds::BACKEND_SEED
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    B::seed(device, seed_for(config.seed, tag, &[]));
    attach_lora(base.clone(), &config.lora, device).map_err(model_err)
}

/// The policy at RL start: `model.adapter_path` applied to `base` when set (its rank, α and
/// targets must be `[lora]`'s), else a fresh adapter.
pub fn initial_policy<B: AutodiffBackend, M: TrainableLm<B>>(
    base: &M,
    config: &TrainConfig,
    tag: SeedTag,
    device: &B::Device,
) -> Result<M, TrainError> {
    let Some(path) = &config.model.adapter_path else {
        return with_fresh_adapter(base, config, tag, device);
    };
    let (policy, adapter) = load_adapter(base.clone(), path, device).map_err(model_err)?;
    // Targets are a set: PEFT writes them in a Python set's order.
    let sorted = |targets: &[prime_models::LoraTarget]| {
        let mut targets = targets.to_vec();
        targets.sort();
        targets.dedup();
        targets
    };
    let same_targets = sorted(&adapter.targets) == sorted(&config.lora.targets);
    if adapter.rank != config.lora.rank || adapter.alpha != config.lora.alpha || !same_targets {
        return Err(TrainError::Config(format!(
            "model.adapter_path {}: the adapter has rank {}, alpha {}, targets {:?}; [lora] says \
             rank {}, alpha {}, targets {:?} (make them equal)",
            path.display(),
            adapter.rank,
            adapter.alpha,
            adapter.targets,
            config.lora.rank,
            config.lora.alpha,
            config.lora.targets
        )));
    }
    Ok(policy)
}

/// The frozen reference of a base: the base itself on the inference backend (shared weights).
pub fn reference_of<B: AutodiffBackend, M: TrainableLm<B>>(base: &M) -> M::InnerModule {
    base.valid()
}

/// Whether `model` carries LoRA adapters.
pub fn has_adapters<B: AutodiffBackend, M: TrainableLm<B>>(model: &M) -> bool {
    lora_config_of(model).is_some()
}
