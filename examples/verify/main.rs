//! Verify model responses from JSONL on stdin; one JSON verdict per line on stdout.
//!
//! ```text
//! cargo run --release --example verify -- math|code|auto [--workers N] [--timeout-ms MS] < items.jsonl
//! ```
//!
//! Each input line is `{"response": str, "ground_truth": str, "ability"?: str, "data_source"?: str}`;
//! each output line is `{"score": f, "status": str, "reason": str, "micros": n}`, in input order.
//! `auto` routes by the item's `ability` / `data_source` (math, code, the built-in synthetic
//! tasks); without one, a ground truth with `inputs`/`outputs` is code, anything else math.
//! A summary with counts per status goes to stderr.

use std::io::{self, BufWriter};
use std::process::ExitCode;
use std::sync::Arc;

use prime::verifiers::{Router, VerifyRunner};

mod jsonl;

fn main() -> ExitCode {
    let (mode, config) = match jsonl::parse_args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runner = VerifyRunner::new(Arc::new(Router::default()), config);
    let stdin = io::stdin().lock();
    let stdout = BufWriter::new(io::stdout().lock());
    match jsonl::run(stdin, stdout, mode, &runner, 256) {
        Ok(counts) => {
            eprintln!(
                "{}",
                serde_json::json!({"total": counts.total(), "counts": counts})
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("verify: {e}");
            ExitCode::FAILURE
        }
    }
}
