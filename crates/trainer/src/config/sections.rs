//! The sections of a training config. Every default is the one in `docs/algorithm.md` (the paper's
//! full-scale run); where docs/algorithm.md names no default the choice is documented on the field.

use std::collections::BTreeMap;
use std::path::PathBuf;

use prime_implicit_prm::{PrmLoss, UpdateMode};
use prime_models::{BaseDtype, SaveDtype, ScratchArchitecture};
use serde::{Deserialize, Serialize};

use crate::policy_loss::{Aggregation, KlEstimator};

/// `[model]`: where the policy comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSection {
    /// A Hugging Face directory (`config.json`, `*.safetensors`, `tokenizer.json`). When absent the
    /// policy is built from scratch with `[model.scratch]` and the built-in task's tokenizer.
    pub path: Option<PathBuf>,
    /// `tokenizer.json` to use instead of the one in `path`.
    pub tokenizer: Option<PathBuf>,
    /// `[model.scratch]`: family and shape of a model built from scratch, initialised at random
    /// (seeded by `seed`); ignored when `path` is set. The family defaults to `qwen2`.
    pub scratch: ScratchArchitecture,
    /// Precision of exported models: `f32` (default) | `bf16` (checkpoints are always f32, for
    /// exact resume).
    pub save_dtype: SaveDtype,
    /// Extra variables for the chat template, as `transformers`' `apply_chat_template(**kwargs)`
    /// gets them: e.g. `{ enable_thinking = false }` for Qwen3. Default: none.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub chat_template_variables: BTreeMap<String, serde_json::Value>,
    /// Precision of the frozen base with LoRA on: `f32` (default) | `bf16` (half the bytes;
    /// adapters and optimizer state stay f32).
    pub base_dtype: BaseDtype,
    /// A PEFT adapter directory (`adapter_config.json` + `adapter_model.safetensors`) to start
    /// the policy's adapter from, instead of a fresh one. Needs LoRA on, with the adapter's rank
    /// and targets.
    pub adapter_path: Option<PathBuf>,
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            path: None,
            tokenizer: None,
            scratch: ScratchArchitecture::default(),
            save_dtype: SaveDtype::F32,
            chat_template_variables: BTreeMap::new(),
            base_dtype: BaseDtype::F32,
            adapter_path: None,
        }
    }
}

/// `[sft]`: supervised warm-up on worked solutions before RL (the paper starts RL from an SFT
/// model). Off by default: a real run loads an SFT checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SftSection {
    /// Run the warm-up at all.
    pub enabled: bool,
    /// Optimizer steps.
    pub steps: usize,
    /// Sequences per optimizer step.
    pub batch_size: usize,
    /// AdamW learning rate (warmup + cosine over `steps`).
    pub lr: f64,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Global grad-norm clip.
    pub grad_clip: f64,
}

impl Default for SftSection {
    fn default() -> Self {
        Self {
            enabled: false,
            steps: 0,
            batch_size: 32,
            lr: 1e-3,
            warmup_steps: 20,
            weight_decay: 0.0,
            grad_clip: 1.0,
        }
    }
}

/// `[prm]`: the implicit process reward model (docs/algorithm.md §6–8). Reward granularity and
/// normalisation are options of the advantage estimator (`[advantage] granularity`, `norm`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrmSection {
    /// Use an implicit PRM at all. `false` = outcome-only training (no PRM model is built).
    pub enabled: bool,
    /// Initial PRM weights (HF directory); default: a copy of the initial policy.
    pub path: Option<PathBuf>,
    /// Build the PRM from scratch with this architecture instead, and give it the policy's SFT
    /// warm-up (same data, same settings; needs `sft.enabled`). Its frozen reference is a copy
    /// of it after SFT. For a PRM bigger than the policy: the paper's PRM is the SFT policy
    /// itself, but a tiny PRM cannot learn to check the built-in task's arithmetic (see
    /// docs/experiments.md). The family must be the policy's. Default: none.
    pub scratch: Option<ScratchArchitecture>,
    /// `β` of `r^p = β·q` and of the PRM loss (default 0.05).
    pub beta: f64,
    /// `ce` (default) | `dpo`.
    pub loss: PrmLoss,
    /// `after` (default, single forward) | `before` (double forward) | `none` (offline PRM).
    pub update: UpdateMode,
    /// AdamW learning rate (1e-6).
    pub lr: f64,
    /// AdamW weight decay (0).
    pub weight_decay: f64,
    /// Global grad-norm clip (10).
    pub grad_clip: f64,
    /// Rollouts per PRM optimizer step (256).
    pub mini_batch_size: usize,
    /// Rollouts per forward/backward inside a PRM mini-batch, gradients summed (memory only);
    /// 0 (the default): the whole mini-batch at once.
    pub micro_batch_size: usize,
}

impl Default for PrmSection {
    fn default() -> Self {
        Self {
            enabled: true,
            path: None,
            scratch: None,
            beta: 0.05,
            loss: PrmLoss::Ce,
            update: UpdateMode::After,
            lr: 1e-6,
            weight_decay: 0.0,
            grad_clip: 10.0,
            mini_batch_size: 256,
            micro_batch_size: 0,
        }
    }
}

