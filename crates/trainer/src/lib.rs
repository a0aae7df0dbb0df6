//! # prime-trainer
//!
//! The only crate that wires the others together: the PRIME step (sample → verify → filter →
//! old log-probs → implicit PRM → advantages → PPO), SFT warm-up, evaluation, checkpoints,
//! metrics and the HTML report, all driven by one [`TrainConfig`].

#![warn(missing_docs)]

pub mod checkpoint_dir;
pub mod config;
mod error;
pub mod filter;
pub mod metrics;
pub mod report;
pub mod schedule;

pub use config::TrainConfig;
pub use error::{ConfigError, TrainError};
