//! `cargo xtask train | eval | demo`: build the trainer binary in release (with the CUDA feature
//! when asked) and run it.
//!
//! - `cargo xtask train [--config FILE] [--backend cpu|cuda] [--run-dir DIR] [--resume RUN_DIR] [--set key=value …]`
//!   — with no arguments, the built-in demo (`configs/demo.toml`).
//! - `cargo xtask eval --run RUN_DIR` — evaluate a run's latest checkpoint.
//! - `cargo xtask demo [--compare]` — the demo; with `--compare`, PRIME and outcome-only RLOO from
//!   the same SFT start, seed and budget, and one report with both curves.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, workspace_root};

const DEMO_CONFIG: &str = "configs/demo.toml";
const RLOO_CONFIG: &str = "configs/rloo-outcome-only.toml";

/// Builds `prime-train` in release and returns its path.
fn build_trainer(cuda: bool) -> Result<PathBuf, String> {
    let mut args = vec![
        "build",
        "--release",
        "-p",
        "prime-trainer",
        "--bin",
        "prime-train",
    ];
    if cuda {
        args.extend(["--features", "cuda"]);
    }
    cargo(&args)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    Ok(target.join("release").join("prime-train"))
}

/// Runs the trainer binary with `args` from the workspace root; returns its stdout (also echoed).
fn run_trainer(bin: &Path, args: &[String]) -> Result<String, String> {
    eprintln!("$ {} {}", bin.display(), args.join(" "));
    let output = Command::new(bin)
        .args(args)
        .current_dir(workspace_root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    print!("{stdout}");
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!("prime-train failed ({})", output.status))
    }
}

/// `cargo xtask train …`
pub fn train(args: &[String]) -> Result<(), String> {
    let cuda = backend_of(args)? == "cuda";
    let mut forwarded: Vec<String> = vec!["train".into()];
    forwarded.extend(args.iter().cloned());
    let has = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    if !has("--config") && !has("--resume") {
        forwarded.extend(["--config".into(), DEMO_CONFIG.into()]);
    }
    let bin = build_trainer(cuda)?;
    run_trainer(&bin, &forwarded).map(|_| ())
}

/// `cargo xtask eval --run RUN_DIR`
pub fn eval(args: &[String]) -> Result<(), String> {
    if !args.iter().any(|a| a == "--run" || a.starts_with("--run=")) {
        return Err("usage: cargo xtask eval --run RUN_DIR".into());
    }
    let bin = build_trainer(false)?;
    let mut forwarded: Vec<String> = vec!["eval".into()];
    forwarded.extend(args.iter().cloned());
    run_trainer(&bin, &forwarded).map(|_| ())
}

/// `cargo xtask demo [--compare] [--set key=value …]`
pub fn demo(args: &[String]) -> Result<(), String> {
    let compare = args.iter().any(|a| a == "--compare");
    let rest: Vec<String> = args.iter().filter(|a| *a != "--compare").cloned().collect();
    if !compare {
        return train(&rest);
    }
    let bin = build_trainer(false)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let root = PathBuf::from("runs").join(format!("compare-{stamp}"));
    let prime_dir = root.join("prime");
    let rloo_dir = root.join("rloo");

    let mut prime_args: Vec<String> = vec![
        "train".into(),
        "--config".into(),
        DEMO_CONFIG.into(),
        "--run-dir".into(),
        prime_dir.display().to_string(),
    ];
    prime_args.extend(rest.iter().cloned());
    let prime_summary = last_json(&run_trainer(&bin, &prime_args)?)?;

    // The baseline starts from PRIME's SFT model: same weights, seed, data order and budget.
    let init = prime_dir.join("init").join("policy");
    let mut rloo_args: Vec<String> = vec![
        "train".into(),
        "--config".into(),
        RLOO_CONFIG.into(),
        "--run-dir".into(),
        rloo_dir.display().to_string(),
        "--set".into(),
        format!("model.path=\"{}\"", init.display()),
        "--set".into(),
        "sft.enabled=false".into(),
    ];
    rloo_args.extend(rest.iter().cloned());
    let rloo_summary = last_json(&run_trainer(&bin, &rloo_args)?)?;

    let report = root.join("report.html");
    run_trainer(
        &bin,
        &[
            "report".into(),
            "--out".into(),
            report.display().to_string(),
            "--title".into(),
            "PRIME vs outcome-only RLOO (same SFT start, seed and budget)".into(),
            "--run".into(),
            format!("PRIME={}", prime_dir.display()),
            "--run".into(),
            format!("RLOO outcome-only={}", rloo_dir.display()),
        ],
    )?;

    let prime_acc = training_accuracy(&workspace_root().join(&prime_dir))?;
    let rloo_acc = training_accuracy(&workspace_root().join(&rloo_dir))?;
    let target = tail_mean(&rloo_acc, 5);
    let reached = first_step_reaching(&prime_acc, target);
    // The baseline's own curve, smoothed the same way: a plateau reached early shows here.
    let rloo_reached = first_step_reaching(&rloo_acc, target);
    let comparison = serde_json::json!({
        "rloo_final_training_accuracy": target,
        "rloo_steps": rloo_acc.len(),
        "rloo_steps_to_reach_it": rloo_reached,
        "prime_steps_to_reach_it": reached,
        "prime_final_training_accuracy": tail_mean(&prime_acc, 5),
        "prime": prime_summary,
        "rloo": rloo_summary,
        "report": report.display().to_string(),
    });
    println!(
        "PRIME reaches outcome-only RLOO's final training accuracy ({:.1}%, mean of its last 5 steps) {}",
        100.0 * target,
        match reached {
            Some(s) => format!("at step {s} of {} (5-step moving average)", prime_acc.len()),
            None => "not within the budget".into(),
        }
    );
    println!(
        "outcome-only RLOO's own 5-step moving average first reaches it at step {}",
        rloo_reached.map_or("–".to_string(), |s| s.to_string())
    );
    println!("report: {}", report.display());
    println!("{comparison}");
    Ok(())
}

