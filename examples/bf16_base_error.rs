//! How far a bf16 base (`model.base_dtype = "bf16"`) moves a model's token log-probs from f32:
//! scores the same sequences with the projection weights in f32 and rounded to bf16 (upcast per
//! product, as the trainer runs them) and prints the absolute log-prob differences.
//!
//! ```text
//! cargo run --release --example bf16_base_error -- <model_dir> [--rows 16] [--len 64] [--seed 1]
//! {"tokens":1008,"mean_abs":0.0012,"max_abs":0.0153,"mean_abs_relative_to_mean_nll":0.0004}
//! ```
//!
//! The sequences are seeded uniform token ids (a numeric check, not a quality check).

use std::path::PathBuf;
use std::process::ExitCode;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use clap::Parser;
use prime_models::adapters::{cast_base, BaseDtype};
use prime_models::backend::CpuBackend;
use prime_models::{load_hf, token_log_probs, CausalLm, Qwen2ForCausalLm, TokenBatch};

/// Log-prob error of a bf16 base against f32 on one Hugging Face checkpoint.
#[derive(Parser)]
struct Args {
    /// Directory with config.json and model.safetensors.
    model_dir: PathBuf,
    /// Sequences scored.
    #[arg(long, default_value_t = 16)]
    rows: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 64)]
    len: usize,
    /// Seed of the token ids.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
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

fn run(args: &Args) -> Result<String, String> {
    if args.rows == 0 || args.len < 2 {
        return Err("--rows must be ≥ 1 and --len ≥ 2".into());
    }
    let device = Default::default();
    let model: Qwen2ForCausalLm<CpuBackend> =
        load_hf(&args.model_dir, &device).map_err(|e| e.to_string())?;
    let vocab = model.vocab_size() as u64;
    // SplitMix-style ids, reproducible without a dependency.
    let mut state = args.seed;
    let ids: Vec<i64> = (0..args.rows * args.len)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) % vocab) as i64
        })
        .collect();
    let batch = TokenBatch {
        input_ids: Tensor::<CpuBackend, 2, Int>::from_data(
            TensorData::new(ids, [args.rows, args.len]),
            &device,
        ),
        attention_mask: Tensor::<CpuBackend, 2, Int>::ones([args.rows, args.len], &device),
    };
    let f32_lp = scores(&model, &batch);
    let bf16_lp = scores(&cast_base(model, BaseDtype::Bf16), &batch);
    let diffs: Vec<f64> = f32_lp
        .iter()
        .zip(&bf16_lp)
        .map(|(a, b)| (a - b).abs())
        .collect();
    let n = diffs.len() as f64;
    let mean_abs = diffs.iter().sum::<f64>() / n;
    let max_abs = diffs.iter().fold(0.0f64, |m, d| m.max(*d));
    let mean_nll = -f32_lp.iter().sum::<f64>() / n;
    Ok(format!(
        "{{\"tokens\":{},\"mean_abs\":{mean_abs:.6},\"max_abs\":{max_abs:.6},\"mean_abs_relative_to_mean_nll\":{:.6}}}",
        diffs.len(),
        mean_abs / mean_nll
    ))
}

fn scores<B: Backend>(model: &Qwen2ForCausalLm<B>, batch: &TokenBatch<B>) -> Vec<f64> {
    token_log_probs(model.forward(batch), batch)
        .into_data()
        .convert::<f64>()
        .to_vec()
        .unwrap_or_default()
}
