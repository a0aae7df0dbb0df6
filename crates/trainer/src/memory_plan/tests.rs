//! The planner against bytes computed by hand for a tiny architecture.
//!
//! The architecture: vocabulary V = 10, h = 4, I = 6, L = 2 layers, H = 2 query heads of d = 2,
//! K = 1 key/value head, tied embeddings, Qwen2 biases on q, k, v.
//! - projection weights per layer: q 4·4 + k 4·2 + v 4·2 + o 4·4 + gate 4·6 + up 4·6
//!   + down 6·4 = 16 + 8 + 8 + 16 + 24 + 24 + 24 = 120;
//! - other: embedding 10·4 = 40, final norm 4, per layer 2 norms (8) + q/k/v biases (4 + 2 + 2)
//!   = 16, twice: 32; together 76;
//! - params = 2·120 + 76 = 316.
//!
//! The run: prompts of 3 and responses of 2 positions (seq n = 5), 2 prompts × 2 samples = 4
//! rows per step, PPO mini-batch 4 in micro-batches of 2 (so gradients accumulate), PRM
//! mini-batch 4, a frozen PRM reference, no KL term, sampling 1 prompt × 2 samples per call,
//! evaluation 1 prompt per call with no avg@k.

use prime_models::{BaseDtype, LoraConfig, LoraTarget};

use super::*;
use crate::config::TrainConfig;

fn tiny() -> Architecture {
    Architecture {
        vocab: 10,
        hidden: 4,
        intermediate: 6,
        layers: 2,
        heads: 2,
        kv_heads: 1,
        head_dim: 2,
        tied: true,
        qkv_bias: true,
        o_bias: false,
        mlp_bias: false,
        qk_norm: false,
        source: "tiny".into(),
    }
}

fn config() -> TrainConfig {
    let mut c = TrainConfig::default();
    c.data.max_prompt_len = 3;
    c.rollout.max_response_len = 2;
    c.rollout.batch_size = 2;
    c.rollout.n_samples = 2;
    c.rollout.micro_batch_size = 1;
    c.ppo.mini_batch_size = 4;
    c.ppo.micro_batch_size = 2;
    c.ppo.kl_coef = 0.0;
    c.prm.mini_batch_size = 4;
    c.eval.micro_batch_size = 1;
    c.eval.k = 0;
    c.eval.max_response_len = None;
    c.memory.logprob_chunk = 0;
    c.memory.checkpoint_activations = false;
    c
}

#[test]
fn parameter_counts() {
    let a = tiny();
    assert_eq!(a.projection_weights_per_layer(), 120);
    assert_eq!(a.other_params(), 76);
    assert_eq!(a.params(), 316);
    // rank 1 on all seven: r·(in + out) = 8 + 6 + 6 + 8 + 10 + 10 + 10 = 58 per layer, 2 layers.
    assert_eq!(a.adapter_params(&LoraConfig::with_rank(1)), 116);
}

#[test]
fn full_fine_tuning_by_hand() {
    let plan = plan_for(&config(), &tiny(), None);
    // Policy, PRM, PRM reference: 3 · 316 = 948 parameters, f32.
    assert_eq!(plan.params, 948);
    assert_eq!(plan.bytes.weights, 3792);
    // Policy and PRM train: 632 parameters, 2 moments · 4 bytes.
    assert_eq!(plan.trainable_params, 632);
    assert_eq!(plan.bytes.optimizer, 5056);
    // Kept per token per layer: 6h + 4·H·d + 2·H·n + 5I = 24 + 16 + 20 + 30 = 90; after the last
    // layer 3h = 12; per token 2·90 + 12 = 192 elements. PRM backward: 4 rows · 5 = 20 tokens
    // → 3840 elements = 15360 bytes (the policy's 2 rows: 7680).
    assert_eq!(plan.bytes.activations, 15360);
    // PRM logits: (rows·n + 1·rows·R) · V · 4 = (20 + 8) · 40 = 1120 (policy: (10 + 12) · 40 = 880).
    assert_eq!(plan.bytes.logits, 1120);
    // Policy gradients, accumulated: 2 · 316 · 4 = 2528 (the PRM's: 1264).
    assert_eq!(plan.bytes.grads, 2528);
    // Sampling 2 rows, P = 3, T = 5, K·d = 2, L = 2: full cache 2·2·2·5·2 = 80, the layer's
    // concatenation 2·2·5·2 = 40, keys/values repeated to 2 heads 2·4·5·2 = 80: 200 elements
    // (the prefill's 48 + max(logits 60, scores 72) = 120 is less) → 800 bytes.
    assert_eq!(plan.bytes.kv_cache, 800);
    // PRM phase 1264 + 15360 + 1120 = 17744 > policy phase 2528 + 7680 + 880 = 11088 > 800.
    assert_eq!(plan.details.prm_phase, 17744);
    assert_eq!(plan.details.policy_phase, 11088);
    assert_eq!(plan.bytes.total, 3792 + 5056 + 17744);
}

