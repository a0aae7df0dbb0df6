//! LoRA on a whole model: forward equalities, gradients only on adapters, PEFT files.

use std::collections::HashSet;

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, Tensor, TensorData};

use crate::adapters::{
    adapter_param_count, adapter_tensors, attach_lora, cast_base, merge_lora, BaseDtype,
};
use crate::lora::{LoraConfig, LoraTarget};
use crate::model_tests::max_abs_diff;
use crate::peft::{load_adapter, read_adapter_config, save_adapter, ADAPTER_CONFIG};
use crate::*;

type B = Flex;
type Ad = Autodiff<Flex>;

fn base<Bk: Backend>(seed: u64) -> Qwen2ForCausalLm<Bk> {
    let device = Default::default();
    Bk::seed(&device, seed);
    let mut config = Qwen2Config::tiny();
    config.initializer_range = 0.2;
    config.init::<Bk>(&device)
}

fn batch<Bk: Backend>() -> TokenBatch<Bk> {
    let device = Default::default();
    let ids = TensorData::new(vec![3i64, 7, 1, 9, 0, 2, 4, 4, 5, 6], [2, 5]);
    let mask = TensorData::new(vec![1i64, 1, 1, 1, 1, 0, 1, 1, 1, 1], [2, 5]);
    TokenBatch {
        input_ids: Tensor::<Bk, 2, Int>::from_data(ids, &device),
        attention_mask: Tensor::<Bk, 2, Int>::from_data(mask, &device),
    }
}

fn logits<Bk: Backend>(model: &Qwen2ForCausalLm<Bk>) -> Vec<f32> {
    model
        .forward(&batch())
        .into_data()
        .convert::<f32>()
        .to_vec()
        .unwrap()
}

/// Gives every adapter a non-zero `B`, as training would.
fn trained<Bk: Backend>(mut model: Qwen2ForCausalLm<Bk>) -> Qwen2ForCausalLm<Bk> {
    let device = Default::default();
    for (_, layer) in model.adapted_linears_mut() {
        if let Some(adapter) = layer.lora.as_mut() {
            let shape = adapter.lora_b.shape();
            adapter.lora_b = Param::from_tensor(Tensor::random(
                shape,
                Distribution::Normal(0.0, 0.3),
                &device,
            ));
        }
    }
    model
}

#[test]
fn a_fresh_adapter_leaves_the_model_exactly_its_base() {
    let model = base::<B>(1);
    let expected = logits(&model);
    let adapted = attach_lora(model, &LoraConfig::with_rank(4), &Default::default()).unwrap();
    assert_eq!(logits(&adapted), expected);
}

#[test]
fn adapted_forward_equals_the_merged_weight_forward() {
    let config = LoraConfig {
        targets: vec![LoraTarget::QProj, LoraTarget::VProj, LoraTarget::DownProj],
        ..LoraConfig::with_rank(3)
    };
    let adapted = trained(attach_lora(base::<B>(2), &config, &Default::default()).unwrap());
    let before = logits(&base::<B>(2));
    let with_adapters = logits(&adapted);
    assert!(
        max_abs_diff(&before, &with_adapters) > 1e-3,
        "the trained adapters must change the output for the test to mean anything"
    );
    // Saving writes what the model computes: the merged weights.
    let dir = tempfile::tempdir().unwrap();
    adapted.save_pretrained(dir.path(), SaveDtype::F32).unwrap();
    let saved = logits(&load_hf::<B>(dir.path(), &Default::default()).unwrap());
    let merged = merge_lora(adapted);
    assert!(merged
        .adapted_linears()
        .iter()
        .all(|(_, l)| l.lora.is_none()));
    // Relative to the largest logit: f32 sums in another order differ by a few ulps of it.
    let scale = with_adapters.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let relative = max_abs_diff(&with_adapters, &logits(&merged)) / scale;
    assert!(
        relative <= 1e-5,
        "adapted vs merged: relative error {relative}"
    );
    assert_eq!(saved, logits(&merged), "saved = merged");
}

#[test]
fn only_the_targets_get_adapters_and_the_count_is_r_times_in_plus_out() {
    let config = LoraConfig {
        targets: vec![LoraTarget::KProj, LoraTarget::UpProj],
        ..LoraConfig::with_rank(2)
    };
    let model = attach_lora(base::<B>(3), &config, &Default::default()).unwrap();
    let c = model.config().clone();
    let kv = c.num_key_value_heads * c.head_dim;
    let per_layer = 2 * (c.hidden_size + kv) + 2 * (c.hidden_size + c.intermediate_size);
    assert_eq!(adapter_param_count(&model), c.num_hidden_layers * per_layer);
    for (path, layer) in model.adapted_linears() {
        let adapted = path.ends_with("k_proj") || path.ends_with("up_proj");
        assert_eq!(layer.lora.is_some(), adapted, "{path}");
    }
}

/// Float parameter ids that require a gradient, and all float parameter ids.
fn trainable_ids<Bk: burn::tensor::backend::AutodiffBackend, M: Module<Bk>>(
    model: &M,
) -> (HashSet<ParamId>, usize) {
    struct Ids(HashSet<ParamId>, usize);
    impl<Bk: Backend> ModuleVisitor<Bk> for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Bk, D>>) {
            self.1 += 1;
            if param.val().is_require_grad() {
                self.0.insert(param.id);
            }
        }
    }
    let mut ids = Ids(HashSet::new(), 0);
    model.visit(&mut ids);
    (ids.0, ids.1)
}

