//! Parity with Hugging Face `peft` on a LoRA adapter it wrote (issue 19).
//!
//! `tests/data/qwen2_peft_lora/` (`tools/make_peft_fixture.py`) holds a tiny random Qwen2
//! (`base/`), a LoRA adapter written by `PeftModel.save_pretrained` (`adapter/`: r = 4,
//! lora_alpha = 8 on q/v/o/up/down_proj, random A and B) and `reference.json`: what `peft`
//! computes in float32 on a left-padded batch with the adapter applied and after
//! `merge_and_unload()`, and the tensor names and shapes of its adapter file.
//!
//! Checked here: we read peft's adapter under peft's names and shapes, compute peft's logits and
//! log-probs with it (adapted and merged), and write an adapter with the same tensor names,
//! shapes and LoRA settings as peft's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Int, Tensor, TensorData};
use prime_models::adapters::{adapter_tensors, merge_lora};
use prime_models::backend::CpuBackend;
use prime_models::peft::{load_adapter, save_adapter, ADAPTER_CONFIG, ADAPTER_WEIGHTS};
use prime_models::{load_hf, token_log_probs, CausalLm, Qwen2ForCausalLm, TokenBatch};
use serde::Deserialize;
use serde_json::Value;

type B = CpuBackend;

/// Logits and log-probs must match `peft` to this absolute difference.
const TOLERANCE: f32 = 1e-4;

#[derive(Deserialize)]
struct Reference {
    rank: usize,
    lora_alpha: f64,
    target_modules: Vec<String>,
    adapter_tensors: BTreeMap<String, Vec<usize>>,
    input_ids: Vec<Vec<i64>>,
    attention_mask: Vec<Vec<i64>>,
    logits_shape: [usize; 3],
    adapted: Outputs,
    merged: Outputs,
    base: BaseOutputs,
}

#[derive(Deserialize)]
struct Outputs {
    logits: Vec<f32>,
    token_logprobs: Vec<f32>,
}

#[derive(Deserialize)]
struct BaseOutputs {
    token_logprobs: Vec<f32>,
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/qwen2_peft_lora")
}

fn reference() -> Reference {
    let text = std::fs::read_to_string(fixture().join("reference.json")).expect("reference.json");
    serde_json::from_str(&text).expect("reference.json parses")
}

fn base() -> Qwen2ForCausalLm<B> {
    let dir = fixture().join("base");
    load_hf::<B>(&dir, &Default::default())
        .unwrap_or_else(|err| panic!("loading {}: {err}", dir.display()))
}

fn adapted() -> Qwen2ForCausalLm<B> {
    let dir = fixture().join("adapter");
    let (model, config) = load_adapter(base(), &dir, &Default::default())
        .unwrap_or_else(|err| panic!("loading the adapter {}: {err}", dir.display()));
    let reference = reference();
    assert_eq!(config.rank, reference.rank);
    assert_eq!(config.alpha, reference.lora_alpha);
    let mut targets: Vec<&str> = config.targets.iter().map(|t| t.name()).collect();
    targets.sort();
    let mut expected: Vec<&str> = reference
        .target_modules
        .iter()
        .map(String::as_str)
        .collect();
    expected.sort();
    assert_eq!(
        targets, expected,
        "targets read from peft's adapter_config.json"
    );
    model
}

fn int_tensor(rows: &[Vec<i64>]) -> Tensor<B, 2, Int> {
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(
        TensorData::new(flat, [rows.len(), rows[0].len()]),
        &Default::default(),
    )
}

fn values<const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap()
}

