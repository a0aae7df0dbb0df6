//! What a step records, and the JSONL files it is written to.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// One line of `metrics.jsonl`: everything a step measured. Names follow the reference
/// implementation's where it has one (`dpo_acc`, `clip_frac`, …). Seconds are wall time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// RL step, 1-based.
    pub step: usize,
    /// Policy learning rate used.
    pub lr: f64,
    /// Mean verifier score over every response sampled this step (before filtering).
    pub accuracy: f64,
    /// Mean verifier score over the kept groups.
    pub accuracy_kept: f64,
    /// Groups sampled over all filter rounds.
    pub groups_sampled: usize,
    /// Groups used for training.
    pub groups_kept: usize,
    /// Groups the filter kept but training left out, for a response that could not be decoded
    /// (not in `groups_kept`).
    #[serde(default)]
    pub groups_undecodable: usize,
    /// Dropped as too easy / too hard / truncated.
    pub groups_too_easy: usize,
    /// See `groups_too_easy`.
    pub groups_too_hard: usize,
    /// See `groups_too_easy`.
    pub groups_truncated: usize,
    /// Sampling rounds (1 + refills).
    pub filter_rounds: usize,
    /// Prompts waiting in the buffer after the step.
    pub buffer_size: usize,
    /// Verdicts by status over everything sampled.
    pub verify_no_answer: usize,
    /// See `verify_no_answer`.
    pub verify_timeout: usize,
    /// See `verify_no_answer`.
    pub verify_error: usize,
    /// Of `verify_error`: responses the tokenizer could not decode, scored 0 without a verifier.
    #[serde(default)]
    pub verify_undecodable: usize,
    /// PRM cross-entropy (or DPO) loss, mean over mini-batches.
    pub prm_loss: f64,
    /// PRM pairwise accuracy within groups, of the rewards from the loss forwards (before the
    /// PRM saw this batch's mini-batch).
    pub dpo_acc: f64,
    /// PRM pairwise accuracy of this batch re-scored after the update: how well the PRM fits what
    /// it was trained on. Measured in update mode `before` (its rewards come from that forward).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpo_acc_after: Option<f64>,
    /// PRM global gradient norm before clipping (mean over mini-batches).
    pub prm_grad_norm: f64,
    /// Mean token process reward `r^p` after normalisation.
    pub process_reward_mean: f64,
    /// PPO clipped surrogate, mean over mini-batches.
    pub policy_loss: f64,
    /// Share of valid tokens where the clipped term was taken.
    pub clip_frac: f64,
    /// Mean `log π_θold − log π_θ` over valid tokens.
    pub approx_kl: f64,
    /// Mean KL estimate to the frozen reference (0 without one).
    pub ref_kl: f64,
    /// Mean policy entropy over valid tokens.
    pub entropy: f64,
    /// Policy global gradient norm before clipping (mean over mini-batches).
    pub grad_norm: f64,
    /// Mean advantage magnitude over valid tokens.
    pub advantage_abs_mean: f64,
    /// Mean response length (tokens, EOS included) of the kept groups.
    pub response_length: f64,
    /// Longest response of the kept groups.
    pub response_length_max: usize,
    /// Share of kept responses that hit `max_response_len`.
    pub truncated_frac: f64,
    /// Sampled tokens per second.
    pub sampling_tokens_per_s: f64,
    /// Trained tokens (prompt + response) per second of the policy update.
    pub training_tokens_per_s: f64,
    /// Seconds spent sampling.
    pub time_rollout: f64,
    /// Seconds spent verifying.
    pub time_verify: f64,
    /// Seconds recomputing old (and reference) log-probs.
    pub time_old_log_probs: f64,
    /// Seconds in the implicit PRM (rewards and update).
    pub time_prm: f64,
    /// Seconds computing advantages.
    pub time_advantage: f64,
    /// Seconds in the policy update.
    pub time_policy: f64,
    /// Seconds for the whole step.
    pub time_step: f64,
    /// Seconds writing the policy and reloading it into the vLLM servers before this step's
    /// rollouts (`rollout.engine = "vllm"` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_sync_seconds: Option<f64>,
    /// Mean `|log π_vLLM − log π_θold|` over the kept response tokens: the server's log-probs
    /// against the trainer's recomputed old log-probs (`rollout.engine = "vllm"` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vllm_logprob_abs_diff_mean: Option<f64>,
    /// The largest such difference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vllm_logprob_abs_diff_max: Option<f64>,
    /// The process's peak resident memory so far, in bytes (Linux `VmHWM`; absent elsewhere):
    /// what `cargo xtask plan` is checked against on the CPU (see `crate::peak_memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// This step was skipped (non-finite loss or rewards, or no group survived).
    pub skipped: bool,
    /// Steps skipped so far in the run.
    pub skipped_total: usize,
}

impl StepMetrics {
    /// The metrics that must agree between an interrupted-and-resumed run and an uninterrupted
    /// one (everything except timings and throughput).
    pub fn deterministic_part(&self) -> StepMetrics {
        StepMetrics {
            sampling_tokens_per_s: 0.0,
            training_tokens_per_s: 0.0,
            time_rollout: 0.0,
            time_verify: 0.0,
            time_old_log_probs: 0.0,
            time_prm: 0.0,
            time_advantage: 0.0,
            time_policy: 0.0,
            time_step: 0.0,
            weight_sync_seconds: self.weight_sync_seconds.map(|_| 0.0),
            peak_rss_bytes: None,
            ..self.clone()
        }
    }

