//! The implicit PRM on a tiny Qwen2: exact zeros at initialisation, learning the token that
//! decides the outcome, and a save / load round trip in the Hugging Face layout.

use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::tensor::{backend::Backend, Tensor};
use prime_implicit_prm::{
    dpo_accuracy, ImplicitPrm, ImplicitRewards, OutcomeLabels, PrmBatch, PrmConfig, PrmReference,
    UpdateMode,
};
use prime_models::{Qwen2Config, Qwen2ForCausalLm};

type B = Autodiff<Flex>;

fn device() -> burn::tensor::Device<B> {
    Default::default()
}

/// A 2-layer, width-32 Qwen2 over a 32-token vocabulary.
fn tiny_config() -> Qwen2Config {
    Qwen2Config {
        vocab_size: 32,
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 8,
        ..Qwen2Config::tiny()
    }
}

fn tiny_qwen2(seed: u64) -> Qwen2ForCausalLm<B> {
    B::seed(&device(), seed);
    tiny_config().init::<B>(&device())
}

/// xorshift64*: deterministic toy data.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

const MARKER: u32 = 7;

/// `groups` prompts × 4 responses of 6 tokens from `2..32 \ {7}`; about half of the responses
/// carry the marker at a random position. Label: "contains the marker".
fn marker_batch(rng: &mut Rng, groups: usize) -> (PrmBatch<B>, OutcomeLabels, Vec<Option<usize>>) {
    let plain = |rng: &mut Rng| loop {
        let token = 2 + rng.below(30) as u32;
        if token != MARKER {
            return token;
        }
    };
    let (mut prompts, mut responses, mut acc, mut group_ids, mut marker_at) =
        (vec![], vec![], vec![], vec![], vec![]);
    for group in 0..groups {
        let prompt = vec![plain(rng), plain(rng), plain(rng)];
        for _ in 0..4 {
            let mut response: Vec<u32> = (0..6).map(|_| plain(rng)).collect();
            let position = (rng.below(2) == 0).then(|| rng.below(6) as usize);
            if let Some(p) = position {
                response[p] = MARKER;
            }
            prompts.push(prompt.clone());
            responses.push(response);
            acc.push(if position.is_some() { 1.0 } else { 0.0 });
            group_ids.push(group);
            marker_at.push(position);
        }
    }
    let batch = PrmBatch::from_ids(&prompts, &responses, 0, &device()).unwrap();
    (batch, OutcomeLabels { acc, group_ids }, marker_at)
}

fn all_zero(rewards: &ImplicitRewards) -> bool {
    rewards
        .q
        .iter()
        .chain(&rewards.token_rewards)
        .flatten()
        .all(|&v| v == 0.0)
}

#[test]
fn qwen2_prm_equal_to_reference_gives_exactly_zero_rewards() {
    let mut rng = Rng(3);
    let (batch, labels, _) = marker_batch(&mut rng, 2);
    let config = PrmConfig {
        mini_batch_size: 4,
        ..PrmConfig::default()
    };
    let mut prm = ImplicitPrm::with_frozen_reference(tiny_qwen2(1), config).unwrap();
    assert!(all_zero(&prm.token_rewards(&batch).unwrap()));
    // The single-forward rewards of the first mini-batch come from the autodiff forward (no
    // update yet) minus the inference forward of the reference. burn's autodiff backend computes
    // attention with other kernels than the fused inference one, so the two agree to f32
    // rounding rather than bit for bit.
    let out = prm.step(&batch, &labels).unwrap();
    let largest = out.rewards.q[..4]
        .iter()
        .flatten()
        .fold(0.0f32, |m, q| m.max(q.abs()));
    assert!(
        largest < 1e-5,
        "largest |q| of the first mini-batch: {largest}"
    );
    assert_eq!(out.rewards.lengths(), vec![6; 8]);
}

#[test]
fn online_qwen2_prm_learns_which_token_decides_the_outcome() {
    let config = PrmConfig {
        beta: 0.5,
        lr: 1e-2,
        mini_batch_size: 16,
        update: UpdateMode::After,
        ..PrmConfig::default()
    };
    let mut prm = ImplicitPrm::with_frozen_reference(tiny_qwen2(11), config).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut history = Vec::new();
    for _ in 0..30 {
        let (batch, labels, _) = marker_batch(&mut rng, 8);
        history.push(prm.step(&batch, &labels).unwrap().stats.dpo_acc_before);
    }
    let (batch, labels, marker_at) = marker_batch(&mut rng, 16);
    let rewards = prm.token_rewards(&batch).unwrap();
    let dpo_acc = dpo_accuracy(&rewards.sequence_rewards(), &labels.acc, &labels.group_ids);
    assert!(
        dpo_acc >= 0.9,
        "held-out dpo_acc {dpo_acc}; online {history:?}"
    );
    let (mut hits, mut rows) = (0, 0);
    for (row, position) in marker_at.iter().enumerate() {
        if let Some(p) = *position {
            rows += 1;
            let r = &rewards.token_rewards[row];
            let best = (0..r.len()).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap();
            if best == p && r[best] > 0.0 {
                hits += 1;
            }
        }
    }
    assert!(
        hits as f32 >= 0.9 * rows as f32,
        "largest positive reward on the marker in {hits} of {rows} rows"
    );
}

fn parameter_values<M: Module<B>>(model: &M) -> Vec<Vec<f32>> {
    struct Collect(Vec<Vec<f32>>);
    impl<BB: Backend> ModuleVisitor<BB> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<BB, D>>) {
            self.0
                .push(param.val().into_data().to_vec::<f32>().unwrap());
        }
    }
    let mut c = Collect(Vec::new());
    model.visit(&mut c);
    c.0
}

#[test]
fn save_and_load_resume_the_prm_exactly() {
    let mut rng = Rng(5);
    let (batch, labels, _) = marker_batch(&mut rng, 2);
    let config = PrmConfig {
        lr: 1e-3,
        mini_batch_size: 4,
        ..PrmConfig::default()
    };
    let reference = PrmReference::Frozen(tiny_qwen2(2).valid());
    let mut original = ImplicitPrm::new(tiny_qwen2(2), reference.clone(), config.clone()).unwrap();
    original.update(&batch, &labels).unwrap();
    let dir = std::env::temp_dir().join(format!("prime-prm-qwen2-{}", std::process::id()));
    original.save(&dir).unwrap();
    assert!(dir.join("config.json").exists() && dir.join("model.safetensors").exists());

    let mut resumed = ImplicitPrm::load(&dir, None, reference, config, &device()).unwrap();
    assert_eq!(
        resumed.token_rewards(&batch).unwrap(),
        original.token_rewards(&batch).unwrap()
    );
    original.update(&batch, &labels).unwrap();
    resumed.update(&batch, &labels).unwrap();
    assert_eq!(
        parameter_values(resumed.model()),
        parameter_values(original.model())
    );
    std::fs::remove_dir_all(&dir).ok();
}
