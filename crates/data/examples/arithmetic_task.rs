//! Writes the built-in arithmetic task to a directory: its tokenizer (`tokenizer.json`,
//! `tokenizer_config.json`) and the SFT, RL and eval splits as JSONL and parquet in the veRL
//! layout, so the format can be inspected (e.g. with `examples/inspect_data.rs`).
//!
//! ```text
//! cargo run -p prime-data --example arithmetic_task -- OUT_DIR [easy|medium|hard] [SEED] [COUNT]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use prime_data::arithmetic::{save_arithmetic_tokenizer, ArithmeticConfig, ArithmeticTask, Split};
use prime_data::DataError;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first().map(PathBuf::from) else {
        eprintln!("usage: arithmetic_task OUT_DIR [easy|medium|hard] [SEED] [COUNT]");
        return ExitCode::FAILURE;
    };
    let preset = args.get(1).map_or("medium", String::as_str);
    let parse = |i: usize, default: u64| args.get(i).map_or(Ok(default), |s| s.parse::<u64>());
    let (Ok(seed), Ok(count)) = (parse(2, 0), parse(3, 1000)) else {
        eprintln!("error: SEED and COUNT must be non-negative integers");
        return ExitCode::FAILURE;
    };
    match run(out, preset, seed, count as usize) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(out: PathBuf, preset: &str, seed: u64, count: usize) -> Result<(), DataError> {
    let config = ArithmeticConfig::preset(preset)?;
    save_arithmetic_tokenizer(&out, &config)?;
    let task = ArithmeticTask::new(config)?;
    for split in [Split::Sft, Split::Rl, Split::Eval] {
        for extension in ["jsonl", "parquet"] {
            let path = out.join(format!("arithmetic_{}.{extension}", split.name()));
            task.export(&path, split, seed, count)?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}
