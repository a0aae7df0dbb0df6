#![doc = include_str!("../README.md")]
//!
//! ## The API
//!
//! - [`train`]: run a [`TrainConfig`] (backend and model family picked from it) with
//!   [`RunOptions`], returning a [`RunSummary`];
//! - [`Extensions`]: a program's own advantage estimators and verifiers, by name;
//! - [`Trainer`]: a run, generic over the backend and the model family (any
//!   [`prime_models::TrainableLm`]) — SFT, the step phase by phase (`rollout` → [`Rollouts`],
//!   `old_log_probs` → [`OldLogProbs`], `implicit_rewards`, `advantages`, `policy_update`),
//!   evaluation, checkpoints;
//! - [`RunModels`]: everything with weights, and the one checkpoint layout (`policy/`,
//!   `policy_optim.mpk`, `prm/` with `prm_optimizer.mpk`);
//! - [`seeds`]: the named seed tags every random choice of a run derives its seed from;
//! - [`config`]: the TOML config, typed choices, `--set` overrides, errors naming the key;
//! - [`filter`]: the accuracy / truncation filter with refill over prime-data's prompt pipeline;
//! - [`policy_loss`] and [`ppo_update`]: the PPO-clip loss and the update that minimises it;
//! - [`report`]: the self-contained `report.html`;
//! - [`vllm`]: rollouts from vLLM servers (`[rollout] engine = "vllm"`), weights synced every step.

#![warn(missing_docs)]

pub mod allocator;
pub mod checkpoint_dir;
pub mod config;
mod distributed;
mod error;
pub mod eval;
mod extensions;
pub mod filter;
mod launch;
pub mod lora_base;
pub mod memory_plan;
pub mod metrics;
mod models;
pub mod peak_memory;
pub mod policy_loss;
pub mod ppo_update;
mod progress;
pub mod ragged;
pub mod report;
pub mod rollout;
mod run_files;
pub mod schedule;
pub mod seeds;
pub mod setup;
pub mod sft;
pub mod state;
mod step;
mod trainer;
pub mod vllm;

pub use config::TrainConfig;
pub use distributed::communicator_from_env;
pub use error::{ConfigError, TrainError};
pub use extensions::Extensions;
pub use launch::{evaluate_run, model_family, train};
pub use models::RunModels;
pub use run_files::{files, run_report, RunLogs};
pub use state::{RunState, RunSummary};
pub use step::{OldLogProbs, Rollouts, Row};
pub use trainer::{RunOptions, Trainer};
