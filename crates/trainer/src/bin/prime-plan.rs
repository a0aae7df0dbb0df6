//! `prime-plan`: the memory plan of a config (what `cargo xtask plan` runs).
//!
//! ```text
//! prime-plan --config configs/prime-qwen2.5-math-7b-lora.toml [--set key=value …]
//! ```
//!
//! Prints a table per component, then one JSON line `{"params": …, "trainable_params": …,
//! "bytes": {"weights": …, "grads": …, "optimizer": …, "activations": …, "logits": …,
//! "kv_cache": …, "total": …}}`, the last line of stdout. See `prime_trainer::memory_plan`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use prime_trainer::{memory_plan, TrainConfig};

#[derive(Parser)]
#[command(name = "prime-plan", about = "The memory plan of a PRIME run's config")]
struct Cli {
    /// The run's TOML config.
    #[arg(long)]
    config: PathBuf,
    /// `section.key=value` overrides, applied before the config is checked.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = TrainConfig::load(&cli.config, &cli.overrides)
        .map_err(|e| e.to_string())
        .and_then(|config| memory_plan::plan(&config).map_err(|e| e.to_string()));
    match result {
        Ok(plan) => {
            print!("{}", plan.table());
            println!("{}", plan.json_line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("prime-plan: {e}");
            ExitCode::FAILURE
        }
    }
}
