//! A checkpoint whose embedding has more rows than its tokenizer has ids (every Qwen2.5
//! checkpoint: 151,936 rows for 151,665 ids) trains and evaluates to the end without ever drawing
//! an id the tokenizer does not have.
//!
//! The fixture is adversarial: a Hugging Face Qwen2 directory written here, whose padding rows
//! hold nearly all the probability at every position, so that without the vocabulary mask the
//! first sampled token would already be one (the test checks that too). Every id the tokenizer
//! does not have fails to decode, and decoding failures are counted (`verify_undecodable` per
//! step, `undecodable` per evaluation), so zero counts mean no padding id was ever drawn. The
//! step's entropy and KL show that PPO scored over the tokenizer's ids as well.

use std::path::Path;
use std::sync::Arc;

use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use prime_data::arithmetic::save_arithmetic_tokenizer;
use prime_models::backend::CpuBackend;
use prime_models::{
    generate, load_hf, save_hf, CausalLm, ChatMessage, Qwen2Config, Qwen2ForCausalLm,
    SamplingConfig, SaveDtype, TokenBatch, Tokenizer,
};
use prime_trainer::eval::{evaluate, EvalSettings};
use prime_trainer::metrics::{EvalRecord, StepMetrics};
use prime_trainer::rollout::{RolloutTally, Sampler};
use prime_trainer::setup::prompt_datasets;
use prime_trainer::{files, train, RunOptions, TrainConfig};
use prime_verifiers::{Router, RunnerConfig, Status, VerifyRunner};

const HIDDEN: usize = 32;
/// Padding row `ids + 2k` is `+SCALE · e_k`, row `ids + 2k + 1` is `−SCALE · e_k`: the final
/// RMSNorm makes some `|h_k| ≥ 1`, so the largest padding logit is at least `SCALE`, while the
/// tokenizer's rows (initialised `N(0, 0.02²)`) give logits of about ±0.1.
const SCALE: f32 = 30.0;

/// Writes the tokenizer of `config`'s built-in task and a random Qwen2 with `2 · HIDDEN` padding
/// rows into `dir`; returns the tokenizer.
fn padded_checkpoint(config: &TrainConfig, dir: &Path) -> Tokenizer {
    save_arithmetic_tokenizer(dir, &config.data.task).unwrap();
    let tokenizer = Tokenizer::from_dir(dir).unwrap();
    let ids = tokenizer.vocab_size();
    let vocab = ids + 2 * HIDDEN;
    let model_config = Qwen2Config {
        vocab_size: vocab,
        hidden_size: HIDDEN,
        intermediate_size: 64,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        head_dim: HIDDEN / 2,
        tie_word_embeddings: true,
        ..Qwen2Config::tiny()
    };
    let device = Default::default();
    CpuBackend::seed(&device, 24);
    let mut model = model_config.init::<CpuBackend>(&device);
    let embedding = &mut model.model.embed_tokens.weight;
    let mut rows: Vec<f32> = embedding.val().into_data().to_vec().unwrap();
    for k in 0..HIDDEN {
        for (row, sign) in [(ids + 2 * k, 1.0), (ids + 2 * k + 1, -1.0)] {
            let row = &mut rows[row * HIDDEN..(row + 1) * HIDDEN];
            row.fill(0.0);
            row[k] = sign * SCALE;
        }
    }
    *embedding = Param::from_tensor(Tensor::from_data(
        TensorData::new(rows, [vocab, HIDDEN]),
        &device,
    ));
    save_hf(&model, dir, SaveDtype::F32).unwrap();
    assert_draws_only_padding_unmasked(&model, &tokenizer);
    tokenizer
}

/// Without a vocabulary limit, `model` samples padding ids only (ids the tokenizer does not have).
fn assert_draws_only_padding_unmasked(model: &Qwen2ForCausalLm<CpuBackend>, tokenizer: &Tokenizer) {
    let ids = tokenizer.vocab_size();
    assert!(model.vocab_size() > ids);
    let device = Default::default();
    let prompt = tokenizer
        .encode_chat(&[ChatMessage::user("1 + 2 = ?")], true)
        .unwrap();
    let n = prompt.len();
    let prompt: Vec<i64> = prompt.into_iter().map(i64::from).collect();
    let batch = TokenBatch {
        input_ids: Tensor::<CpuBackend, 2, Int>::from_data(
            TensorData::new(prompt, [1, n]),
            &device,
        ),
        attention_mask: Tensor::ones([1, n], &device),
    };
    // The padding rows' share of the next token's probability, after the prompt.
    let logits: Vec<f32> = model.forward(&batch).into_data().to_vec().unwrap();
    let last = &logits[(n - 1) * model.vocab_size()..];
    let max = last.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let weights: Vec<f64> = last.iter().map(|&x| f64::from(x - max).exp()).collect();
    let padding_mass = weights[ids..].iter().sum::<f64>() / weights.iter().sum::<f64>();
    assert!(padding_mass > 0.999, "padding rows hold {padding_mass}");
    let unmasked = SamplingConfig {
        max_new_tokens: 8,
        ..SamplingConfig::default()
    };
    let drawn = generate(model, &batch, &unmasked, 1);
    assert!(
        drawn.tokens[0].iter().all(|&id| id as usize >= ids),
        "unmasked draws {:?} should all be padding ids (≥ {ids})",
        drawn.tokens[0]
    );
}

