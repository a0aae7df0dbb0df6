//! The models of a run — the policy and its AdamW state, the implicit PRM (with its own
//! optimizer and reference) and the frozen KL reference — and how each is built when RL starts,
//! written into a checkpoint and read back on resume.
//!
//! Checkpoint layout (one directory per step): `policy/` (Hugging Face layout + tokenizer
//! files; with LoRA, the adapter alone in PEFT layout), `policy_optim.mpk`, `prm/` (written by
//! [`ImplicitPrm::save`]: Hugging Face layout or PEFT adapter + `prm_optimizer.mpk`). A LoRA
//! run's frozen base is not in its checkpoints: it is `model.path` or the run's `init/policy`
//! (see [`crate::lora_base`]).

use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use prime_implicit_prm::{ImplicitPrm, PrmConfig, PrmReference};
use prime_models::optim_state::{load_adamw, save_adamw, AdamWOf};
use prime_models::peft::{load_model_or_adapter, save_model_or_adapter};
use prime_models::{PretrainedLm, SaveDtype, ScratchArchitecture, TrainableLm};

use crate::config::{ReferenceMode, TrainConfig};
use crate::error::TrainError;
use crate::lora_base;
use crate::run_files::files;
use crate::seeds::{seed_for, SeedTag, LORA_POLICY, LORA_PRM, SCRATCH_POLICY};
use crate::setup::Vocabulary;

const POLICY: &str = "policy";
const POLICY_OPTIMIZER: &str = "policy_optim.mpk";
const PRM: &str = "prm";

/// The implicit PRM as a run holds it: the same model family as the policy.
pub type Prm<B, M> = ImplicitPrm<B, M>;

/// Everything with weights in a run.
pub struct RunModels<B: AutodiffBackend, M: TrainableLm<B>> {
    /// The policy `π_θ`.
    pub policy: M,
    /// Its AdamW state.
    pub optimizer: AdamWOf<M, B>,
    /// The implicit PRM (`prm.enabled`; built when RL starts).
    pub prm: Option<Prm<B, M>>,
    /// The frozen initial policy of the KL term (`ppo.kl_coef ≠ 0`; built when RL starts).
    pub kl_reference: Option<M::InnerModule>,
}

impl<B: AutodiffBackend, M: TrainableLm<B>> RunModels<B, M> {
    /// The policy a new run starts from: `model.path`, else a seeded random model of
    /// `[model.scratch]` with the tokenizer's vocabulary. No PRM yet.
    pub fn new_run(
        config: &TrainConfig,
        vocabulary: &Vocabulary,
        device: &B::Device,
    ) -> Result<Self, TrainError> {
        let policy = match &config.model.path {
            Some(path) => M::load_pretrained(path, device).map_err(model_err)?,
            None => scratch::<B, M>(
                config,
                &config.model.scratch,
                SCRATCH_POLICY,
                vocabulary,
                device,
            )?,
        };
        vocabulary
            .tokenizer
            .check_model_vocab(policy.vocab_size())
            .map_err(|e| TrainError::Model(e.to_string()))?;
        Ok(Self {
            policy,
            optimizer: policy_optimizer(config),
            prm: None,
            kl_reference: None,
        })
    }

    /// Saves the RL start model (`init/policy`, unless a LoRA run starts from `model.path`
    /// unchanged) and builds the PRM and the KL reference from it. With LoRA on, the policy
    /// becomes the frozen base plus an adapter, and the PRM and references share that base.
    pub fn start_rl(
        &mut self,
        config: &TrainConfig,
        run_dir: &Path,
        vocabulary: &Vocabulary,
        device: &B::Device,
    ) -> Result<(), TrainError> {
        if config.lora.enabled() {
            // The frozen base is written as the model holds it: with `model.base_dtype = "bf16"`
            // its projections hold bf16-rounded values (exact in the f32 file), so a resumed
            // run and peft read exactly the base the adapters were trained on.
            let base = lora_base::freeze(self.policy.clone(), config);
            if !lora_base::base_is_model_path(config) {
                let init = run_dir.join(files::INIT).join(POLICY);
                base.save_pretrained(&init, SaveDtype::F32)
                    .map_err(model_err)?;
                vocabulary.copy_files_to(&init)?;
            }
            self.policy = lora_base::initial_policy(&base, config, LORA_POLICY, device)?;
            self.optimizer = policy_optimizer(config);
            self.prm = lora_prm(config, run_dir, &base, None, device)?;
            self.kl_reference = (config.ppo.kl_coef != 0.0).then(|| lora_base::reference_of(&base));
            return Ok(());
        }
        let init = run_dir.join(files::INIT).join(POLICY);
        self.policy
            .save_pretrained(&init, SaveDtype::F32)
            .map_err(model_err)?;
        vocabulary.copy_files_to(&init)?;
        if config.prm.enabled {
            let source = prm_init_dir(config, run_dir);
            let model = M::load_pretrained(&source, device).map_err(model_err)?;
            let reference = prm_reference::<B, M>(config, run_dir, device)?;
            self.prm = Some(
                ImplicitPrm::new(model, reference, prm_config(config))
                    .map_err(|e| TrainError::Prm(e.to_string()))?,
            );
        }
        self.kl_reference = kl_reference::<B, M>(config, run_dir, device)?;
        Ok(())
    }

