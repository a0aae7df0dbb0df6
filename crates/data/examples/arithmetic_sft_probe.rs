//! Measures how hard the arithmetic task is for a tiny model: supervised training on worked
//! solutions for a fixed wall-clock budget, then greedy accuracy on the eval split, and where
//! the wrong answers first go wrong (which line of the worked solution).
//!
//! ```text
//! cargo run -p prime-data --example arithmetic_sft_probe -- [PRESET] [SECONDS] [EVAL] [HIDDEN]
//! ```
//!
//! Defaults: `medium`, 90 s, 200 eval problems, width 128 (2 layers, ≈0.4M parameters).
//! The trainer's SFT warm-up is the real thing; this probe only calibrates the presets.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use prime_data::arithmetic::{
    save_arithmetic_tokenizer, ArithmeticConfig, ArithmeticTask, SftExample, Split,
};
use prime_data::prompts::PromptBatch;
use prime_models::backend::CpuAutodiffBackend;
use prime_models::optim::adamw;
use prime_models::{
    generate, token_log_probs, CausalLm, Qwen2Config, SamplingConfig, TokenBatch, Tokenizer,
};
use prime_verifiers::{ExactAnswerVerifier, Status, Verifier};

type Train = CpuAutodiffBackend;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args.first().map_or("medium", String::as_str);
    let seconds: f64 = args.get(1).map_or(Ok(90.0), |s| s.parse())?;
    let n_eval: usize = args.get(2).map_or(Ok(200), |s| s.parse())?;
    let hidden: usize = args.get(3).map_or(Ok(128), |s| s.parse())?;
    let batch_size = 32;

    let config = ArithmeticConfig::preset(preset)?;
    let dir = std::env::temp_dir().join(format!("prime-arith-probe-{preset}"));
    save_arithmetic_tokenizer(&dir, &config)?;
    let tokenizer = Tokenizer::from_dir(&dir)?;
    let eos = tokenizer.eos_token_id().ok_or("no eos")?;
    let pad = tokenizer.pad_token_id().ok_or("no pad")?;
    let task = ArithmeticTask::new(config)?;

    let model_config = Qwen2Config {
        vocab_size: tokenizer.vocab_size().next_multiple_of(64),
        hidden_size: hidden,
        intermediate_size: hidden * 3,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: hidden / 4,
        max_position_embeddings: 128,
        ..Qwen2Config::tiny()
    };
    let device = Default::default();
    Train::seed(&device, 0);
    let mut model = model_config.init::<Train>(&device);
    let mut optimizer = adamw(0.0).init();

    let started = Instant::now();
    let mut step = 0usize;
    let mut last_loss = f64::NAN;
    while started.elapsed().as_secs_f64() < seconds {
        let examples = task.sft_examples(0, (step * batch_size) as u64, batch_size)?;
        let (batch, loss_mask) = training_batch::<Train>(&examples, &tokenizer, eos, pad, &device)?;
        let logits = model.forward(&batch);
        let log_probs = token_log_probs(logits, &batch);
        let tokens = loss_mask.clone().sum();
        let loss = (log_probs * loss_mask).sum().neg() / tokens;
        last_loss = loss.clone().into_data().convert::<f64>().to_vec::<f64>()?[0];
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = 3e-3 * (1.0 - 0.9 * started.elapsed().as_secs_f64() / seconds).max(0.1);
        model = optimizer.step(lr, model, grads);
        step += 1;
        if step % 50 == 0 {
            eprintln!(
                "step {step} loss {last_loss:.4} ({:.0}s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let train_seconds = started.elapsed().as_secs_f64();

    let model = model.valid();
    let problems = task.problems(Split::Eval, 0, 0, n_eval)?;
    let verifier = ExactAnswerVerifier;
    let mut correct = 0;
    let mut first_wrong_line = vec![0usize; 8];
    let sampling = SamplingConfig {
        max_new_tokens: 48,
        temperature: 1.0,
        top_k: None,
        top_p: 1.0,
        greedy: true,
        stop_token_ids: vec![eos],
        pad_token_id: pad,
        vocab_limit: Some(tokenizer.vocab_size()),
    };
    for chunk in problems.chunks(50) {
        let prompts: Vec<Vec<u32>> = chunk
            .iter()
            .map(|p| tokenizer.encode_chat(&p.messages, true))
            .collect::<Result<_, _>>()?;
        let batch = PromptBatch::left_padded(
            (0..chunk.len()).collect(),
            prompts.iter().map(Vec::as_slice),
            pad,
        );
        let generation = generate(&model, &batch.to_token_batch(&device), &sampling, 0);
        for (problem, tokens) in chunk.iter().zip(&generation.tokens) {
            let text = tokenizer.decode(tokens, true)?;
            let verdict = verifier.verify(&text, &problem.reference);
            if verdict.status == Status::Correct {
                correct += 1;
            } else {
                let line = first_wrong(&text);
                first_wrong_line[line.min(7)] += 1;
            }
        }
    }
    let accuracy = correct as f64 / n_eval as f64;
    println!(
        "{{\"preset\":\"{preset}\",\"hidden\":{hidden},\"params\":{},\"train_seconds\":{train_seconds:.1},\"steps\":{step},\"batch\":{batch_size},\"final_loss\":{last_loss:.4},\"eval\":{n_eval},\"accuracy\":{accuracy:.3},\"first_wrong_line\":{first_wrong_line:?}}}",
        param_count(&model_config),
    );
    Ok(())
}

/// Prompt + solution + eos per row, right-padded; the loss mask `[batch, seq-1]` is 1 where
/// the predicted token (position t+1) belongs to the solution.
fn training_batch<B: Backend>(
    examples: &[SftExample],
    tokenizer: &Tokenizer,
    eos: u32,
    pad: u32,
    device: &B::Device,
) -> Result<(TokenBatch<B>, Tensor<B, 2>), Box<dyn std::error::Error>> {
    let mut rows = Vec::new();
    for example in examples {
        let prompt = tokenizer.encode_chat(&example.problem.messages, true)?;
        let mut completion = tokenizer.encode(&example.completion, false)?;
        completion.push(eos);
        rows.push((prompt, completion));
    }
    let seq = rows
        .iter()
        .map(|(p, c)| p.len() + c.len())
        .max()
        .unwrap_or(0);
    let (mut ids, mut mask, mut loss) = (Vec::new(), Vec::new(), Vec::new());
    for (prompt, completion) in &rows {
        let len = prompt.len() + completion.len();
        for t in 0..seq {
            let token = if t < prompt.len() {
                prompt[t]
            } else if t < len {
                completion[t - prompt.len()]
            } else {
                pad
            };
            ids.push(token as i64);
            mask.push((t < len) as i64);
            if t + 1 < seq {
                let next = t + 1;
                loss.push((next >= prompt.len() && next < len) as u8 as f32);
            }
        }
    }
    let shape = [rows.len(), seq];
    let batch = TokenBatch {
        input_ids: Tensor::from_data(TensorData::new(ids, shape), device),
        attention_mask: Tensor::from_data(TensorData::new(mask, shape), device),
    };
    let loss_mask = Tensor::from_data(TensorData::new(loss, [rows.len(), seq - 1]), device);
    Ok((batch, loss_mask))
}

/// 0-based index of the first solution line that is wrong: a line `a{op}b=c` whose arithmetic
/// is wrong or whose `a` is not the previous result; the boxed line counts as the last.
fn first_wrong(text: &str) -> usize {
    let mut previous: Option<i64> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(boxed) = line.strip_prefix("\\boxed{") {
            return if Some(boxed.trim_end_matches('}'))
                == previous.map(|p| p.to_string()).as_deref()
            {
                i + 1 // boxed the right previous value: the error is past the chain
            } else {
                i
            };
        }
        let Some((lhs, rhs)) = line.split_once('=') else {
            return i;
        };
        let Some(at) = lhs.get(1..).and_then(|s| s.find(['+', '-', '*', '/'])) else {
            return i;
        };
        let (a, op, b) = (&lhs[..at + 1], &lhs[at + 1..at + 2], &lhs[at + 2..]);
        let (Ok(a), Ok(b), Ok(c)) = (a.parse::<i64>(), b.parse::<i64>(), rhs.parse::<i64>()) else {
            return i;
        };
        let expected = match op {
            "+" => a.checked_add(b),
            "-" => a.checked_sub(b),
            "*" => a.checked_mul(b),
            _ => (b != 0 && a % b == 0).then(|| a / b),
        };
        if expected != Some(c) || previous.is_some_and(|p| p != a) {
            return i;
        }
        previous = Some(c);
    }
    text.lines().count()
}

fn param_count(c: &Qwen2Config) -> usize {
    let h = c.hidden_size;
    let kv = c.num_key_value_heads * c.head_dim;
    let q = c.num_attention_heads * c.head_dim;
    let attention = h * q + q + 2 * (h * kv + kv) + q * h;
    let mlp = 3 * h * c.intermediate_size;
    c.vocab_size * h + c.num_hidden_layers * (attention + mlp + 2 * h) + h
}