#[test]
fn a_checkpoint_with_padding_rows_trains_and_evaluates_without_drawing_them() {
    let smoke = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/smoke.toml");
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("model");
    let base = TrainConfig::load(&smoke, &[]).unwrap();
    let tokenizer = padded_checkpoint(&base, &model_dir);
    let overrides = [
        format!("model.path={:?}", model_dir.display().to_string()),
        "sft.enabled=false".to_string(),
    ];
    let config = TrainConfig::load(&smoke, &overrides).unwrap();
    let run = dir.path().join("run");

    let summary = train(config, &run, RunOptions::default()).unwrap();

    assert_eq!(summary.steps, 4);
    assert!(summary.accuracy_after.is_finite());
    let metrics: Vec<StepMetrics> = read_jsonl(&run.join(files::METRICS));
    assert_eq!(metrics.len(), 4);
    for m in &metrics {
        assert_eq!(
            (m.verify_undecodable, m.verify_error),
            (0, 0),
            "step {}",
            m.step
        );
        assert!(!m.skipped, "step {} skipped", m.step);
        assert!(m.policy_loss.is_finite() && m.prm_loss.is_finite());
        // The PPO update scores over the tokenizer's ids too: the policy's entropy there is
        // near ln(ids) (its logits of real ids are all about 0), where the full softmax, with its
        // mass on one padding row, would give about 0; and old and new log-probs agree (over
        // different vocabularies they would differ by the padding mass, ~30 nats per token).
        assert!(m.entropy > 1.0, "step {}: entropy {}", m.step, m.entropy);
        assert!(
            m.approx_kl.abs() < 0.1,
            "step {}: KL {}",
            m.step,
            m.approx_kl
        );
    }
    // Evaluations before RL, at step 2 and at step 4 (smoke: eval.every = 2).
    let evals: Vec<EvalRecord> = read_jsonl(&run.join(files::EVAL));
    assert_eq!(evals.iter().map(|e| e.step).collect::<Vec<_>>(), [0, 2, 4]);
    assert!(evals.iter().all(|e| e.undecodable == 0), "{evals:?}");
    // The trained policy still puts its mass on the padding rows (nothing trains them): the mask,
    // not training, kept them out until the end.
    let trained = load_hf::<CpuBackend>(&run.join(files::FINAL), &Default::default()).unwrap();
    assert_draws_only_padding_unmasked(&trained, &tokenizer);
}

fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Decoding is total: when an id the tokenizer does not have reaches verification (here: the same
/// fixture sampled without the limit, as another rollout engine might), the response scores 0
/// with status `error` and a reason, it is counted, and sampling and evaluation go on.
#[test]
fn a_response_the_tokenizer_cannot_decode_scores_zero_and_is_counted() {
    let smoke = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/smoke.toml");
    let config = TrainConfig::load(&smoke, &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = padded_checkpoint(&config, dir.path());
    let device = Default::default();
    let model = load_hf::<CpuBackend>(dir.path(), &device).unwrap();
    let (_, prompts) = prompt_datasets(&config, &tokenizer).unwrap();
    let runner = VerifyRunner::new(Arc::new(Router::default()), RunnerConfig::default());
    let indices: Vec<usize> = (0..prompts.len()).collect();
    let sample = |vocab_limit| {
        let sampler = Sampler {
            tokenizer: &tokenizer,
            sampling: SamplingConfig {
                max_new_tokens: 4,
                stop_token_ids: tokenizer.stop_token_ids().to_vec(),
                vocab_limit,
                ..SamplingConfig::default()
            },
            samples_per_prompt: 2,
            prompts_per_call: 4,
            runner: &runner,
        };
        let mut tally = RolloutTally::default();
        let groups = sampler
            .sample(&model, &prompts, &indices, 5, &device, &mut tally)
            .unwrap();
        (groups, tally)
    };

    let (groups, tally) = sample(None);
    let n = 2 * prompts.len();
    assert_eq!(
        (tally.responses, tally.undecodable, tally.counts.error),
        (n, n, n)
    );
    for response in groups.iter().flat_map(|g| &g.responses) {
        assert_eq!((response.score, response.status), (0.0, Status::Error));
        assert!(
            response.reason.contains("outside the vocabulary"),
            "{}",
            response.reason
        );
    }
    // With the tokenizer's size as the limit, the same model's responses all decode.
    let (_, tally) = sample(Some(tokenizer.vocab_size()));
    assert_eq!((tally.undecodable, tally.counts.error), (0, 0));

    // Evaluation is total too, and says how many responses it could not decode.
    let settings = |vocab_limit| EvalSettings {
        k: 1,
        temperature: 1.0,
        max_response_len: 4,
        prompts_per_call: 4,
        stop_token_ids: tokenizer.stop_token_ids().to_vec(),
        pad_token_id: 0,
        vocab_limit,
        seed: 3,
    };
    let unmasked = evaluate(
        &model,
        &prompts,
        &tokenizer,
        &runner,
        &settings(None),
        0,
        &device,
    );
    let unmasked = unmasked.unwrap();
    assert_eq!((unmasked.undecodable, unmasked.accuracy), (n, 0.0));
    let masked = evaluate(
        &model,
        &prompts,
        &tokenizer,
        &runner,
        &settings(Some(tokenizer.vocab_size())),
        0,
        &device,
    );
    assert_eq!(masked.unwrap().undecodable, 0);
}