    /// Writes every model and optimizer state into the checkpoint directory `dir`.
    pub fn save(&self, dir: &Path, vocabulary: &Vocabulary) -> Result<(), TrainError> {
        let policy = dir.join(POLICY);
        save_model_or_adapter(&self.policy, &policy, None).map_err(model_err)?;
        vocabulary.copy_files_to(&policy)?;
        save_adamw(&self.optimizer, &self.policy, &dir.join(POLICY_OPTIMIZER))
            .map_err(model_err)?;
        if let Some(prm) = &self.prm {
            prm.save(&dir.join(PRM))
                .map_err(|e| TrainError::Prm(e.to_string()))?;
        }
        Ok(())
    }

    /// Reads the models of checkpoint `dir` of the run in `run_dir` (whose `init/` holds the
    /// frozen references, so a resumed run gets bit-identical ones).
    pub fn load(
        config: &TrainConfig,
        run_dir: &Path,
        dir: &Path,
        device: &B::Device,
    ) -> Result<Self, TrainError> {
        let base = if config.lora.enabled() {
            let base_dir = lora_base::base_dir(config, run_dir);
            let base = M::load_pretrained(&base_dir, device).map_err(model_err)?;
            Some(lora_base::freeze(base, config))
        } else {
            None
        };
        let policy =
            load_model_or_adapter(&dir.join(POLICY), base.clone(), device).map_err(model_err)?;
        let optimizer = load_adamw(
            policy_optimizer(config),
            &policy,
            &dir.join(POLICY_OPTIMIZER),
            device,
        )
        .map_err(model_err)?;
        let (prm, kl_reference) = match &base {
            Some(base) => (
                lora_prm(config, run_dir, base, Some(&dir.join(PRM)), device)?,
                (config.ppo.kl_coef != 0.0).then(|| lora_base::reference_of(base)),
            ),
            None => {
                let prm = if config.prm.enabled {
                    let reference = prm_reference::<B, M>(config, run_dir, device)?;
                    Some(
                        ImplicitPrm::load(
                            &dir.join(PRM),
                            None,
                            reference,
                            prm_config(config),
                            device,
                        )
                        .map_err(|e| TrainError::Prm(e.to_string()))?,
                    )
                } else {
                    None
                };
                (prm, kl_reference::<B, M>(config, run_dir, device)?)
            }
        };
        Ok(Self {
            policy,
            optimizer,
            prm,
            kl_reference,
        })
    }
}

/// The PRM of a LoRA run: its base (the policy's, shared, when the PRM starts from the policy;
/// else the PRM's own source, frozen) plus a fresh adapter, or the adapter of checkpoint
/// directory `resume`. Its frozen reference is that base (or `reference.path`).
fn lora_prm<B: AutodiffBackend, M: TrainableLm<B>>(
    config: &TrainConfig,
    run_dir: &Path,
    policy_base: &M,
    resume: Option<&Path>,
    device: &B::Device,
) -> Result<Option<Prm<B, M>>, TrainError> {
    if !config.prm.enabled {
        return Ok(None);
    }
    let source = prm_init_dir(config, run_dir);
    let base = if source == run_dir.join(files::INIT).join(POLICY) {
        policy_base.clone()
    } else {
        lora_base::freeze(
            M::load_pretrained(&source, device).map_err(model_err)?,
            config,
        )
    };
    let reference = match (config.reference.mode, &config.reference.path) {
        (ReferenceMode::Policy, _) => PrmReference::Policy,
        (ReferenceMode::Freeze, Some(path)) => {
            PrmReference::Frozen(M::InnerModule::load_pretrained(path, device).map_err(model_err)?)
        }
        (ReferenceMode::Freeze, None) => PrmReference::Frozen(lora_base::reference_of(&base)),
    };
    let prm = match resume {
        Some(dir) => ImplicitPrm::load(dir, Some(base), reference, prm_config(config), device),
        None => {
            let model = lora_base::with_fresh_adapter(&base, config, LORA_PRM, device)?;
            ImplicitPrm::new(model, reference, prm_config(config))
        }
    };
    prm.map(Some).map_err(|e| TrainError::Prm(e.to_string()))
}