/// Names and shapes of the tensors in a safetensors file.
fn safetensors_shapes(path: &Path) -> BTreeMap<String, Vec<usize>> {
    let bytes = std::fs::read(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("a safetensors file");
    file.tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect()
}

/// Max |ours - peft's| of the logits (real positions) and of the next-token log-probs (entries
/// predicted from a real position).
fn max_diffs(model: &Qwen2ForCausalLm<B>, reference: &Reference, expected: &Outputs) -> (f32, f32) {
    let batch = TokenBatch {
        input_ids: int_tensor(&reference.input_ids),
        attention_mask: int_tensor(&reference.attention_mask),
    };
    let logits = model.forward(&batch);
    assert_eq!(logits.dims(), reference.logits_shape);
    let [_, seq, vocab] = reference.logits_shape;
    let mask: Vec<i64> = reference.attention_mask.iter().flatten().copied().collect();
    let logit_diff = max_abs_diff(&values(logits.clone()), &expected.logits, |i| {
        mask[i / vocab] == 1
    });
    let logp = values(token_log_probs(logits, &batch));
    let from_real = |t: usize| mask[(t / (seq - 1)) * seq + t % (seq - 1)] == 1;
    let logp_diff = max_abs_diff(&logp, &expected.token_logprobs, from_real);
    (logit_diff, logp_diff)
}

fn max_abs_diff(a: &[f32], b: &[f32], keep: impl Fn(usize) -> bool) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(_, (x, y))| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn peft_adapter_names_and_shapes_are_ours() {
    let reference = reference();
    let on_disk = safetensors_shapes(&fixture().join("adapter").join(ADAPTER_WEIGHTS));
    assert_eq!(on_disk, reference.adapter_tensors, "fixture out of date");
    let model = adapted();
    let ours: BTreeMap<String, Vec<usize>> = adapter_tensors(&model)
        .into_iter()
        .map(|(name, tensor)| (name, tensor.shape))
        .collect();
    assert_eq!(ours, on_disk, "adapter tensor names and shapes");
    // e.g. `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`: [4, 32]
    assert!(ours.contains_key("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
}

#[test]
fn adapted_and_merged_logits_match_peft() {
    let reference = reference();
    let (logit_diff, logp_diff) = max_diffs(&adapted(), &reference, &reference.adapted);
    eprintln!("adapted: max |Δlogit| = {logit_diff:.2e}, max |Δlogp| = {logp_diff:.2e}");
    assert!(
        logit_diff <= TOLERANCE,
        "adapted logits differ by {logit_diff}"
    );
    assert!(
        logp_diff <= TOLERANCE,
        "adapted log-probs differ by {logp_diff}"
    );

    let merged = merge_lora(adapted());
    let (logit_diff, logp_diff) = max_diffs(&merged, &reference, &reference.merged);
    eprintln!("merged: max |Δlogit| = {logit_diff:.2e}, max |Δlogp| = {logp_diff:.2e}");
    assert!(
        logit_diff <= TOLERANCE,
        "merged logits differ by {logit_diff}"
    );
    assert!(
        logp_diff <= TOLERANCE,
        "merged log-probs differ by {logp_diff}"
    );

    // The adapter matters: the base alone is far from peft's adapted numbers.
    let base_logits = base().forward(&TokenBatch {
        input_ids: int_tensor(&reference.input_ids),
        attention_mask: int_tensor(&reference.attention_mask),
    });
    let mask: Vec<i64> = reference.attention_mask.iter().flatten().copied().collect();
    let vocab = reference.logits_shape[2];
    let moved = max_abs_diff(&values(base_logits), &reference.adapted.logits, |i| {
        mask[i / vocab] == 1
    });
    assert!(
        moved > 100.0 * TOLERANCE,
        "the adapter moves the logits by only {moved}"
    );
    let base_gap = max_abs_diff(
        &reference.base.token_logprobs,
        &reference.adapted.token_logprobs,
        |_| true,
    );
    assert!(base_gap > 100.0 * TOLERANCE);
}

#[test]
fn saved_adapter_has_peft_names_shapes_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let base_dir = fixture().join("base");
    save_adapter(&adapted(), dir.path(), Some(&base_dir)).unwrap();

    let peft_dir = fixture().join("adapter");
    assert_eq!(
        safetensors_shapes(&dir.path().join(ADAPTER_WEIGHTS)),
        safetensors_shapes(&peft_dir.join(ADAPTER_WEIGHTS)),
        "tensor names and shapes of our adapter file vs peft's"
    );

    let read = |dir: &Path| -> Value {
        let path = dir.join(ADAPTER_CONFIG);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let (ours, theirs) = (read(dir.path()), read(&peft_dir));
    for field in [
        "peft_type",
        "task_type",
        "r",
        "lora_dropout",
        "bias",
        "fan_in_fan_out",
        "use_rslora",
        "use_dora",
        "rank_pattern",
        "alpha_pattern",
        "modules_to_save",
    ] {
        assert_eq!(
            ours[field], theirs[field],
            "adapter_config.json field `{field}`"
        );
    }
    assert_eq!(
        ours["lora_alpha"].as_f64(),
        theirs["lora_alpha"].as_f64(),
        "lora_alpha"
    );
    let modules = |config: &Value| -> Vec<String> {
        let mut names: Vec<String> = config["target_modules"]
            .as_array()
            .expect("target_modules is a list")
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(modules(&ours), modules(&theirs), "target_modules");
    assert_eq!(
        ours["base_model_name_or_path"].as_str(),
        Some(base_dir.display().to_string().as_str())
    );

    // What we wrote reads back to the same numbers.
    let (reloaded, _) = load_adapter(base(), dir.path(), &Default::default()).unwrap();
    let reference = reference();
    let (logit_diff, _) = max_diffs(&reloaded, &reference, &reference.adapted);
    assert!(
        logit_diff <= TOLERANCE,
        "reloaded adapter: logits differ by {logit_diff}"
    );
}
