//! Reads a dataset file the way the trainer does and prints one JSON line per problem.
//!
//! ```text
//! cargo run --release --example inspect_data -- <file.parquet|file.jsonl> \
//!     [--model-dir DIR] [--limit N] [--on-bad-row error|skip]
//! ```
//!
//! Per row: `{"id", "data_source", "ability", "prompt_tokens"?, "ground_truth"}`
//! (`prompt_tokens` with `--model-dir`: the prompt through the model's chat template). Then a
//! summary line `{"rows": n, "skipped": m, "by_ability": {...}}`. With `--on-bad-row error` (the
//! default) a malformed row ends the run with a non-zero exit and a one-line message naming the
//! file, row and field; with `skip` each skipped row's message goes to stderr. A row is malformed
//! when the reader rejects it, including a ground truth its verifier could not use: code tests
//! that do not parse, an empty math answer (`tests/inspect_data.rs` runs this on
//! `crates/data/tests/data/bad_ground_truths.parquet`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use prime::data::prompts::prompt_token_ids;
use prime::data::{OnBadRow, ProblemReader, ReadOptions};
use prime::models::Tokenizer;
use serde::Serialize;

/// One output line; fields in the documented order.
#[derive(Serialize)]
struct Row<'a> {
    id: &'a str,
    data_source: &'a str,
    ability: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_tokens: Option<usize>,
    ground_truth: &'a str,
}

/// The final line.
#[derive(Serialize)]
struct Summary {
    rows: usize,
    skipped: usize,
    by_ability: BTreeMap<String, usize>,
}

#[derive(Parser)]
#[command(about = "Print the problems of a parquet/JSONL dataset file as JSON lines")]
pub struct Args {
    /// A `.parquet` or `.jsonl` file in the veRL or legacy Eurus-2-RL-Data layout.
    file: PathBuf,
    /// A model directory whose tokenizer and chat template count the prompt tokens.
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Stop after this many problems.
    #[arg(long)]
    limit: Option<usize>,
    /// `error` (stop at the first malformed row) or `skip` (count it and go on).
    #[arg(long, default_value = "error")]
    on_bad_row: OnBadRow,
}

fn main() -> ExitCode {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    match run(Args::parse(), &mut out, &mut err) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {}", message.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

/// Prints the problems to `out` and the skipped rows' messages to `err`; `Err` is the message of
/// the error that ended the run.
pub fn run(args: Args, out: &mut impl Write, err: &mut impl Write) -> Result<(), String> {
    let tokenizer = match &args.model_dir {
        Some(dir) => Some(Tokenizer::from_dir(dir).map_err(|e| e.to_string())?),
        None => None,
    };
    let options = ReadOptions {
        on_bad_row: args.on_bad_row,
        ..ReadOptions::default()
    };
    let mut reader = ProblemReader::open(&args.file, &options).map_err(|e| e.to_string())?;
    let mut by_ability: BTreeMap<String, usize> = BTreeMap::new();
    let mut rows = 0usize;
    for problem in reader.by_ref() {
        if args.limit.is_some_and(|limit| rows >= limit) {
            break;
        }
        let problem = problem.map_err(|e| e.to_string())?;
        let prompt_tokens = match &tokenizer {
            Some(tokenizer) => Some(
                prompt_token_ids(&problem, tokenizer, None)
                    .map_err(|e| e.to_string())?
                    .len(),
            ),
            None => None,
        };
        let row = Row {
            id: &problem.id,
            data_source: &problem.data_source,
            ability: &problem.ability,
            prompt_tokens,
            ground_truth: &problem.reference.ground_truth,
        };
        let line = serde_json::to_string(&row).map_err(|e| e.to_string())?;
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
        *by_ability.entry(problem.ability).or_default() += 1;
        rows += 1;
    }
    let stats = reader.stats();
    for message in &stats.skipped_examples {
        writeln!(err, "skipped: {message}").map_err(|e| e.to_string())?;
    }
    let summary = Summary {
        rows,
        skipped: stats.skipped,
        by_ability,
    };
    let line = serde_json::to_string(&summary).map_err(|e| e.to_string())?;
    writeln!(out, "{line}").map_err(|e| e.to_string())
}
