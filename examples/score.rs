//! Scores a token sequence with a Hugging Face Qwen2 checkpoint: the log-probability of every
//! token given the ones before it.
//!
//! ```text
//! cargo run --release --example score -- <model_dir> --ids 3,17,42,7
//! {"token_logprobs":[-5.17,-7.52,-2.95]}
//! ```
//!
//! Prints one JSON object on stdout with `n − 1` values, `log p(ids[t+1] | ids[..=t])`. Errors are
//! one line on stderr and a non-zero exit status. With the `cuda` feature, `--backend cuda` runs
//! on the GPU.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use clap::Parser;
use prime_models::{load_hf, token_log_probs, CausalLm, TokenBatch};

/// Log-probabilities of a token sequence under a Hugging Face Qwen2 checkpoint.
#[derive(Parser)]
struct Args {
    /// Directory with config.json and model.safetensors (or a sharded index).
    model_dir: PathBuf,
    /// Comma-separated token ids, e.g. 3,17,42.
    #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
    ids: Vec<u32>,
    /// `cpu`, or `cuda` when built with `--features cuda`.
    #[arg(long, default_value = "cpu")]
    backend: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.backend.as_str() {
        "cpu" => score::<prime_models::backend::CpuBackend>(&args, &Default::default()),
        #[cfg(feature = "cuda")]
        "cuda" => score::<prime_models::backend::CudaBackend>(&args, &Default::default()),
        other => Err(format!(
            "unknown backend {other:?} (this build has: {})",
            backends()
        )),
    };
    match result {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {}", message.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn backends() -> &'static str {
    if cfg!(feature = "cuda") {
        "cpu, cuda"
    } else {
        "cpu"
    }
}

fn score<B: Backend>(args: &Args, device: &B::Device) -> Result<String, String> {
    let model = load_hf::<B>(&args.model_dir, device).map_err(|err| err.to_string())?;
    check_ids(&args.ids, model.vocab_size(), &args.model_dir)?;
    let n = args.ids.len();
    let ids: Vec<i64> = args.ids.iter().map(|&id| i64::from(id)).collect();
    let batch = TokenBatch {
        input_ids: Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, n]), device),
        attention_mask: Tensor::<B, 2, Int>::ones([1, n], device),
    };
    let logits = model.forward(&batch); // [1, n, vocab]
    let logprobs = token_log_probs(logits, &batch); // [1, n - 1]
    let values = logprobs
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .map_err(|err| format!("reading log-probs back from the device: {err:?}"))?;
    Ok(serde_json::json!({ "token_logprobs": values }).to_string())
}

/// Every id must index a row of the model's embedding.
fn check_ids(ids: &[u32], vocab: usize, dir: &Path) -> Result<(), String> {
    match ids.iter().find(|&&id| id as usize >= vocab) {
        Some(id) => Err(format!(
            "--ids: token id {id} is outside the vocabulary of {} ({vocab} rows)",
            dir.display()
        )),
        None => Ok(()),
    }
}