/// `reference.mode`: where the PRM's `log π_ref` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferenceMode {
    /// A frozen copy of the initial PRM (default).
    Freeze,
    /// The policy's old log-probs `log π_θold`.
    Policy,
}

/// `[reference]`: the PRM's reference model `π_ref` (docs/algorithm.md §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReferenceSection {
    /// `freeze` (default: frozen copy of the initial model) | `policy` (use `log π_θold`).
    pub mode: ReferenceMode,
    /// Reference weights (HF directory); default: the initial PRM.
    pub path: Option<PathBuf>,
}

impl Default for ReferenceSection {
    fn default() -> Self {
        Self {
            mode: ReferenceMode::Freeze,
            path: None,
        }
    }
}

/// `data.builtin`: the built-in task used when no training files are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuiltinTask {
    /// prime-data's arithmetic chains (default).
    Arithmetic,
}

/// `[data]`: training and evaluation problems.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataSection {
    /// Training files (`.jsonl` / `.parquet`, Eurus-2-RL-Data layout). Empty = built-in task.
    pub train_files: Vec<PathBuf>,
    /// Held-out files for evaluation. Empty = the built-in task's eval split.
    pub eval_files: Vec<PathBuf>,
    /// Built-in task used when `train_files` is empty (`arithmetic`).
    pub builtin: BuiltinTask,
    /// Knobs of the built-in `arithmetic` task (prime-data's `ArithmeticConfig`: steps, operand
    /// and value ranges, operators, instruction). Default: its `medium` preset.
    pub task: prime_data::arithmetic::ArithmeticConfig,
    /// Problems generated for the built-in training split.
    pub train_size: usize,
    /// Problems in the held-back eval split (built-in task, or a cap on `eval_files`; 0 = all).
    pub eval_size: usize,
    /// Prompts longer than this many tokens are dropped.
    pub max_prompt_len: usize,
    /// Shuffle the training set every epoch (seeded).
    pub shuffle: bool,
    /// Malformed rows in `train_files` / `eval_files`: `error` (default: stop, naming file, row
    /// and field) | `skip` (count them and log the first few).
    pub on_bad_row: prime_data::OnBadRow,
}

impl Default for DataSection {
    fn default() -> Self {
        Self {
            train_files: Vec::new(),
            eval_files: Vec::new(),
            builtin: BuiltinTask::Arithmetic,
            task: prime_data::arithmetic::ArithmeticConfig::default(),
            train_size: 4096,
            eval_size: 256,
            max_prompt_len: 1024,
            shuffle: true,
            on_bad_row: prime_data::OnBadRow::Error,
        }
    }
}

/// `[rollout]`: sampling (docs/algorithm.md §1–2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolloutSection {
    /// Prompts (groups) per step `B` (256).
    pub batch_size: usize,
    /// Responses per prompt `K` (4).
    pub n_samples: usize,
    /// Sampling temperature (1.0).
    pub temperature: f64,
    /// Nucleus mass (1.0 = off).
    pub top_p: f64,
    /// Top-k (off).
    pub top_k: Option<usize>,
    /// Longest response (3072).
    pub max_response_len: usize,
    /// Prompts generated together in one batched call (one request to a vLLM server).
    pub micro_batch_size: usize,
    /// `burn` (default: the in-process sampler) | `vllm` (a vLLM server, `[rollout.vllm]`).
    pub engine: super::RolloutEngine,
    /// `[rollout.vllm]`: the servers when `engine = "vllm"`.
    pub vllm: super::VllmSection,
}

impl Default for RolloutSection {
    fn default() -> Self {
        Self {
            batch_size: 256,
            n_samples: 4,
            temperature: 1.0,
            top_p: 1.0,
            top_k: None,
            max_response_len: 3072,
            micro_batch_size: 64,
            engine: super::RolloutEngine::Burn,
            vllm: super::VllmSection::default(),
        }
    }
}

/// `[filter]`: the accuracy filter with refill, and the optional truncation filter
/// (docs/algorithm.md §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterSection {
    /// Apply the accuracy filter.
    pub accuracy: bool,
    /// Keep a group iff `accuracy_lower ≤ mean acc` … (0.2)
    pub accuracy_lower: f64,
    /// … `≤ accuracy_upper` (0.8), inclusive.
    pub accuracy_upper: f64,
    /// Drop a group if any response hit `max_response_len` (off).
    pub truncation: bool,
    /// Each sampling round draws `ceil(missing groups × oversample_factor)` prompts (1.0 = none;
    /// §4's "oversample ×N up front" is `oversample_factor = N`, `max_refills = 0`).
    pub oversample_factor: f64,
    /// Extra sampling rounds while fewer than `B` groups survived (project default 2).
    pub max_refills: usize,
}

impl Default for FilterSection {
    fn default() -> Self {
        Self {
            accuracy: true,
            accuracy_lower: 0.2,
            accuracy_upper: 0.8,
            truncation: false,
            oversample_factor: 1.0,
            max_refills: 2,
        }
    }
}

