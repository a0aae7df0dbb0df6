//! `cargo xtask train | eval | demo`: build the trainer binary in release (with the CUDA feature
//! when asked) and run it.
//!
//! - `cargo xtask train [--config FILE] [--backend cpu|cuda] [--run-dir DIR] [--resume RUN_DIR] [--set key=value …]`
//!   — with no arguments, the built-in demo (`configs/demo.toml`); with `--nproc N
//!   [--threads-per-rank T]`, N data-parallel ranks through `mpirun` (`nproc.rs`).
//! - `cargo xtask eval --run RUN_DIR` — evaluate a run's latest checkpoint.
//! - `cargo xtask demo [--compare [--seeds S1,S2,…]]` — the demo; with `--compare`, PRIME and
//!   outcome-only RLOO from the same SFT start and budget, one report (see `compare.rs`).

use crate::prime_train::{build_trainer, run_trainer, DEMO_CONFIG};

/// `cargo xtask train …`
pub fn train(args: &[String]) -> Result<(), String> {
    let cuda = wants_cuda(args)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let launch = crate::nproc::Launch::parse(args, cores)?;
    let args = launch.as_ref().map_or(args, |l| l.trainer_args.as_slice());
    let mut forwarded: Vec<String> = vec!["train".into()];
    forwarded.extend(args.iter().cloned());
    let has = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    if !has("--config") && !has("--resume") {
        forwarded.extend(["--config".into(), DEMO_CONFIG.into()]);
    }
    if let Some(mut launch) = launch {
        launch.trainer_args = forwarded.split_off(1);
        return crate::nproc::run(&launch, cuda);
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

/// `cargo xtask demo [--compare [--seeds S1,S2,…]] [--set key=value …]`
pub fn demo(args: &[String]) -> Result<(), String> {
    let compare = args.iter().any(|a| a == "--compare");
    let rest: Vec<String> = args.iter().filter(|a| *a != "--compare").cloned().collect();
    if compare {
        return crate::compare::compare(&crate::compare::CompareArgs::parse(&rest)?);
    }
    if rest.iter().any(|a| a.starts_with("--seeds")) {
        return Err("--seeds goes with --compare".into());
    }
    train(&rest)
}

/// Whether `--backend` asks for CUDA (then the trainer is built with the `cuda` feature); an
/// unknown value fails here, with the message `backend.kind` gives in a config.
fn wants_cuda(args: &[String]) -> Result<bool, String> {
    let mut kind = "cpu";
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--backend=") {
            kind = v;
        } else if a == "--backend" {
            kind = args
                .get(i + 1)
                .ok_or_else(|| "--backend needs cpu or cuda".to_string())?;
        }
    }
    match kind {
        "cpu" => Ok(false),
        "cuda" => Ok(true),
        other => Err(format!(
            "--backend: unknown variant `{other}`, expected `cpu` or `cuda`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_flag_forms() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(wants_cuda(&a(&["--backend", "cuda"])).unwrap());
        assert!(!wants_cuda(&a(&["--backend=cpu"])).unwrap());
        assert!(!wants_cuda(&a(&[])).unwrap());
        assert!(wants_cuda(&a(&["--backend"])).is_err());
        let err = wants_cuda(&a(&["--backend=gpu"])).unwrap_err();
        assert!(
            err.contains("`gpu`") && err.contains("`cpu` or `cuda`"),
            "{err}"
        );
    }
}
