use super::*;

#[test]
fn empty_file_gives_the_spec_defaults() {
    let c = TrainConfig::from_toml_str("", &[]).unwrap();
    assert_eq!(c.rollout.batch_size, 256);
    assert_eq!(c.rollout.n_samples, 4);
    assert_eq!(c.rollout.temperature, 1.0);
    assert_eq!(c.rollout.top_p, 1.0);
    assert_eq!(c.rollout.top_k, None);
    assert_eq!(c.rollout.max_response_len, 3072);
    assert_eq!(
        (c.filter.accuracy_lower, c.filter.accuracy_upper),
        (0.2, 0.8)
    );
    assert!(c.filter.accuracy && !c.filter.truncation);
    assert_eq!(c.prm.beta, 0.05);
    assert_eq!(c.prm.update, prime_implicit_prm::UpdateMode::After);
    assert_eq!(c.prm.loss, prime_implicit_prm::PrmLoss::Ce);
    assert_eq!(
        (c.prm.lr, c.prm.weight_decay, c.prm.grad_clip),
        (1e-6, 0.0, 10.0)
    );
    assert_eq!(c.prm.mini_batch_size, 256);
    assert_eq!(c.reference.mode, ReferenceMode::Freeze);
    assert_eq!(c.advantage.estimator, "rloo");
    assert_eq!(
        c.advantage.granularity,
        prime_advantages::Granularity::Token
    );
    assert_eq!(c.advantage.norm, prime_advantages::RewardNorm::BatchNorm);
    assert_eq!(c.ppo.clip_eps, 0.2);
    assert_eq!((c.ppo.entropy_coef, c.ppo.kl_coef), (0.0, 0.0));
    assert_eq!(
        c.ppo.aggregation,
        crate::policy_loss::Aggregation::SeqMeanTokenMean
    );
    assert_eq!(c.ppo.kl_estimator, crate::policy_loss::KlEstimator::K3);
    assert_eq!((c.ppo.epochs, c.ppo.mini_batch_size), (1, 256));
    assert_eq!(
        (c.optim.lr, c.optim.weight_decay, c.optim.grad_clip),
        (5e-7, 0.01, 1.0)
    );
    assert_eq!(c.schedule.kind, ScheduleKind::Constant);
    assert_eq!(c.model.save_dtype, prime_models::SaveDtype::F32);
    assert_eq!(c.data.builtin, BuiltinTask::Arithmetic);
    assert_eq!(c.backend.kind, BackendKind::Cpu);
    assert_eq!(c.eval.temperature, 0.3);
}

