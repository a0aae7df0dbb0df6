//! What a checkpoint stores besides weights and optimizer states, and the run's final summary.

use std::path::PathBuf;

use prime_data::prompts::BatcherState;
use serde::{Deserialize, Serialize};

/// The resumable state of a run (`state.json` in every checkpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// RL steps completed.
    pub step: usize,
    /// Position in the training prompts and the filter's buffer of leftover prompts.
    pub prompts: BatcherState,
    /// Steps skipped so far (non-finite values or no surviving group).
    pub skipped_total: usize,
    /// Greedy eval accuracy before RL (after SFT).
    pub accuracy_before: Option<f64>,
    /// Latest greedy eval accuracy and its step.
    pub last_eval: Option<(usize, f64)>,
    /// Wall seconds spent by the run before this checkpoint (SFT included).
    pub wall_seconds: f64,
    /// The run seed; every random draw is derived from it and the step (no other RNG state).
    pub seed: u64,
}

/// The last line a `train` run prints on stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Greedy eval accuracy after SFT, before RL.
    pub accuracy_before: f64,
    /// Greedy eval accuracy at the end.
    pub accuracy_after: f64,
    /// Wall seconds of the whole run (SFT, RL, evals; across resumes).
    pub wall_seconds: f64,
    /// RL steps completed.
    pub steps: usize,
    /// Stopped early by Ctrl-C (a checkpoint was written).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}
