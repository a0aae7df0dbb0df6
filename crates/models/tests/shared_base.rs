//! LoRA's one frozen base is held once: the policy, the PRM (each the base plus an adapter) and
//! two frozen references built from it add no copy of its weights. Measured by the process's
//! resident memory (Linux), against a control that does copy the weights.
//!
//! One test in its own binary, so no other test allocates while it measures.

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::tensor::backend::Backend;
use prime_models::adapters::attach_lora;
use prime_models::{LoraConfig, Qwen2Config, Qwen2ForCausalLm};

type B = Autodiff<Flex>;

/// Resident set size in bytes, from `/proc/self/statm` (`None` off Linux).
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn config() -> Qwen2Config {
    let mut config = Qwen2Config::tiny();
    config.hidden_size = 512;
    config.intermediate_size = 1536;
    config.num_hidden_layers = 4;
    config.num_attention_heads = 8;
    config.num_key_value_heads = 2;
    config.head_dim = 64;
    config.vocab_size = 1024;
    config
}

#[test]
fn policy_prm_and_references_share_the_base_weights() {
    if rss_bytes().is_none() {
        eprintln!("no /proc/self/statm: skipped");
        return;
    }
    let device = Default::default();
    B::seed(&device, 1);
    let config = config();
    let base_bytes = config.num_parameters() as u64 * 4;
    let before = rss_bytes().unwrap();
    let base: Qwen2ForCausalLm<B> = config.init(&device);
    let with_base = rss_bytes().unwrap();
    assert!(
        with_base - before > base_bytes / 2,
        "the measurement must see the base itself ({} of {base_bytes} bytes)",
        with_base - before
    );

    let lora = LoraConfig::with_rank(4);
    let policy = attach_lora(base.clone(), &lora, &device).unwrap();
    let prm = attach_lora(base.clone(), &lora, &device).unwrap();
    let prm_reference = base.valid();
    let kl_reference = base.valid();
    let shared = rss_bytes().unwrap() - with_base;
    let adapters = prime_models::adapters::adapter_param_count(&policy) as u64 * 4 * 2;
    assert!(
        shared < adapters + base_bytes / 10,
        "four models over one base added {shared} bytes (adapters {adapters}, base {base_bytes})"
    );

    // Control: a model built anew holds its own weights, and the measurement sees them.
    let copy: Qwen2ForCausalLm<B> = config.init(&device);
    let copied = rss_bytes().unwrap() - with_base - shared;
    assert!(
        copied > base_bytes / 2,
        "a second model added only {copied} bytes"
    );
    eprintln!(
        "base {base_bytes} B; policy + PRM + 2 references over it: +{shared} B; a copy: +{copied} B"
    );
    drop((policy, prm, prm_reference, kl_reference, copy));
}