/// A random model of `architecture` over the tokenizer's vocabulary, seeded by `tag`.
pub fn scratch<B: AutodiffBackend, M: TrainableLm<B>>(
    config: &TrainConfig,
    architecture: &ScratchArchitecture,
    tag: SeedTag,
    vocabulary: &Vocabulary,
    device: &B::Device,
) -> Result<M, TrainError> {
    let _seeded = crate::seeds::BACKEND_SEED
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    B::seed(device, seed_for(config.seed, tag, &[]));
    M::from_scratch(architecture, vocabulary.tokenizer.vocab_size(), device).map_err(model_err)
}

/// A fresh AdamW for the policy with `[optim]`'s settings.
pub fn policy_optimizer<B: AutodiffBackend, M: TrainableLm<B>>(
    config: &TrainConfig,
) -> AdamWOf<M, B> {
    prime_models::optim::adamw(config.optim.weight_decay as f32)
        .with_beta_1(config.optim.beta1 as f32)
        .with_beta_2(config.optim.beta2 as f32)
        .with_epsilon(config.optim.eps as f32)
        .init::<B, M>()
}

/// Where the run's initial PRM comes from: `prm.path`, the scratch PRM after its SFT warm-up
/// (`init/prm`), or the initial policy (`init/policy`, the paper's choice).
pub fn prm_init_dir(config: &TrainConfig, run_dir: &Path) -> PathBuf {
    match (&config.prm.path, &config.prm.scratch) {
        (Some(path), _) => path.clone(),
        (None, Some(_)) => run_dir.join(files::INIT).join(PRM),
        (None, None) => run_dir.join(files::INIT).join(POLICY),
    }
}

/// `[prm]` as the implicit-PRM crate's config.
fn prm_config(config: &TrainConfig) -> PrmConfig {
    let p = &config.prm;
    PrmConfig {
        beta: p.beta as f32,
        loss: p.loss,
        update: p.update,
        lr: p.lr,
        weight_decay: p.weight_decay as f32,
        grad_clip: p.grad_clip as f32,
        mini_batch_size: p.mini_batch_size,
        micro_batch_size: p.micro_batch_size,
        measure_after_update: false,
        recompute_layers: config.memory.checkpoint_activations,
    }
}

/// The PRM's reference: a frozen copy of the run's initial PRM (or `reference.path`), loaded
/// from disk so a resumed run gets bit-identical weights; or the policy's old log-probs.
fn prm_reference<B: AutodiffBackend, M: TrainableLm<B>>(
    config: &TrainConfig,
    run_dir: &Path,
    device: &B::Device,
) -> Result<PrmReference<B, M>, TrainError> {
    Ok(match config.reference.mode {
        ReferenceMode::Policy => PrmReference::Policy,
        ReferenceMode::Freeze => {
            let dir = config
                .reference
                .path
                .clone()
                .unwrap_or_else(|| prm_init_dir(config, run_dir));
            PrmReference::Frozen(M::InnerModule::load_pretrained(&dir, device).map_err(model_err)?)
        }
    })
}

/// The frozen initial policy for the KL term (only when `ppo.kl_coef ≠ 0`).
fn kl_reference<B: AutodiffBackend, M: TrainableLm<B>>(
    config: &TrainConfig,
    run_dir: &Path,
    device: &B::Device,
) -> Result<Option<M::InnerModule>, TrainError> {
    if config.ppo.kl_coef == 0.0 {
        return Ok(None);
    }
    let dir = run_dir.join(files::INIT).join(POLICY);
    Ok(Some(
        M::InnerModule::load_pretrained(&dir, device).map_err(model_err)?,
    ))
}

pub(crate) fn model_err(e: prime_models::ModelError) -> TrainError {
    TrainError::Model(e.to_string())
}
