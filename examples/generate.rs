//! Continues a prompt with a Hugging Face Qwen2 checkpoint, using the KV cache.
//!
//! ```text
//! cargo run --release --example generate -- <model_dir> --ids 3,17,42 --max-new-tokens 8 --greedy
//! {"ids":[192,359,359,359,114,256,256,256],"logprobs":[-0.9,...],"finish_reason":"length"}
//! cargo run --release --example generate -- <model_dir> --prompt "What is 7 * 8?" \
//!     --temperature 0.7 --top-p 0.9 --top-k 50 --seed 1
//! {"ids":[...],"logprobs":[...],"finish_reason":"stop","text":"..."}
//! ```
//!
//! `--ids` feeds token ids as they are and stops only at `--stop-ids`. `--prompt` renders the text
//! as one user message with the model directory's tokenizer and chat template (ChatML when it has
//! none), stops at the tokenizer's end-of-sequence ids, never samples an id the tokenizer does not
//! have (the embedding may have more rows: `SamplingConfig::vocab_limit`), and also prints the
//! decoded `"text"`. `--vocab-limit N` sets that limit by hand (with `--ids` nothing is masked
//! unless it is given, as in `transformers`' `generate`). `logprobs` are the sampler's:
//! `log softmax(logits / temperature)` over the allowed ids of each new token (temperature 1 when
//! greedy). Errors are one line on stderr and a non-zero exit status.

use std::path::PathBuf;
use std::process::ExitCode;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use clap::Parser;
use prime_models::{
    generate, load_hf, CausalLm, ChatMessage, FinishReason, SamplingConfig, TokenBatch, Tokenizer,
};

/// Sample a continuation from a Hugging Face Qwen2 checkpoint.
#[derive(Parser)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["ids", "prompt"])))]
struct Args {
    /// Directory with config.json and model.safetensors (and tokenizer.json for --prompt).
    model_dir: PathBuf,
    /// Comma-separated prompt token ids, e.g. 3,17,42.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    ids: Option<Vec<u32>>,
    /// Prompt text, sent as one user message through the chat template.
    #[arg(long)]
    prompt: Option<String>,
    /// Maximum number of new tokens.
    #[arg(long, default_value_t = 32)]
    max_new_tokens: usize,
    /// Always take the most likely token (ignores temperature, top-p, top-k and seed).
    #[arg(long)]
    greedy: bool,
    /// Softmax temperature (> 0).
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Nucleus sampling mass in (0, 1].
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Keep only the k most likely tokens.
    #[arg(long)]
    top_k: Option<usize>,
    /// Random seed of the sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Comma-separated ids that end the generation (default: none with --ids, the tokenizer's
    /// end-of-sequence ids with --prompt).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    stop_ids: Option<Vec<u32>>,
    /// Sample only ids below this (default: the tokenizer's size with --prompt, no limit with
    /// --ids).
    #[arg(long)]
    vocab_limit: Option<usize>,
    /// `cpu`, or `cuda` when built with `--features cuda`.
    #[arg(long, default_value = "cpu")]
    backend: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.backend.as_str() {
        "cpu" => run::<prime_models::backend::CpuBackend>(&args, &Default::default()),
        #[cfg(feature = "cuda")]
        "cuda" => run::<prime_models::backend::CudaBackend>(&args, &Default::default()),
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

fn check_sampling(args: &Args) -> Result<(), String> {
    if args.vocab_limit == Some(0) {
        return Err("--vocab-limit must be at least 1".into());
    }
    if args.greedy {
        return Ok(());
    }
    if !(args.temperature > 0.0 && args.temperature.is_finite()) {
        return Err(format!(
            "--temperature must be positive, got {} (use --greedy for argmax decoding)",
            args.temperature
        ));
    }
    if !(args.top_p > 0.0 && args.top_p <= 1.0) {
        return Err(format!("--top-p must be in (0, 1], got {}", args.top_p));
    }
    if args.top_k == Some(0) {
        return Err("--top-k must be at least 1".into());
    }
    Ok(())
}

fn run<B: Backend>(args: &Args, device: &B::Device) -> Result<String, String> {
    check_sampling(args)?;
    let model = load_hf::<B>(&args.model_dir, device).map_err(|err| err.to_string())?;
    let vocab = model.vocab_size();

    // The prompt ids, the tokenizer (for --prompt) and the default stop ids.
    let (prompt_ids, tokenizer, default_stops) = match (&args.ids, &args.prompt) {
        (Some(ids), _) => (ids.clone(), None, Vec::new()),
        (None, Some(text)) => {
            let tokenizer = Tokenizer::from_dir(&args.model_dir).map_err(|err| err.to_string())?;
            tokenizer
                .check_model_vocab(vocab)
                .map_err(|err| err.to_string())?;
            let ids = tokenizer
                .encode_chat(&[ChatMessage::user(text.as_str())], true)
                .map_err(|err| err.to_string())?;
            let stops = tokenizer.stop_token_ids().to_vec();
            (ids, Some(tokenizer), stops)
        }
        (None, None) => return Err("give --ids or --prompt".into()),
    };
    if prompt_ids.is_empty() {
        return Err("the prompt has no tokens".into());
    }
    if let Some(id) = prompt_ids.iter().find(|&&id| id as usize >= vocab) {
        return Err(format!(
            "token id {id} is outside the vocabulary of {} ({vocab} rows)",
            args.model_dir.display()
        ));
    }

    let pad_token_id = tokenizer
        .as_ref()
        .and_then(|t| t.pad_token_id().or(t.eos_token_id()))
        .unwrap_or(0);
    let config = SamplingConfig {
        max_new_tokens: args.max_new_tokens,
        temperature: if args.greedy { 1.0 } else { args.temperature },
        top_k: args.top_k,
        top_p: if args.greedy { 1.0 } else { args.top_p },
        greedy: args.greedy,
        stop_token_ids: args.stop_ids.clone().unwrap_or(default_stops),
        pad_token_id,
        vocab_limit: args
            .vocab_limit
            .or(tokenizer.as_ref().map(Tokenizer::vocab_size)),
    };

    let n = prompt_ids.len();
    let ids: Vec<i64> = prompt_ids.iter().map(|&id| i64::from(id)).collect();
    let prompts = TokenBatch {
        input_ids: Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, n]), device),
        attention_mask: Tensor::<B, 2, Int>::ones([1, n], device),
    };
    let generation = generate(&model, &prompts, &config, args.seed);
    let new_ids = generation.tokens.into_iter().next().unwrap_or_default();
    let logprobs = generation.logprobs.into_iter().next().unwrap_or_default();
    let finish_reason = match generation.finish_reasons.first() {
        Some(FinishReason::Stop) => "stop",
        _ => "length",
    };

    let mut out = serde_json::json!({
        "ids": new_ids,
        "logprobs": logprobs,
        "finish_reason": finish_reason,
    });
    if let Some(tokenizer) = &tokenizer {
        // Rows of a padded vocabulary (ids past the tokenizer's, drawn only under a larger
        // --vocab-limit) have no text.
        let known: Vec<u32> = new_ids
            .iter()
            .copied()
            .filter(|&id| (id as usize) < tokenizer.vocab_size())
            .collect();
        let text = tokenizer
            .decode(&known, true)
            .map_err(|err| err.to_string())?;
        out["text"] = serde_json::Value::String(text);
    }
    Ok(out.to_string())
}
