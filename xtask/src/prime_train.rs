//! The `prime-train` binary: the configs of the demo, building the binary in release, running it
//! and reading the JSON line it ends with.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::workspace::{cargo, workspace_root};

/// The built-in demo (`cargo xtask train` without `--config`).
pub(crate) const DEMO_CONFIG: &str = "configs/demo.toml";
/// Outcome-only RLOO, the baseline of `cargo xtask demo --compare`.
pub(crate) const RLOO_CONFIG: &str = "configs/rloo-outcome-only.toml";

/// Builds `prime-train` in release and returns its path.
pub(crate) fn build_trainer(cuda: bool) -> Result<PathBuf, String> {
    build_trainer_with(if cuda { &["cuda"] } else { &[] })
}

/// Builds `prime-train` in release with `features` (`cuda`, `mpi`) and returns its path.
pub(crate) fn build_trainer_with(features: &[&str]) -> Result<PathBuf, String> {
    let joined = features.join(",");
    let mut args = vec![
        "build",
        "--release",
        "-p",
        "prime-trainer",
        "--bin",
        "prime-train",
    ];
    if !features.is_empty() {
        args.extend(["--features", joined.as_str()]);
    }
    cargo(&args)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    Ok(target.join("release").join("prime-train"))
}

/// Runs the trainer binary with `args` from the workspace root; returns its stdout (also echoed).
pub(crate) fn run_trainer(bin: &Path, args: &[String]) -> Result<String, String> {
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

/// The last non-empty line of the trainer's stdout (its final summary), parsed as JSON.
pub(crate) fn last_json(stdout: &str) -> Result<serde_json::Value, String> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(line).map_err(|e| format!("last stdout line is not JSON ({e}): {line}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_json_line_is_parsed() {
        let v = last_json("hello\n{\"steps\": 3}\n\n").unwrap();
        assert_eq!(v["steps"], 3);
        assert!(last_json("no json").is_err());
    }
}
