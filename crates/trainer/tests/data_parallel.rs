//! Data-parallel runs with the ranks as threads (prime-distributed's `ThreadGroup`, the same
//! code path as MPI ranks) end with the weights and the per-step metrics of one process.
//! `cargo xtask train --nproc 2` runs the same check through `mpirun` (xtask's tests).

mod common;
use common::relative_error;

use std::path::Path;
use std::sync::Arc;

use prime_distributed::ThreadGroup;
use prime_trainer::{RunOptions, TrainConfig};
use serde_json::Value;

/// Trains `configs/smoke.toml` with `overrides` in `run_dir` as `ranks` ranks.
fn train(run_dir: &Path, ranks: usize, overrides: &[&str]) {
    let smoke = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/smoke.toml");
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let handles: Vec<_> = ThreadGroup::ranks(ranks)
        .into_iter()
        .map(|comm| {
            let (smoke, overrides, run_dir) =
                (smoke.clone(), overrides.clone(), run_dir.to_owned());
            std::thread::spawn(move || {
                let config = TrainConfig::load(&smoke, &overrides).unwrap();
                let options = RunOptions {
                    communicator: Arc::new(comm),
                    ..RunOptions::default()
                };
                prime_trainer::train(config, &run_dir, options).map(|s| s.steps)
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap().unwrap();
    }
}

fn metrics(run_dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Per-step metrics equal up to float summation order; wall times left out.
fn assert_same_metrics(one: &[Value], many: &[Value]) {
    assert_eq!(one.len(), many.len());
    for (a, b) in one.iter().zip(many) {
        let (a, b) = (a.as_object().unwrap(), b.as_object().unwrap());
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (key, x) in a {
            if key.starts_with("time_") || key.ends_with("_per_s") || key == "peak_rss_bytes" {
                continue;
            }
            let y = &b[key];
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => assert!(
                    (x - y).abs() <= 1e-5 * x.abs().max(1.0),
                    "step {}: {key} = {x} in one process, {y} with ranks",
                    a["step"]
                ),
                _ => assert_eq!(x, y, "step {}: {key}", a["step"]),
            }
        }
    }
}

fn assert_same_run(one: &Path, many: &Path, steps: usize) {
    let policy = relative_error(
        &one.join("final/model.safetensors"),
        &many.join("final/model.safetensors"),
    );
    assert!(policy <= 1e-5, "policy relative error {policy:e}");
    let prm = format!("checkpoints/step-{steps:06}/prm/model.safetensors");
    let prm = relative_error(&one.join(&prm), &many.join(&prm));
    assert!(prm <= 1e-5, "PRM relative error {prm:e}");
    assert_same_metrics(&metrics(one), &metrics(many));
}

/// The smoke run (3 prompt groups a step: rank 0 samples 1, rank 1 samples 2).
#[test]
fn two_ranks_train_the_smoke_config_like_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    train(&one, 1, &[]);
    train(&two, 2, &[]);
    assert_same_run(&one, &two, 4);
}

/// One group a step: rank 0 holds no rows at all and still takes every optimizer step.
#[test]
fn a_rank_without_rows_still_steps_with_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    let overrides = ["rollout.batch_size=1", "steps=2"];
    train(&one, 1, &overrides);
    train(&two, 2, &overrides);
    assert_same_run(&one, &two, 2);
}