    /// These metrics with the process's peak resident memory so far
    /// ([`crate::peak_memory::peak_rss_bytes`]).
    pub fn with_peak_memory(self) -> Self {
        Self {
            peak_rss_bytes: crate::peak_memory::peak_rss_bytes(),
            ..self
        }
    }
}

/// One evaluation: scores per data source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// RL step after which it ran (0 = before RL, after SFT).
    pub step: usize,
    /// Greedy pass@1 over all problems.
    pub accuracy: f64,
    /// Per data source: `(source, problems, greedy pass@1, avg@k or None)`.
    pub by_source: Vec<SourceScore>,
    /// avg@k at the eval temperature over all problems (None when k = 0).
    pub avg_at_k: Option<f64>,
    /// Mean greedy response length.
    pub response_length: f64,
    /// Responses (greedy and sampled) the tokenizer could not decode, scored 0.
    #[serde(default)]
    pub undecodable: usize,
    /// Seconds it took.
    pub seconds: f64,
}

/// Scores of one data source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceScore {
    /// `data_source` of the problems.
    pub source: String,
    /// Problems evaluated.
    pub problems: usize,
    /// Greedy pass@1.
    pub pass_at_1: f64,
    /// avg@k at T > 0.
    pub avg_at_k: Option<f64>,
}

/// A sample response with its per-token implicit process rewards, for the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// RL step.
    pub step: usize,
    /// The prompt text.
    pub prompt: String,
    /// Each response token's text.
    pub tokens: Vec<String>,
    /// Each response token's process reward `r^p` (same length as `tokens`; empty without PRM).
    pub rewards: Vec<f64>,
    /// Verifier score.
    pub score: f64,
}

/// Appends JSON lines, flushing after each. Every line carries a `step` field.
#[derive(Debug)]
pub struct JsonlWriter {
    path: PathBuf,
    /// `None`: records are dropped (a data-parallel rank other than 0 writes nothing).
    file: Option<File>,
}

impl JsonlWriter {
    /// Opens `path` for appending. With `keep_up_to = Some(s)` lines whose `step` is greater than
    /// `s` are removed first (a resumed run rewrites what the interrupted one wrote after its last
    /// checkpoint); with `None` the file is truncated.
    pub fn open(path: &Path, keep_up_to: Option<usize>) -> Result<Self, TrainError> {
        let kept = match keep_up_to {
            Some(s) if path.exists() => lines_up_to(path, s)?,
            _ => Vec::new(),
        };
        let mut file = File::create(path).map_err(|e| TrainError::io(path, e))?;
        for line in kept {
            writeln!(file, "{line}").map_err(|e| TrainError::io(path, e))?;
        }
        drop(file);
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| TrainError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Some(file),
        })
    }

    /// A writer that drops every record and touches no file.
    pub fn discard(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            file: None,
        }
    }

    /// Writes `record` as one line.
    pub fn write<T: Serialize>(&mut self, record: &T) -> Result<(), TrainError> {
        let line = serde_json::to_string(record).map_err(|e| TrainError::Format {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        writeln!(file, "{line}")
            .and_then(|_| file.flush())
            .map_err(|e| TrainError::io(&self.path, e))
    }
}

fn lines_up_to(path: &Path, step: usize) -> Result<Vec<String>, TrainError> {
    let file = File::open(path).map_err(|e| TrainError::io(path, e))?;
    let mut kept = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| TrainError::io(path, e))?;
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue; // a line cut by a crash
        };
        if value
            .get("step")
            .and_then(|s| s.as_u64())
            .is_some_and(|s| s as usize <= step)
        {
            kept.push(line);
        }
    }
    Ok(kept)
}

/// Reads every well-formed line of a JSONL file (missing file = empty).
pub fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, TrainError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let file = File::open(path).map_err(|e| TrainError::io(path, e))?;
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| TrainError::io(path, e))?;
        if let Ok(v) = serde_json::from_str(&line) {
            out.push(v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_drops_lines_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut w = JsonlWriter::open(&path, None).unwrap();
        for step in 1..=5 {
            w.write(&StepMetrics {
                step,
                accuracy: step as f64 / 10.0,
                ..Default::default()
            })
            .unwrap();
        }
        drop(w);
        // A crash cut the last line in half.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"step\": 6, \"accur");
        std::fs::write(&path, text).unwrap();

        let mut w = JsonlWriter::open(&path, Some(3)).unwrap();
        w.write(&StepMetrics {
            step: 4,
            accuracy: 0.9,
            ..Default::default()
        })
        .unwrap();
        let rows: Vec<StepMetrics> = read_jsonl(&path).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.step).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(rows[3].accuracy, 0.9);
        assert_eq!(rows[2].accuracy, 0.3);
    }

    #[test]
    fn fresh_open_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.jsonl");
        std::fs::write(&path, "{\"step\":1}\n").unwrap();
        JsonlWriter::open(&path, None).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }

    #[test]
    fn deterministic_part_zeroes_timings_only() {
        let m = StepMetrics {
            step: 2,
            accuracy: 0.5,
            time_step: 3.0,
            sampling_tokens_per_s: 9.0,
            ..Default::default()
        };
        let d = m.deterministic_part();
        assert_eq!(
            (d.step, d.accuracy, d.time_step, d.sampling_tokens_per_s),
            (2, 0.5, 0.0, 0.0)
        );
    }
}
