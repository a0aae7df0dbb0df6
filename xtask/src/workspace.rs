//! Where the workspace is and how xtask runs cargo in it.

use std::process::Command;

/// Runs `cargo` with `args` from the workspace root, failing if it fails.
pub(crate) fn cargo(args: &[&str]) -> Result<(), String> {
    cargo_with_env(&[], args)
}

/// [`cargo`] with the environment variables `env` set for it (e.g. `RUSTDOCFLAGS`).
pub(crate) fn cargo_with_env(env: &[(&str, &str)], args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(&cargo, "cargo", env, args)
}

/// Runs `python3` with `args` from the workspace root, failing if it fails.
pub(crate) fn python3(args: &[&str]) -> Result<(), String> {
    run("python3", "python3", &[], args)
}

fn run(program: &str, name: &str, env: &[(&str, &str)], args: &[&str]) -> Result<(), String> {
    let env_prefix: String = env.iter().map(|(k, v)| format!("{k}={v:?} ")).collect();
    eprintln!("$ {env_prefix}{name} {}", args.join(" "));
    let status = Command::new(program)
        .envs(env.iter().copied())
        .args(args)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{name} {}` failed ({status})", args.join(" ")))
    }
}

/// The workspace root: the parent of the xtask crate.
pub(crate) fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
