//! Any advantage estimator on a JSON batch, from the command line.
//!
//! ```text
//! cargo run --release --example advantages -- rloo --gamma-process 0.99 < batch.json
//! ```
//!
//! `<name>` is one of `rloo grpo reinforce reinforce_pp gae prm_value`. The input is a
//! [`json::JsonBatch`], the output a [`json::JsonAdvantages`]:
//!
//! ```text
//! in:  {"group": [0,0,0,0,1,1,1,1], "lengths": [5,3,…], "acc": [1.0,0.0,…],
//!       "process": [[…], …] (optional), "values": [[…], …] (optional, gae)}
//! out: {"advantages": [[…], …], "returns": [[…], …]}
//! ```
//!
//! Per-token lists are ragged, each exactly `lengths[i]` long. The options
//! (`--gamma-process G --gamma-outcome G --process-coef C --outcome-coef C --variant code|paper
//! --norm batch_norm|none --granularity token|whole --whiten true|false --lambda L
//! --scale group|batch|none`) map one to one onto `AdvantageOptions` ([`cli::parse_args`]).
//! Malformed JSON, inconsistent lengths or a bad option give a message on stderr and exit code 1.

use std::io::Read;
use std::process::ExitCode;

use prime_advantages::Registry;

use cli::{parse_args, USAGE};
use json::{JsonAdvantages, JsonBatch};

mod cli;
mod json;

fn run() -> Result<String, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return Ok(USAGE.to_string());
    }
    let options = parse_args(args).map_err(|e| e.to_string())?;
    let estimator = Registry::with_builtins()
        .build_from_options(&options)
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    let input: JsonBatch =
        serde_json::from_str(&text).map_err(|e| format!("invalid batch JSON: {e}"))?;
    let batch = input
        .into_batch()
        .map_err(|e| format!("invalid batch: {e}"))?;
    let advantages = estimator
        .estimate(&batch)
        .map_err(|e| format!("{}: {e}", options.estimator))?;
    serde_json::to_string(&JsonAdvantages::from(&advantages)).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    match run() {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("advantages: {message}");
            ExitCode::FAILURE
        }
    }
}
