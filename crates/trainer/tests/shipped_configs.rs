//! Every file in `configs/` loads, validates and says what its comment says: a typo in a shipped
//! config would otherwise surface only when a user runs it.

use std::path::{Path, PathBuf};

use prime_trainer::{model_family, Extensions, TrainConfig};

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

/// Loads a shipped config and checks its estimator against the built-in registry (what
/// `prime-train` runs with).
fn load(name: &str) -> TrainConfig {
    let path = configs_dir().join(name);
    let config =
        TrainConfig::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Extensions::builtin()
        .check(&config)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    config
}

#[test]
fn every_shipped_config_loads_and_validates() {
    let mut names: Vec<String> = std::fs::read_dir(configs_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 9, "configs/ holds {names:?}");
    for name in &names {
        let config = load(name);
        if config.model.path.is_none() {
            // A scratch model's family comes from the config alone.
            model_family(&config).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn the_estimator_configs_change_only_the_estimator() {
    let demo = load("demo.toml");
    for (file, estimator) in [
        ("grpo.toml", "grpo"),
        ("reinforce.toml", "reinforce"),
        ("reinforce-pp.toml", "reinforce_pp"),
        ("prm-value.toml", "prm_value"),
    ] {
        let mut config = load(file);
        assert_eq!(config.advantage.estimator, estimator, "{file}");
        config.advantage.estimator = demo.advantage.estimator.clone();
        assert_eq!(
            config, demo,
            "{file} differs from demo.toml in more than the estimator"
        );
    }
}

#[test]
fn the_outcome_only_baseline_is_the_demo_without_the_prm() {
    let baseline = load("rloo-outcome-only.toml");
    assert!(!baseline.prm.enabled);
    assert_eq!(baseline.advantage.estimator, "rloo");
    assert_eq!(baseline.advantage.process_coef, 0.0);
    let demo = load("demo.toml");
    assert_eq!(baseline.rollout, demo.rollout);
    assert_eq!(baseline.optim, demo.optim);
    assert_eq!(baseline.steps, demo.steps);
    assert_eq!(baseline.seed, demo.seed);
}

#[test]
fn the_cuda_check_config_has_qwen2_5_0_5b_layer_shapes() {
    let config = load("cuda-0.5b-step.toml");
    let m = &config.model.scratch;
    assert_eq!(
        (
            m.hidden_size,
            m.intermediate_size,
            m.num_hidden_layers,
            m.num_attention_heads,
            m.num_key_value_heads
        ),
        (896, 4864, 24, 14, 2)
    );
    assert!(!config.sft.enabled);
}
