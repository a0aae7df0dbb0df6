//! Per-token implicit process rewards of one response under a PRM and its reference.
//!
//! ```text
//! cargo run --release --example implicit_rewards -- <prm_dir> --ref <ref_dir> \
//!     --prompt-ids 1,2,3 --response-ids 4,5,6 [--beta 0.05] [--text]
//! ```
//!
//! Both directories are Hugging Face Qwen2 checkpoints (`config.json` + safetensors). Prints
//! `{"q": [...], "token_rewards": [...]}` with one value per response token:
//! `q_t = log π_prm(y_t | x, y_<t) − log π_ref(y_t | x, y_<t)` and the reward `β·q_t`, and the
//! sequence reward `β·Σ q`. With `--text`, also prints each decoded response token next to its
//! reward, using the tokenizer in `<prm_dir>` (or `<ref_dir>`).

use std::error::Error;
use std::path::{Path, PathBuf};

use clap::Parser;
use prime::implicit_prm::{ImplicitPrm, PrmBatch, PrmConfig, PrmReference, UpdateMode};
use prime::models::{backend::CpuAutodiffBackend, load_hf, Tokenizer};

#[derive(Parser)]
#[command(about = "Per-token implicit process rewards of a response (PRIME)")]
struct Args {
    /// The PRM checkpoint directory.
    prm_dir: PathBuf,
    /// The reference checkpoint directory.
    #[arg(long = "ref")]
    ref_dir: PathBuf,
    /// Prompt token ids, comma separated.
    #[arg(long, value_delimiter = ',', required = true)]
    prompt_ids: Vec<u32>,
    /// Response token ids, comma separated.
    #[arg(long, value_delimiter = ',', required = true)]
    response_ids: Vec<u32>,
    /// β of r = β·q.
    #[arg(long, default_value_t = 0.05)]
    beta: f32,
    /// Also print the decoded tokens next to their rewards.
    #[arg(long)]
    text: bool,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let device = Default::default();
    let model = load_hf::<CpuAutodiffBackend>(&args.prm_dir, &device)?;
    let reference = PrmReference::frozen_from_hf(&args.ref_dir, &device)?;
    let config = PrmConfig {
        beta: args.beta,
        update: UpdateMode::None,
        ..PrmConfig::default()
    };
    let prm = ImplicitPrm::new(model, reference, config)?;
    let batch = PrmBatch::<CpuAutodiffBackend>::from_ids(
        std::slice::from_ref(&args.prompt_ids),
        std::slice::from_ref(&args.response_ids),
        0,
        &device,
    )?;
    let rewards = prm.token_rewards(&batch)?;
    let json = serde_json::json!({
        "q": rewards.q[0],
        "token_rewards": rewards.token_rewards[0],
        "sequence_reward": rewards.sequence_rewards()[0],
    });
    println!("{json}");

    if args.text {
        let tokenizer = tokenizer_from(&[&args.prm_dir, &args.ref_dir])?;
        for (t, &id) in args.response_ids.iter().enumerate() {
            let token = tokenizer.decode(&[id], false)?;
            println!(
                "{t:>4}  {id:>7}  {token:<20?}  q = {:>+10.5}  r = {:>+10.6}",
                rewards.q[0][t], rewards.token_rewards[0][t]
            );
        }
    }
    Ok(())
}

/// The tokenizer of the first directory that has one.
fn tokenizer_from(dirs: &[&Path]) -> Result<Tokenizer, Box<dyn Error>> {
    let mut last_error = None;
    for dir in dirs {
        match Tokenizer::from_dir(dir) {
            Ok(tokenizer) => return Ok(tokenizer),
            Err(error) => last_error = Some(error),
        }
    }
    Err(match last_error {
        Some(error) => format!("--text needs a tokenizer: {error}").into(),
        None => "--text needs a tokenizer".into(),
    })
}