#[test]
fn under_autodiff_only_adapters_require_and_receive_gradients() {
    let model = attach_lora(
        base::<Ad>(4),
        &LoraConfig::with_rank(2),
        &Default::default(),
    )
    .unwrap();
    let (trainable, all) = trainable_ids(&model);
    let layers = model.config().num_hidden_layers;
    assert_eq!(
        trainable.len(),
        layers * 7 * 2,
        "two factors per projection"
    );
    assert!(all > trainable.len());
    let grads = model.forward(&batch()).sum().backward();
    let grads = burn::optim::GradientsParams::from_grads(grads, &model);
    assert_eq!(
        grads.len(),
        trainable.len(),
        "gradients exist for adapters only"
    );
}

#[test]
fn peft_files_round_trip_with_peft_names_and_shapes() {
    let config = LoraConfig {
        alpha: 8.0,
        targets: vec![LoraTarget::QProj, LoraTarget::OProj, LoraTarget::GateProj],
        ..LoraConfig::with_rank(2)
    };
    let model = base::<B>(5);
    let adapted = trained(attach_lora(model.clone(), &config, &Default::default()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    save_adapter(&adapted, dir.path(), Some(std::path::Path::new("base/dir"))).unwrap();

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(ADAPTER_CONFIG)).unwrap())
            .unwrap();
    assert_eq!(json["peft_type"], "LORA");
    assert_eq!(json["r"], 2);
    assert_eq!(json["lora_alpha"], 8.0);
    assert_eq!(
        json["target_modules"],
        serde_json::json!(["q_proj", "o_proj", "gate_proj"])
    );
    assert_eq!(read_adapter_config(dir.path()).unwrap(), config);

    let names: Vec<(String, Vec<usize>)> = adapter_tensors(&adapted)
        .into_iter()
        .map(|(name, t)| (name, t.shape))
        .collect();
    let c = adapted.config().clone();
    assert_eq!(
        names[0],
        (
            "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight".into(),
            vec![2, c.hidden_size]
        )
    );
    assert_eq!(
        names[1],
        (
            "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight".into(),
            vec![c.num_attention_heads * c.head_dim, 2]
        )
    );

    let (reloaded, read) = load_adapter(model, dir.path(), &Default::default()).unwrap();
    assert_eq!(read, config);
    assert_eq!(logits(&reloaded), logits(&adapted));
}

#[test]
fn an_adapter_for_another_shape_is_a_typed_error_naming_the_tensor() {
    let config = LoraConfig::with_rank(2);
    let adapted = attach_lora(base::<B>(6), &config, &Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    save_adapter(&adapted, dir.path(), None).unwrap();
    let mut other = Qwen2Config::tiny();
    other.hidden_size *= 2;
    other.head_dim *= 2;
    let other = other.init::<B>(&Default::default());
    let error = load_adapter(other, dir.path(), &Default::default()).unwrap_err();
    assert!(
        matches!(&error, ModelError::ShapeMismatch { name, .. } if name.ends_with("q_proj.lora_A.weight")),
        "{error}"
    );
}

#[test]
fn unsupported_peft_features_are_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let write = |body: &str| std::fs::write(dir.path().join(ADAPTER_CONFIG), body).unwrap();
    write(
        r#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "use_dora": true}"#,
    );
    let error = read_adapter_config(dir.path()).unwrap_err().to_string();
    assert!(error.contains("use_dora"), "{error}");
    write(
        r#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "alora_invocation_tokens": [3, 4]}"#,
    );
    let error = read_adapter_config(dir.path()).unwrap_err().to_string();
    assert!(error.contains("alora_invocation_tokens"), "{error}");
    write(
        r#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "layers_to_transform": null, "exclude_modules": null}"#,
    );
    assert!(
        read_adapter_config(dir.path()).is_ok(),
        "null options are PEFT's defaults"
    );
    write(r#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": "q_proj|v_proj"}"#);
    let error = read_adapter_config(dir.path()).unwrap_err().to_string();
    assert!(error.contains("target_modules"), "{error}");
    write(r#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["lm_head"]}"#);
    let error = read_adapter_config(dir.path()).unwrap_err().to_string();
    assert!(error.contains("lm_head"), "{error}");
    write(r#"{"peft_type": "PREFIX_TUNING", "r": 4, "lora_alpha": 8, "target_modules": []}"#);
    let error = read_adapter_config(dir.path()).unwrap_err().to_string();
    assert!(error.contains("PREFIX_TUNING"), "{error}");
}

#[test]
fn a_bf16_base_stores_the_projections_in_bf16_and_stays_close_to_f32() {
    // The default initialisation (std 0.02), whose activations are like a trained model's scale.
    let device = Default::default();
    let model = Qwen2Config::tiny().init::<B>(&device);
    let model = attach_lora(model, &LoraConfig::with_rank(2), &device).unwrap();
    let f32_logits = logits(&model);
    let model = cast_base(model, BaseDtype::Bf16);
    for (path, layer) in model.adapted_linears() {
        assert_eq!(
            layer.weight.val().dtype(),
            burn::tensor::DType::BF16,
            "{path}"
        );
    }
    let scale = f32_logits.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let relative = max_abs_diff(&f32_logits, &logits(&model)) / scale;
    // bf16 keeps 8 mantissa bits (2⁻⁹ ≈ 0.2% per weight).
    assert!(
        relative > 0.0 && relative < 1e-2,
        "bf16 base: relative logit error {relative}"
    );
}
