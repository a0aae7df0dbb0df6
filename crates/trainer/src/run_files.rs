//! The files of a run directory: the logs a run appends to (metrics, evaluations, samples) and
//! reading them back for a report.

use std::path::Path;

use crate::error::TrainError;
use crate::metrics::{read_jsonl, EvalRecord, JsonlWriter, SampleRecord, StepMetrics};
use crate::report::ReportRun;

/// File names inside a run directory.
pub mod files {
    /// Per-step metrics.
    pub const METRICS: &str = "metrics.jsonl";
    /// Evaluations.
    pub const EVAL: &str = "eval.jsonl";
    /// Sample responses with token rewards.
    pub const SAMPLES: &str = "samples.jsonl";
    /// The config the run uses.
    pub const CONFIG: &str = "config.toml";
    /// The report.
    pub const REPORT: &str = "report.html";
    /// The model RL starts from (after SFT): reference of the PRM and the KL term.
    pub const INIT: &str = "init";
    /// The trained policy, HF layout in `model.save_dtype`.
    pub const FINAL: &str = "final";
    /// The policy's LoRA adapter (PEFT layout), inside `final/`, when LoRA is on.
    pub const FINAL_ADAPTER: &str = "adapter";
}

/// The JSONL logs a run appends to.
pub struct RunLogs {
    /// One [`StepMetrics`] per step.
    pub metrics: JsonlWriter,
    /// One [`EvalRecord`] per evaluation.
    pub evals: JsonlWriter,
    /// [`SampleRecord`]s for the report.
    pub samples: JsonlWriter,
}

impl RunLogs {
    /// Opens the logs of `run_dir`; on resume from step `resumed_at`, records of later steps
    /// (written after that checkpoint) are dropped.
    pub fn open(run_dir: &Path, resumed_at: Option<usize>) -> Result<Self, TrainError> {
        Ok(Self {
            metrics: JsonlWriter::open(&run_dir.join(files::METRICS), resumed_at)?,
            evals: JsonlWriter::open(&run_dir.join(files::EVAL), resumed_at)?,
            samples: JsonlWriter::open(&run_dir.join(files::SAMPLES), resumed_at)?,
        })
    }

    /// Logs that write nothing (a data-parallel rank other than 0).
    pub fn discard(run_dir: &Path) -> Self {
        Self {
            metrics: JsonlWriter::discard(&run_dir.join(files::METRICS)),
            evals: JsonlWriter::discard(&run_dir.join(files::EVAL)),
            samples: JsonlWriter::discard(&run_dir.join(files::SAMPLES)),
        }
    }
}

/// A run directory's curves, evaluations and samples, labelled for a report.
pub fn run_report(run_dir: &Path, label: &str) -> Result<ReportRun, TrainError> {
    let mut samples: Vec<SampleRecord> = read_jsonl(&run_dir.join(files::SAMPLES))?;
    // Keep the report small: the samples of the first and the last recorded step.
    if let (Some(first), Some(last)) = (
        samples.first().map(|s| s.step),
        samples.last().map(|s| s.step),
    ) {
        samples.retain(|s| s.step == first || s.step == last);
    }
    Ok(ReportRun {
        label: label.to_string(),
        metrics: read_jsonl::<StepMetrics>(&run_dir.join(files::METRICS))?,
        evals: read_jsonl::<EvalRecord>(&run_dir.join(files::EVAL))?,
        samples,
    })
}
