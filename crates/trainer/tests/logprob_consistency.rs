//! The log-probs the trainer recomputes for PPO (prompt left-padded, response right-padded, one
//! forward) must equal the sampler's own log-probs (KV cache, token by token) at temperature 1:
//! otherwise RL would optimise a different distribution than the one that generated the data.
//! That holds with a vocabulary limit too (a model with more embedding rows than its tokenizer
//! has ids): both are then over the ids below the limit.

use burn::backend::Flex;
use prime_data::prompts::PromptBatch;
use prime_models::{generate, Qwen2Config, SamplingConfig};
use prime_trainer::ppo_update::log_probs_of;

#[test]
fn recomputed_log_probs_match_the_sampler() {
    type B = Flex;
    let device = Default::default();
    <B as burn::tensor::backend::Backend>::seed(&device, 3);
    let config = Qwen2Config {
        vocab_size: 40,
        ..Qwen2Config::tiny()
    };
    let model = config.init::<B>(&device);
    let prompts: Vec<Vec<u32>> = vec![vec![5, 6, 7, 8, 9], vec![11, 12], vec![13, 14, 15]];
    let rows: Vec<&[u32]> = prompts.iter().map(|p| p.as_slice()).collect();
    let batch = PromptBatch::left_padded(vec![0, 1, 2], rows.iter().copied(), 0)
        .to_token_batch::<B>(&device);
    for vocab_limit in [None, Some(30)] {
        let sampling = SamplingConfig {
            max_new_tokens: 12,
            temperature: 1.0,
            top_k: None,
            top_p: 1.0,
            greedy: false,
            stop_token_ids: vec![1],
            pad_token_id: 0,
            vocab_limit,
        };
        let generation = generate(&model, &batch, &sampling, 9);
        let responses: Vec<&[u32]> = generation.tokens.iter().map(|t| t.as_slice()).collect();
        let recomputed =
            log_probs_of(&model, &rows, &responses, 2, 0, vocab_limit, 3, &device).unwrap();
        for (row, (a, b)) in recomputed.iter().zip(&generation.logprobs).enumerate() {
            assert_eq!(a.len(), b.len(), "row {row}");
            for (t, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(
                    (x - y).abs() < 1e-4,
                    "limit {vocab_limit:?} row {row} token {t}: recomputed {x} vs sampler {y}"
                );
            }
        }
    }
}

/// REINFORCE sanity check of the whole update path (scoring → PPO loss → backward → accumulate
/// → clip → AdamW): with advantage +1 on every response token, one update must raise the
/// log-probability of every response; with −1 it must lower it. A sign error in the loss, a
/// shifted column, or a gradient that never reaches the weights fails this.
#[test]
fn positive_advantages_raise_the_responses_log_prob() {
    use burn::backend::Autodiff;
    use burn::module::AutodiffModule;
    use prime_trainer::policy_loss::{Aggregation, KlEstimator, PolicyLossConfig};
    use prime_trainer::ppo_update::{ppo_update, PpoSettings, TrainRow};
    type AD = Autodiff<Flex>;
    let device = Default::default();
    <AD as burn::tensor::backend::Backend>::seed(&device, 5);
    let config = Qwen2Config {
        vocab_size: 40,
        ..Qwen2Config::tiny()
    };
    let prompts: Vec<Vec<u32>> = vec![vec![5, 6, 7, 8, 9], vec![11, 12], vec![13, 14, 15]];
    let responses: Vec<Vec<u32>> = vec![vec![20, 21, 1], vec![22, 23, 24, 25, 1], vec![26]];
    let p: Vec<&[u32]> = prompts.iter().map(|x| x.as_slice()).collect();
    let r: Vec<&[u32]> = responses.iter().map(|x| x.as_slice()).collect();
    for sign in [1.0f32, -1.0] {
        let model = config.init::<AD>(&device);
        let before = log_probs_of(&model.valid(), &p, &r, 2, 0, None, 0, &device).unwrap();
        let rows: Vec<TrainRow> = (0..3)
            .map(|i| TrainRow {
                global: i,
                prompt: prompts[i].clone(),
                response: responses[i].clone(),
                old_log_probs: before[i].clone(),
                ref_log_probs: None,
                advantages: vec![sign; responses[i].len()],
            })
            .collect();
        let settings = PpoSettings {
            loss: PolicyLossConfig {
                clip_eps: 0.2,
                entropy_coef: 0.0,
                kl_coef: 0.0,
                kl_estimator: KlEstimator::K3,
                aggregation: Aggregation::SeqMeanTokenMean,
            },
            epochs: 1,
            mini_batch_size: 3,
            micro_batch_size: 2,
            lr: 1e-3,
            grad_clip: 1.0,
            pad_id: 0,
            vocab_limit: None,
            logprob_chunk: 2,
            recompute_layers: false,
            seed: 1,
        };
        let mut optimizer =
            prime_models::optim::adamw(0.0).init::<AD, prime_models::Qwen2ForCausalLm<AD>>();
        let (model, stats) = ppo_update(model, &mut optimizer, &rows, &settings, &device).unwrap();
        assert_eq!(stats.optimizer_steps, 1);
        let after = log_probs_of(&model.valid(), &p, &r, 2, 0, None, 0, &device).unwrap();
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            let (b, a): (f32, f32) = (b.iter().sum(), a.iter().sum());
            assert!(
                sign * (a - b) > 1e-3,
                "advantage {sign}: row {i} log-prob {b} → {a}"
            );
        }
    }
}
