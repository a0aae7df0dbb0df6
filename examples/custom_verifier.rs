//! A research fork's own verifier, registered for the built-in task's data source in place of
//! the exact-answer verifier — then a short PRIME training whose rewards come from it.
//!
//! ```text
//! cargo run --release --example custom_verifier [RUN_DIR]
//! ```
//!
//! The verifier gives partial credit: 1 for the exact answer, 0.5 for an answer off by one, 0
//! otherwise (soft labels are allowed: the implicit PRM trains on `acc ∈ [0, 1]`). It runs the
//! `arithmetic_chain` problems of `configs/smoke.toml`; the last line printed is the trainer's
//! summary as JSON.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use prime::trainer::{Extensions, RunOptions, RunSummary, TrainConfig};
use prime::verifiers::math::last_boxed;
use prime::verifiers::{Reference, Status, Verdict, Verifier};

/// Responses of the built-in task the verifier has judged (the test checks that training used
/// it).
static VERDICTS: AtomicUsize = AtomicUsize::new(0);

/// The data source of the built-in arithmetic task.
const ARITHMETIC: &str = "arithmetic_chain";

/// Full credit for the exact integer in the last `\boxed{}`, half for one off by one.
struct OffByOne;

impl Verifier for OffByOne {
    fn verify(&self, response: &str, reference: &Reference) -> Verdict {
        if reference.data_source == ARITHMETIC {
            VERDICTS.fetch_add(1, Ordering::SeqCst);
        }
        let Ok(truth) = reference.ground_truth.trim().parse::<i64>() else {
            return Verdict::error("the ground truth is not an integer");
        };
        let Some(answer) = last_boxed(response) else {
            return Verdict::no_answer("no \\boxed{}");
        };
        match answer.trim().parse::<i64>() {
            Ok(value) if value == truth => Verdict::new(1.0, Status::Correct, "exact"),
            Ok(value) if (value - truth).abs() == 1 => {
                Verdict::new(0.5, Status::Wrong, "off by one")
            }
            Ok(_) => Verdict::new(0.0, Status::Wrong, "wrong"),
            Err(_) => Verdict::new(0.0, Status::Wrong, "not an integer"),
        }
    }
}

/// Trains the smoke config with [`OffByOne`] as the task's verifier in `run_dir`.
fn train(run_dir: &Path) -> Result<RunSummary, Box<dyn std::error::Error>> {
    let smoke = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/smoke.toml");
    let config = TrainConfig::load(&smoke, &[])?;
    let options = RunOptions {
        extensions: Extensions::builtin().with_verifier(ARITHMETIC, OffByOne),
        ..RunOptions::default()
    };
    Ok(prime::trainer::train(config, run_dir, options)?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let run_dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("runs/custom_verifier"));
    let summary = train(&run_dir)?;
    println!(
        "off-by-one verifier judged {} responses",
        VERDICTS.load(Ordering::SeqCst)
    );
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(truth: &str) -> Reference {
        // Another data source than the training run's, so the count the other test checks
        // stays exact when both run at once.
        Reference {
            ability: "arithmetic".into(),
            data_source: "unit_test".into(),
            ground_truth: truth.into(),
        }
    }

    #[test]
    fn partial_credit_for_off_by_one() {
        let score = |response: &str| OffByOne.verify(response, &reference("12")).score;
        assert_eq!(score("so \\boxed{12}"), 1.0);
        assert_eq!(score("\\boxed{11}"), 0.5);
        assert_eq!(score("\\boxed{13}"), 0.5);
        assert_eq!(score("\\boxed{14}"), 0.0);
        assert_eq!(score("12"), 0.0);
        assert_eq!(
            OffByOne.verify("12", &reference("12")).status,
            Status::NoAnswer
        );
    }

    #[test]
    fn a_run_scores_its_rollouts_with_the_registered_verifier() {
        let dir = tempfile::tempdir().unwrap();
        let before = VERDICTS.load(Ordering::SeqCst);
        let summary = train(&dir.path().join("run")).unwrap();
        assert_eq!(summary.steps, 4);
        // smoke.toml: 3 prompts × 2 samples per step (filter off) and 6 greedy eval problems at
        // steps 0, 2 and 4, every response judged once by this verifier.
        assert_eq!(VERDICTS.load(Ordering::SeqCst) - before, 4 * 3 * 2 + 3 * 6);
    }
}
