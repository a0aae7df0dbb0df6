//! [`PlanError`]: why a plan could not be made, or why a run may not start on it.

use std::path::PathBuf;

/// Why a plan could not be made, or why a run may not start on its plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Neither `model.path/config.json` nor its checked-in copy exists.
    #[error("no architecture for the plan: neither {} nor {} exists", local.display(), shape.display())]
    NoArchitecture {
        /// `model.path/config.json`.
        local: PathBuf,
        /// `configs/shapes/<name>/config.json`.
        shape: PathBuf,
    },
    /// A `config.json` or tokenizer could not be read.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file (or config section).
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The device's memory could not be determined from the given source.
    #[error("device memory: {0}")]
    DeviceMemory(String),
    /// The plan exceeds the device's memory.
    #[error("{0}")]
    OverDevice(String),
}
