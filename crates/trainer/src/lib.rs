//! # prime-trainer
//!
//! The only crate that wires the others together: the PRIME step (sample → verify → filter →
//! old log-probs → implicit PRM → advantages → PPO), SFT warm-up, evaluation, checkpoints,
//! metrics and the HTML report, all driven by one [`TrainConfig`].
//!
//! - [`config`]: the TOML config (docs/algorithm.md defaults), `--set` overrides, key errors;
//! - [`filter`]: the accuracy / truncation filter with refill and the prompt buffer;
//! - [`ppo`]: the PPO-clip loss (aggregations, entropy bonus, k1/k3 KL);
//! - [`Trainer`]: a run — SFT, the step, evaluation, checkpoints and resume;
//! - [`report`]: the self-contained `report.html`.

#![warn(missing_docs)]

pub mod checkpoint_dir;
pub mod config;
pub mod cursor;
mod error;
pub mod eval;
pub mod filter;
pub mod metrics;
pub mod policy;
pub mod ppo;
mod progress;
pub mod report;
pub mod rollout;
pub mod schedule;
pub mod setup;
pub mod sft;
pub mod state;
mod step;
pub mod tensors;
mod trainer;

pub use config::TrainConfig;
pub use error::{ConfigError, TrainError};
pub use eval::evaluate_run;
pub use state::{RunState, RunSummary};
pub use trainer::{files, run_report, Prm, Trainer};
