//! The implicit PRM on a held-out Hugging Face checkpoint written by `transformers`
//! (`crates/models/tests/data/tied_f32`): PRM = reference gives all-zero rewards; one update on a
//! labelled pair gives non-zero rewards whose signs follow the labels; the saved PRM reloads to
//! the same rewards.
//!
//! With `PRIME_PRM_KEEP_DIR=<dir>` the updated PRM is also left in `<dir>` for the
//! `implicit_rewards` example.

use std::path::PathBuf;

use burn::backend::{Autodiff, Flex};
use prime_implicit_prm::{ImplicitPrm, OutcomeLabels, PrmBatch, PrmConfig, PrmReference};
use prime_models::load_hf;

type B = Autodiff<Flex>;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/tests/data/tied_f32")
}

#[test]
fn one_update_on_a_labelled_pair_moves_rewards_with_the_labels() {
    let device = Default::default();
    let reference = PrmReference::frozen_from_hf(&fixture(), &device).unwrap();
    let model = load_hf::<B>(&fixture(), &device).unwrap();
    let config = PrmConfig {
        lr: 1e-4,
        ..PrmConfig::default()
    };
    let mut prm = ImplicitPrm::new(model, reference.clone(), config.clone()).unwrap();
    let prompt = vec![11, 12, 13];
    let batch = PrmBatch::<B>::from_ids(
        &[prompt.clone(), prompt.clone()],
        &[vec![40, 41, 42, 43], vec![50, 51, 52]],
        0,
        &device,
    )
    .unwrap();
    let labels = OutcomeLabels {
        acc: vec![1.0, 0.0],
        group_ids: vec![0, 0],
    };

    let initial = prm.token_rewards(&batch).unwrap();
    assert!(initial.q.iter().flatten().all(|&q| q == 0.0));
    assert_eq!(initial.lengths(), vec![4, 3]);

    let stats = prm.update(&batch, &labels).unwrap();
    assert!((stats.loss.unwrap() - std::f32::consts::LN_2).abs() < 1e-5);
    let rewards = prm.token_rewards(&batch).unwrap();
    let sequence = rewards.sequence_rewards();
    assert!(sequence[0] > 0.0, "correct response: R = {}", sequence[0]);
    assert!(sequence[1] < 0.0, "wrong response: R = {}", sequence[1]);

    let dir = match std::env::var_os("PRIME_PRM_KEEP_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("prime-prm-hf-{}", std::process::id())),
    };
    prm.save(&dir).unwrap();
    let reloaded = ImplicitPrm::load(&dir, None, reference, config, &device).unwrap();
    assert_eq!(reloaded.token_rewards(&batch).unwrap(), rewards);
    if std::env::var_os("PRIME_PRM_KEEP_DIR").is_none() {
        std::fs::remove_dir_all(&dir).ok();
    }
}
