//! The log-probs the trainer recomputes for PPO (prompt left-padded, response right-padded, one
//! forward) must equal the sampler's own log-probs (KV cache, token by token) at temperature 1:
//! otherwise RL would optimise a different distribution than the one that generated the data.

use burn::backend::Flex;
use prime_models::{generate, Qwen2Config, SamplingConfig};
use prime_trainer::policy::log_probs_of;
use prime_trainer::tensors::left_padded;

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
    let batch = left_padded::<B>(&rows, 0, &device);
    let sampling = SamplingConfig {
        max_new_tokens: 12,
        temperature: 1.0,
        top_k: None,
        top_p: 1.0,
        greedy: false,
        stop_token_ids: vec![1],
        pad_token_id: 0,
    };
    let generation = generate(&model, &batch, &sampling, 9);
    let responses: Vec<&[u32]> = generation.tokens.iter().map(|t| t.as_slice()).collect();
    let recomputed = log_probs_of(&model, &rows, &responses, 2, 0, &device).unwrap();
    for (row, (a, b)) in recomputed.iter().zip(&generation.logprobs).enumerate() {
        assert_eq!(a.len(), b.len(), "row {row}");
        for (t, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() < 1e-4,
                "row {row} token {t}: recomputed {x} vs sampler {y}"
            );
        }
    }
}