fn backend_of(args: &[String]) -> Result<String, String> {
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--backend=") {
            return Ok(v.to_string());
        }
        if a == "--backend" {
            return args
                .get(i + 1)
                .cloned()
                .ok_or_else(|| "--backend needs cpu or cuda".to_string());
        }
    }
    Ok("cpu".into())
}

fn last_json(stdout: &str) -> Result<serde_json::Value, String> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(line).map_err(|e| format!("last stdout line is not JSON ({e}): {line}"))
}

/// The `accuracy` of every step in `run_dir/metrics.jsonl`.
fn training_accuracy(run_dir: &Path) -> Result<Vec<f64>, String> {
    let path = run_dir.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("accuracy").and_then(|a| a.as_f64()))
        .collect())
}

fn tail_mean(xs: &[f64], n: usize) -> f64 {
    let tail = &xs[xs.len().saturating_sub(n)..];
    tail.iter().sum::<f64>() / tail.len().max(1) as f64
}

/// Trailing moving average: entry i is the mean of `xs[i+1−w ..= i]` (fewer at the start).
fn moving_average(xs: &[f64], w: usize) -> Vec<f64> {
    (0..xs.len()).map(|i| tail_mean(&xs[..=i], w)).collect()
}

/// The 1-based step at which the 5-step trailing moving average of `acc` first reaches `target`.
fn first_step_reaching(acc: &[f64], target: f64) -> Option<usize> {
    moving_average(acc, 5)
        .iter()
        .position(|&a| a >= target)
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages() {
        assert_eq!(tail_mean(&[1.0, 2.0, 3.0, 4.0], 2), 3.5);
        assert_eq!(moving_average(&[0.0, 2.0, 4.0], 2), vec![0.0, 1.0, 3.0]);
        assert_eq!(tail_mean(&[], 3), 0.0);
    }

    #[test]
    fn first_step_reaching_uses_the_five_step_average() {
        // Moving averages: 0.1, 0.3, 0.4, 0.45, 0.5, 0.6 (steps 1..6).
        let acc = [0.1, 0.5, 0.6, 0.6, 0.7, 0.6];
        assert_eq!(first_step_reaching(&acc, 0.44), Some(4));
        assert_eq!(first_step_reaching(&acc, 0.55), Some(6));
        assert_eq!(first_step_reaching(&acc, 0.9), None);
    }

    #[test]
    fn backend_flag_forms() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(backend_of(&a(&["--backend", "cuda"])).unwrap(), "cuda");
        assert_eq!(backend_of(&a(&["--backend=cpu"])).unwrap(), "cpu");
        assert_eq!(backend_of(&a(&[])).unwrap(), "cpu");
        assert!(backend_of(&a(&["--backend"])).is_err());
    }

    #[test]
    fn last_json_line_is_parsed() {
        let v = last_json("hello\n{\"steps\": 3}\n\n").unwrap();
        assert_eq!(v["steps"], 3);
        assert!(last_json("no json").is_err());
    }
}
