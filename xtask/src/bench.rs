//! `cargo xtask bench [models|advantages|verifiers|data|implicit-prm|step|all]`: run the
//! criterion benches of one crate (or all), and for `models` also the same shapes in PyTorch
//! (`tools/bench_torch.py`), printing burn/PyTorch time ratios measured in this one run. `step`
//! is the workspace's own `benches/step.rs`: one whole PRIME step of a tiny model and its phases,
//! with each phase's share of the step.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::workspace::{cargo, workspace_root};

/// The criterion benches by the short name `cargo xtask bench` takes: the package, and the one
/// bench target to run (`None`: all of the package's).
const TARGETS: [(&str, &str, Option<&str>); 6] = [
    ("models", "prime-models", None),
    ("advantages", "prime-advantages", None),
    ("verifiers", "prime-verifiers", None),
    ("data", "prime-data", None),
    ("implicit-prm", "prime-implicit-prm", None),
    ("step", "prime", Some("step")),
];

/// Entry point of `cargo xtask bench`.
pub fn bench(args: &[String]) -> Result<(), String> {
    let which = args.first().map(String::as_str).unwrap_or("models");
    let selected: Vec<(&str, &str, Option<&str>)> = if which == "all" {
        TARGETS.to_vec()
    } else {
        let found = TARGETS.iter().find(|(short, _, _)| *short == which);
        vec![*found.ok_or_else(|| {
            let names: Vec<&str> = TARGETS.iter().map(|(short, _, _)| *short).collect();
            format!(
                "unknown bench target `{which}`; expected one of: {}, all",
                names.join(", ")
            )
        })?]
    };
    for (short, package, target) in selected {
        match target {
            Some(target) => cargo(&["bench", "-p", package, "--bench", target])?,
            None => cargo(&["bench", "-p", package])?,
        }
        if short == "models" {
            compare_with_torch()?;
        }
    }
    Ok(())
}

/// Runs `tools/bench_torch.py` and prints, for every shape both sides measured, the ratio of
/// burn's criterion median to PyTorch's median.
fn compare_with_torch() -> Result<(), String> {
    let root = workspace_root();
    eprintln!("$ python3 tools/bench_torch.py --threads 2");
    let output = Command::new("python3")
        .args(["tools/bench_torch.py", "--threads", "2"])
        .current_dir(&root)
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !output.status.success() {
        eprintln!(
            "PyTorch comparison skipped: tools/bench_torch.py failed (needs `pip install torch transformers`):\n{}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        return Ok(());
    }
    let torch: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("tools/bench_torch.py printed no JSON object: {e}"))?;
    let criterion_dir = target_dir(&root).join("criterion");
    println!(
        "{:<36} {:>12} {:>12} {:>12}",
        "shape", "burn ms", "torch ms", "burn/torch"
    );
    for (key, torch_ms) in &torch {
        let Some(torch_ms) = torch_ms.as_f64() else {
            continue;
        };
        match burn_median_ms(&criterion_dir, key) {
            Some(burn_ms) => println!(
                "{key:<36} {burn_ms:>12.2} {torch_ms:>12.2} {:>11.2}x",
                burn_ms / torch_ms
            ),
            None => println!("{key:<36} {:>12} {torch_ms:>12.2} {:>12}", "-", "-"),
        }
    }
    Ok(())
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Median of the criterion bench `group/function` in milliseconds. PyTorch's key
/// `backend_4_5m/forward` matches criterion's `backend_4_5m/flex_forward` (the default backend).
fn burn_median_ms(criterion_dir: &Path, key: &str) -> Option<f64> {
    let (group, function) = key.split_once('/')?;
    [function.to_string(), format!("flex_{function}")]
        .iter()
        .find_map(|name| read_median_ns(&criterion_dir.join(group).join(name)))
        .map(|ns| ns / 1e6)
}

fn read_median_ns(bench_dir: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(bench_dir.join("new").join("estimates.json")).ok()?;
    let estimates: serde_json::Value = serde_json::from_str(&text).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}
