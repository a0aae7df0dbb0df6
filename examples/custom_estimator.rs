//! A research fork's own advantage estimator, defined outside `prime-advantages`, registered
//! under a name and picked by the config — then a short PRIME training that uses it.
//!
//! ```text
//! cargo run --release --example custom_estimator [RUN_DIR]
//! ```
//!
//! The estimator is "outcome minus the group median", spread over every token: a baseline that
//! is robust to one outlier in the group. The run is `configs/smoke.toml` (a few steps of a tiny
//! model) with `advantage.estimator = "median_baseline"`; the last line printed is the trainer's
//! summary as JSON.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use prime::advantages::{
    AdvantageError, AdvantageEstimator, AdvantageOptions, Advantages, RolloutBatch,
};
use prime::trainer::{Extensions, RunOptions, RunSummary, TrainConfig};

thread_local! {
    /// Batches the estimator has been asked for on this thread (the test checks that training
    /// used it; the trainer estimates on the thread that runs it).
    static ESTIMATES: Cell<usize> = const { Cell::new(0) };
}

/// `A_{i,t} = c_o · (acc_i − median_{j ∈ group(i)} acc_j)` on every valid token.
struct MedianBaseline {
    outcome_coef: f64,
}

impl AdvantageEstimator for MedianBaseline {
    fn estimate(&self, batch: &RolloutBatch) -> Result<Advantages, AdvantageError> {
        ESTIMATES.set(ESTIMATES.get() + 1);
        let width = batch.width();
        let mut returns = vec![0.0f32; batch.len() * width];
        for group in batch.groups() {
            let mut scores: Vec<f32> = group.members.iter().map(|&i| batch.acc()[i]).collect();
            scores.sort_by(f32::total_cmp);
            let k = scores.len();
            let median = if k % 2 == 1 {
                f64::from(scores[k / 2])
            } else {
                (f64::from(scores[k / 2 - 1]) + f64::from(scores[k / 2])) / 2.0
            };
            for &i in group.members {
                let advantage = self.outcome_coef * (f64::from(batch.acc()[i]) - median);
                let row = &mut returns[i * width..i * width + batch.lengths()[i]];
                row.fill(advantage as f32);
            }
        }
        Advantages::from_returns(batch, returns, false)
    }
}

/// The built-in extensions plus `median_baseline`.
fn extensions() -> Result<Extensions, AdvantageError> {
    Extensions::builtin().with_estimator("median_baseline", |options: &AdvantageOptions| {
        options.validate()?;
        Ok(Box::new(MedianBaseline {
            outcome_coef: options.outcome_coef,
        }) as Box<dyn AdvantageEstimator>)
    })
}

/// Trains the smoke config with the median baseline in `run_dir`.
fn train(run_dir: &Path) -> Result<RunSummary, Box<dyn std::error::Error>> {
    let smoke = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/smoke.toml");
    let overrides = ["advantage.estimator=median_baseline".to_string()];
    let config = TrainConfig::load(&smoke, &overrides)?;
    let options = RunOptions {
        extensions: extensions()?,
        ..RunOptions::default()
    };
    Ok(prime::trainer::train(config, run_dir, options)?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let run_dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("runs/custom_estimator"));
    let summary = train(&run_dir)?;
    println!("median_baseline estimated {} batches", ESTIMATES.get());
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_baseline_is_the_median_of_the_group() {
        let estimator = MedianBaseline { outcome_coef: 1.0 };
        // one prompt, five responses of different lengths; one lucky outlier
        let batch = RolloutBatch::new(
            4,
            vec![0; 5],
            vec![4, 2, 3, 1, 4],
            vec![0.0, 0.1, 0.2, 0.1, 1.0],
        )
        .unwrap();
        let out = estimator.estimate(&batch).unwrap();
        // median 0.1: the outlier gets +0.9, the two at the median 0
        assert_eq!(out.advantage_row(1), &[0.0, 0.0]);
        assert!((out.advantage_row(4)[0] - 0.9).abs() < 1e-6);
        assert_eq!(out.advantages()[3 * 4 + 1], 0.0); // padding of response 3
    }

    #[test]
    fn a_run_trains_with_the_registered_estimator() {
        let dir = tempfile::tempdir().unwrap();
        let before = ESTIMATES.get();
        let summary = train(&dir.path().join("run")).unwrap();
        assert_eq!(summary.steps, 4);
        assert!(summary.accuracy_after.is_finite());
        // One estimate per RL step that reached the advantage phase.
        assert_eq!(ESTIMATES.get() - before, 4);
        let metrics = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
        assert_eq!(metrics.lines().count(), 4);
        let config = std::fs::read_to_string(dir.path().join("run/config.toml")).unwrap();
        assert!(config.contains("median_baseline"), "{config}");
    }

    #[test]
    fn an_unregistered_name_fails_before_training() {
        let dir = tempfile::tempdir().unwrap();
        let smoke = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/smoke.toml");
        let config =
            TrainConfig::load(&smoke, &["advantage.estimator=median_baseline".into()]).unwrap();
        let error = prime::trainer::train(config, dir.path(), RunOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("advantage.estimator") && error.contains("median_baseline"),
            "{error}"
        );
    }
}