/// `[ppo]`: the clipped policy loss (docs/algorithm.md §10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoSection {
    /// Clip range ε (0.2).
    pub clip_eps: f64,
    /// Entropy bonus coefficient (0).
    pub entropy_coef: f64,
    /// KL-to-reference coefficient (0 = no reference policy is kept).
    pub kl_coef: f64,
    /// `k1` | `k3` (default; the low-variance estimator).
    pub kl_estimator: KlEstimator,
    /// `seq-mean-token-mean` (default) | `token-mean`.
    pub aggregation: Aggregation,
    /// Passes over the batch (1).
    pub epochs: usize,
    /// Rollouts per optimizer step (256).
    pub mini_batch_size: usize,
    /// Rollouts per forward/backward (gradient accumulation inside a mini-batch).
    pub micro_batch_size: usize,
}

impl Default for PpoSection {
    fn default() -> Self {
        Self {
            clip_eps: 0.2,
            entropy_coef: 0.0,
            kl_coef: 0.0,
            kl_estimator: KlEstimator::K3,
            aggregation: Aggregation::SeqMeanTokenMean,
            epochs: 1,
            mini_batch_size: 256,
            micro_batch_size: 8,
        }
    }
}

/// `[optim]`: the policy's AdamW (docs/algorithm.md §10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimSection {
    /// Learning rate (5e-7).
    pub lr: f64,
    /// Weight decay (0.01).
    pub weight_decay: f64,
    /// Global grad-norm clip (1.0).
    pub grad_clip: f64,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2.
    pub beta2: f64,
    /// Adam ε.
    pub eps: f64,
}

impl Default for OptimSection {
    fn default() -> Self {
        Self {
            lr: 5e-7,
            weight_decay: 0.01,
            grad_clip: 1.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// `schedule.kind`: the shape of the policy learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// `optim.lr` throughout (default).
    Constant,
    /// Linear warm-up, then cosine decay to `min_lr_ratio · optim.lr`.
    WarmupCosine,
}

/// `[schedule]`: the policy learning-rate schedule over RL steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleSection {
    /// `constant` (default) | `warmup_cosine`.
    pub kind: ScheduleKind,
    /// Linear warm-up steps (`warmup_cosine`).
    pub warmup_steps: usize,
    /// Final lr as a fraction of `optim.lr` (`warmup_cosine`).
    pub min_lr_ratio: f64,
}

impl Default for ScheduleSection {
    fn default() -> Self {
        Self {
            kind: ScheduleKind::Constant,
            warmup_steps: 0,
            min_lr_ratio: 0.0,
        }
    }
}

/// `[eval]`: held-out evaluation (docs/algorithm.md §11).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalSection {
    /// Evaluate every this many steps (0 = only before and after training).
    pub every: usize,
    /// Greedy pass@1.
    pub greedy: bool,
    /// Samples per problem for avg@k at `temperature` (0 = off).
    pub k: usize,
    /// Temperature of avg@k (0.3).
    pub temperature: f64,
    /// Longest response (default: `rollout.max_response_len`).
    pub max_response_len: Option<usize>,
    /// Prompts per batched generation call.
    pub micro_batch_size: usize,
}

impl Default for EvalSection {
    fn default() -> Self {
        Self {
            every: 16,
            greedy: true,
            k: 0,
            temperature: 0.3,
            max_response_len: None,
            micro_batch_size: 64,
        }
    }
}

/// `[checkpoint]`: atomic checkpoints in `<run_dir>/checkpoints/step-NNNNNN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointSection {
    /// Write a checkpoint every this many steps (0 = only at the end / on Ctrl-C).
    pub every: usize,
    /// Checkpoints kept on disk (older ones are removed).
    pub keep_last: usize,
}

impl Default for CheckpointSection {
    fn default() -> Self {
        Self {
            every: 16,
            keep_last: 2,
        }
    }
}

/// `[logging]`: what the run shows and writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingSection {
    /// Show the progress bar (only drawn on a terminal).
    pub progress: bool,
    /// `tracing` filter (`info`, `debug`, `prime_trainer=debug`, …); `RUST_LOG` wins.
    pub level: String,
    /// Write `report.html` at the end.
    pub report: bool,
    /// Sample responses (with per-token implicit rewards) kept for the report per logged step.
    pub sample_responses: usize,
}

impl Default for LoggingSection {
    fn default() -> Self {
        Self {
            progress: true,
            level: "info".into(),
            report: true,
            sample_responses: 4,
        }
    }
}

/// `backend.kind`: the device family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn's CPU backend (default).
    Cpu,
    /// burn-cuda (needs the `cuda` feature).
    Cuda,
}

/// `[backend]`: where tensors live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendSection {
    /// `cpu` (default) | `cuda` (needs the `cuda` feature).
    pub kind: BackendKind,
    /// CUDA device index.
    pub device: usize,
}

impl Default for BackendSection {
    fn default() -> Self {
        Self {
            kind: BackendKind::Cpu,
            device: 0,
        }
    }
}