#[test]
fn unknown_key_is_rejected_with_its_section() {
    let err = TrainConfig::from_toml_str("[ppo]\nclip_epsilon = 0.1\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("ppo"), "{err}");
    assert!(err.contains("clip_epsilon"), "{err}");
}

#[test]
fn unknown_section_is_rejected() {
    let err = TrainConfig::from_toml_str("[critic]\nlr = 1\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("critic"), "{err}");
}

#[test]
fn wrong_type_names_the_key() {
    let err = TrainConfig::from_toml_str("[rollout]\nn_samples = \"four\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("rollout.n_samples"), "{err}");
}

/// An unknown value of the choice `key` (`section.field`), set in the file and by `--set`, fails
/// at load with one line that names the key and every valid value.
fn assert_unknown_choice_is_rejected(key: &str, valid: &[&str]) {
    let (section, field) = key.rsplit_once('.').unwrap();
    let from_file = TrainConfig::from_toml_str(&format!("[{section}]\n{field} = \"nope\"\n"), &[]);
    let from_set = TrainConfig::from_toml_str("", &[format!("{key}=nope")]);
    for err in [from_file, from_set] {
        let err = err.unwrap_err();
        assert!(matches!(err, ConfigError::Field { .. }), "{err:?}");
        let err = err.to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains(&format!("`{key}`")), "{err}");
        assert!(err.contains("unknown variant `nope`"), "{err}");
        for value in valid {
            assert!(err.contains(&format!("`{value}`")), "{err}");
        }
    }
    // Every valid value loads, and survives the round trip through `config.toml`.
    for value in valid {
        let c = TrainConfig::from_toml_str("", &[format!("{key}={value}")]).unwrap();
        let back = TrainConfig::from_toml_str(&c.to_toml_string().unwrap(), &[]).unwrap();
        assert_eq!(back, c, "{key} = {value}");
    }
}

#[test]
fn unknown_model_choice_is_rejected() {
    assert_unknown_choice_is_rejected("model.save_dtype", &["f32", "bf16"]);
    assert_unknown_choice_is_rejected("model.scratch.family", &["qwen2"]);
}

#[test]
fn unknown_prm_choices_are_rejected() {
    assert_unknown_choice_is_rejected("prm.loss", &["ce", "dpo"]);
    assert_unknown_choice_is_rejected("prm.update", &["after", "before", "none"]);
}

#[test]
fn unknown_reference_choice_is_rejected() {
    assert_unknown_choice_is_rejected("reference.mode", &["freeze", "policy"]);
}

#[test]
fn unknown_data_choices_are_rejected() {
    assert_unknown_choice_is_rejected("data.builtin", &["arithmetic"]);
    assert_unknown_choice_is_rejected("data.on_bad_row", &["error", "skip"]);
}

#[test]
fn unknown_advantage_choices_are_rejected() {
    assert_unknown_choice_is_rejected("advantage.rloo_variant", &["code", "paper"]);
    assert_unknown_choice_is_rejected("advantage.norm", &["batch_norm", "none"]);
    assert_unknown_choice_is_rejected("advantage.granularity", &["token", "whole"]);
    assert_unknown_choice_is_rejected("advantage.scale", &["group", "batch", "none"]);
}

#[test]
fn unknown_ppo_choices_are_rejected() {
    assert_unknown_choice_is_rejected("ppo.kl_estimator", &["k1", "k3"]);
    assert_unknown_choice_is_rejected("ppo.aggregation", &["seq-mean-token-mean", "token-mean"]);
}

#[test]
fn unknown_schedule_choice_is_rejected() {
    assert_unknown_choice_is_rejected("schedule.kind", &["constant", "warmup_cosine"]);
}

#[test]
fn unknown_backend_choice_is_rejected() {
    assert_unknown_choice_is_rejected("backend.kind", &["cpu", "cuda"]);
}

#[test]
fn the_choice_error_is_one_line_naming_key_and_values() {
    let err = TrainConfig::from_toml_str("[prm]\nloss = \"cee\"\n", &[])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "config key `prm.loss`: unknown variant `cee`, expected `ce` or `dpo`"
    );
    assert_eq!(choice_name(&ScheduleKind::WarmupCosine), "warmup_cosine");
}

#[test]
fn inconsistent_filter_bounds_are_rejected() {
    let err = TrainConfig::from_toml_str(
        "[filter]\naccuracy_lower = 0.9\naccuracy_upper = 0.1\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("filter.accuracy_lower"), "{err}");
}

#[test]
fn unknown_advantage_key_is_rejected() {
    // The estimator name itself is checked against the registered extensions
    // (`Extensions::check`).
    let err = TrainConfig::from_toml_str("[advantage]\ngama = 1\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("advantage") && err.contains("gama"), "{err}");
}

#[test]
fn syntax_error_is_reported() {
    let err = TrainConfig::from_toml_str("[ppo\n", &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err}");
}

#[test]
fn overrides_win_over_the_file_and_are_checked() {
    let c = TrainConfig::from_toml_str(
        "[ppo]\nclip_eps = 0.1\n",
        &["ppo.clip_eps=0.3".into(), "advantage.estimator=grpo".into()],
    )
    .unwrap();
    assert_eq!(c.ppo.clip_eps, 0.3);
    assert_eq!(c.advantage.estimator, "grpo");
    let err = TrainConfig::from_toml_str("", &["ppo.nope=1".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "seed = \"x\"\n").unwrap();
    let err = TrainConfig::load(&path, &[]).unwrap_err().to_string();
    assert!(err.contains("bad.toml") && err.contains("seed"), "{err}");
    let missing = TrainConfig::load(&dir.path().join("none.toml"), &[]).unwrap_err();
    assert!(matches!(missing, ConfigError::Read { .. }));
}

#[test]
fn round_trips_through_toml() {
    let mut c = TrainConfig::default();
    c.rollout.top_k = Some(7);
    c.data.train_files = vec!["a.parquet".into()];
    let text = c.to_toml_string().unwrap();
    let back = TrainConfig::from_toml_str(&text, &[]).unwrap();
    assert_eq!(back, c);
}

#[test]
fn base_files_are_merged_key_by_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("demo.toml"),
        "steps = 10\n[rollout]\nbatch_size = 8\nn_samples = 4\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("grpo.toml"),
        "base = \"demo.toml\"\n[rollout]\nn_samples = 8\n[advantage]\nestimator = \"grpo\"\n",
    )
    .unwrap();
    let c = TrainConfig::load(&dir.path().join("grpo.toml"), &["steps=3".into()]).unwrap();
    assert_eq!(
        (c.steps, c.rollout.batch_size, c.rollout.n_samples),
        (3, 8, 8)
    );
    assert_eq!(c.advantage.estimator, "grpo");
    std::fs::write(dir.path().join("loop.toml"), "base = \"loop.toml\"\n").unwrap();
    let err = TrainConfig::load(&dir.path().join("loop.toml"), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("nested bases"), "{err}");
}

#[test]
fn a_scratch_prm_is_checked_against_the_rest_of_the_config() {
    let scratch = "[prm.scratch]\nhidden_size = 256\nnum_hidden_layers = 4\n";
    let sft = "[sft]\nenabled = true\nsteps = 10\nbatch_size = 4\n";
    let c = TrainConfig::from_toml_str(&format!("{sft}{scratch}"), &[]).unwrap();
    let back = TrainConfig::from_toml_str(&c.to_toml_string().unwrap(), &[]).unwrap();
    assert_eq!(back, c);
    let arch = c.prm.scratch.unwrap();
    assert_eq!((arch.hidden_size, arch.num_hidden_layers), (256, 4));
    // Other fields keep the scratch defaults.
    assert_eq!(
        arch.num_attention_heads,
        prime_models::ScratchArchitecture::default().num_attention_heads
    );

    let err = |text: &str| {
        TrainConfig::from_toml_str(text, &[])
            .unwrap_err()
            .to_string()
    };
    let both = err(&format!("{sft}[prm]\npath = \"/models/prm\"\n{scratch}"));
    assert!(
        both.contains("prm.scratch") && both.contains("not both"),
        "{both}"
    );
    let no_sft = err(scratch);
    assert!(
        no_sft.contains("prm.scratch") && no_sft.contains("sft.enabled"),
        "{no_sft}"
    );
    let heads = err(&format!(
        "{sft}[prm.scratch]\nhidden_size = 100\nnum_attention_heads = 3\n"
    ));
    assert!(heads.contains("prm.scratch.hidden_size"), "{heads}");
    // Without a PRM the section is inert (the outcome-only baseline of a scratch-PRM config).
    TrainConfig::from_toml_str(&format!("[prm]\nenabled = false\n{scratch}"), &[]).unwrap();
}

#[test]
fn chat_template_variables_round_trip() {
    let c = TrainConfig::from_toml_str(
        "[model]\nchat_template_variables = { enable_thinking = false }\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        c.model.chat_template_variables.get("enable_thinking"),
        Some(&serde_json::Value::Bool(false))
    );
    let back = TrainConfig::from_toml_str(&c.to_toml_string().unwrap(), &[]).unwrap();
    assert_eq!(back, c);
}
