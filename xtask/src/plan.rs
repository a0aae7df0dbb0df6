//! `cargo xtask plan --config FILE [--set key=value …]`: the memory plan of a run (the
//! `prime-plan` binary, built in release like the trainer): a table per component, then one JSON
//! line.

use std::path::PathBuf;

use crate::prime_train::run_trainer;
use crate::workspace::{cargo, workspace_root};

/// `cargo xtask plan …`
pub fn plan(args: &[String]) -> Result<(), String> {
    if !args
        .iter()
        .any(|a| a == "--config" || a.starts_with("--config="))
    {
        return Err("usage: cargo xtask plan --config FILE [--set key=value …]".into());
    }
    cargo(&[
        "build",
        "--release",
        "-p",
        "prime-trainer",
        "--bin",
        "prime-plan",
    ])?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    run_trainer(&target.join("release").join("prime-plan"), args).map(|_| ())
}