#[test]
fn lora_over_one_f32_base_by_hand() {
    let mut c = config();
    c.lora = LoraConfig::with_rank(1);
    let plan = plan_for(&c, &tiny(), None);
    // One base (316 · 4 = 1264 bytes) and two adapters of 116 (928 bytes).
    assert_eq!(plan.params, 316 + 232);
    assert_eq!(plan.bytes.weights, 1264 + 928);
    assert_eq!(plan.trainable_params, 232);
    assert_eq!(plan.bytes.optimizer, 8 * 232);
    // Per token per layer: 2h + 2h (norm outputs, adapted q/k/v and gate/up) + 3·H·d + H·d (o
    // adapted) + 2·H·n + 5I + 7r = 8 + 8 + 12 + 4 + 20 + 30 + 7 = 89; after the last layer h = 4;
    // 2·89 + 4 = 182 per token; PRM 20 tokens · 182 · 4 = 14560.
    assert_eq!(plan.bytes.activations, 14560);
    // Accumulated policy adapter gradients 2 · 116 · 4 = 928.
    assert_eq!(plan.bytes.grads, 928);
    // PRM phase 464 + 14560 + 1120.
    assert_eq!(plan.bytes.total, 2192 + 1856 + 464 + 14560 + 1120);
}

#[test]
fn bf16_base_checkpointing_and_chunks_by_hand() {
    let mut c = config();
    c.lora = LoraConfig::with_rank(1);
    c.model.base_dtype = BaseDtype::Bf16;
    c.memory.checkpoint_activations = true;
    c.memory.logprob_chunk = 3;
    let plan = plan_for(&c, &tiny(), None);
    // Base: 240 projection weights · 2 + 76 · 4 = 784; adapters 928.
    assert_eq!(plan.bytes.weights, 784 + 928);
    // Checkpointed: L·h + one layer (89) + h = 8 + 89 + 4 = 101 per token; PRM 20 tokens · 101 ·
    // 4 = 8080, plus one layer's f32 copies of its bf16 weights 120 · 4 = 480.
    assert_eq!(plan.bytes.activations, 8560);
    // Chunks of 3 positions: policy (1 + 3) · 3 · 10 · 4 = 480, PRM (1 + 1) · 3 · 10 · 4 = 240.
    assert_eq!(plan.bytes.logits, 480);
    // PRM phase 464 + 8560 + 240 = 9264; policy phase 928 + (10 · 101 · 4 + 480) + 480 = 5928.
    assert_eq!(plan.details.policy_phase, 5928);
    assert_eq!(plan.bytes.total, 1712 + 1856 + 9264);
}

#[test]
fn lora_on_some_targets_keeps_fewer_inputs() {
    let mut c = config();
    c.lora = LoraConfig {
        rank: 1,
        alpha: 1.0,
        targets: vec![LoraTarget::QProj, LoraTarget::VProj],
    };
    // Kept per token per layer: 2h + h (q/k/v input) + 3·H·d + 2·H·n + 4I + 2r
    // = 8 + 4 + 12 + 20 + 24 + 2 = 70 (no MLP input, context or gate·up kept).
    let kept = activations::kept_per_token_layer(&tiny(), 5, Tracking::Lora(&c.lora));
    assert_eq!(kept, 70);
}

#[test]
fn json_line_has_the_documented_shape() {
    let plan = plan_for(&config(), &tiny(), None);
    let value: serde_json::Value = serde_json::from_str(&plan.json_line()).unwrap();
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let mut top = keys(&value);
    top.sort();
    assert_eq!(top, ["bytes", "params", "trainable_params"]);
    let mut bytes = keys(&value["bytes"]);
    bytes.sort();
    assert_eq!(
        bytes,
        [
            "activations",
            "grads",
            "kv_cache",
            "logits",
            "optimizer",
            "total",
            "weights"
        ]
    );
    assert_eq!(value["bytes"]["total"], 26592);
    assert_eq!(value["params"], 948);
    assert!(!plan.json_line().contains('\n'));
}

#[test]
fn cuda_refusal_names_the_biggest_components() {
    let plan = plan_for(&config(), &tiny(), None);
    let total = plan.bytes.total;
    assert!(device::check_fits(&plan, total, false).is_ok());
    assert!(device::check_fits(&plan, total - 1, true).is_ok());
    let message = device::check_fits(&plan, total - 1, false)
        .unwrap_err()
        .to_string();
    // Activations 15360, optimizer 5056, weights 3792 are the three largest.
    let at = |name: &str| {
        message
            .find(name)
            .unwrap_or_else(|| panic!("{name}: {message}"))
    };
    assert!(at("activations") < at("optimizer") && at("optimizer") < at("weights"));
    assert!(
        message.contains("memory.allow_over_plan = true"),
        "{message}"
    );
    assert!(!message.contains("kv_cache"), "{message}");
    assert!(!message.contains('\n'));
}

#[test]
fn nvidia_smi_sizes_are_mib() {
    assert_eq!(device::parse_nvidia_smi_mib("81920\n"), Some(81920 << 20));
    assert_eq!(device::parse_nvidia_smi_mib("[N/A]\n"), None);
}

#[test]
fn a_missing_model_names_both_paths() {
    let mut c = config();
    c.model.path = Some("no/such/Model-X".into());
    let message = plan(&c).unwrap_err().to_string();
    assert!(
        message.contains("no/such/Model-X/config.json")
            && message.contains("configs/shapes/Model-X/config.json"),
        "{message}"
    );
    assert!(!message.contains('\n'));
}

#[test]
fn scratch_models_use_the_task_vocabulary() {
    let c = config();
    let a = policy_architecture(&c).unwrap();
    assert_eq!(a.hidden, c.model.scratch.hidden_size as u64);
    assert_eq!(
        a.head_dim,
        (c.model.scratch.hidden_size / c.model.scratch.num_attention_heads) as u64
    );
    let tokenizer = prime_data::arithmetic::arithmetic_tokenizer(&c.data.task).unwrap();
    assert_eq!(
        a.vocab as usize,
        prime_models::Tokenizer::from_tokenizers(tokenizer, "t").vocab_size()
    );
}
