//! Adapters on disk in Hugging Face PEFT's layout, so `peft.PeftModel.from_pretrained` and vLLM's
//! LoRA loading read what we write, and we read what they write:
//!
//! - `adapter_config.json`: `peft_type = "LORA"`, `r`, `lora_alpha`, `target_modules`, …;
//! - `adapter_model.safetensors`: `base_model.model.<module path>.lora_A.weight` (`[r, in]`) and
//!   `….lora_B.weight` (`[out, r]`), f32.
//!
//! PEFT features this crate does not implement are refused on read with the field named
//! (`use_rslora`, `use_dora`, a per-module rank or α, bias training, …).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::adapters::{adapter_tensors, attach_lora, lora_config_of, set_adapter_tensors};
use crate::checkpoint::Checkpoint;
use crate::hf_io::{write_atomically, write_safetensors};
use crate::lora::{LoraConfig, LoraTarget};
use crate::{ModelError, PretrainedLm, SaveDtype};

/// `adapter_config.json`.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// `adapter_model.safetensors`.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";

/// The fields of PEFT's `LoraConfig` this crate writes and checks on read (others are ignored).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AdapterConfigFile {
    peft_type: String,
    #[serde(default)]
    task_type: Option<String>,
    r: usize,
    lora_alpha: f64,
    target_modules: TargetModules,
    #[serde(default)]
    lora_dropout: f64,
    #[serde(default = "none")]
    bias: String,
    #[serde(default)]
    fan_in_fan_out: bool,
    #[serde(default)]
    use_rslora: bool,
    #[serde(default)]
    use_dora: bool,
    #[serde(default)]
    rank_pattern: HashMap<String, serde_json::Value>,
    #[serde(default)]
    alpha_pattern: HashMap<String, serde_json::Value>,
    #[serde(default)]
    modules_to_save: Option<Vec<String>>,
    #[serde(default)]
    base_model_name_or_path: Option<String>,
    #[serde(default)]
    inference_mode: bool,
    /// Newer PEFT options that change what an adapter computes or where it applies; refused when
    /// set (read so that a file using them is not silently misread).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alora_invocation_tokens: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    layers_to_transform: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    layer_replication: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exclude_modules: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trainable_token_indices: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target_parameters: Option<serde_json::Value>,
    #[serde(default)]
    lora_bias: bool,
    #[serde(default)]
    use_qalora: bool,
}

fn none() -> String {
    "none".into()
}

/// PEFT writes `target_modules` as a list (or a regex string, which is not supported here).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum TargetModules {
    List(Vec<String>),
    Pattern(String),
}

/// Writes `model`'s adapters (rank, `α` and targets read off the model) to `dir` (created if needed) as `adapter_config.json` +
/// `adapter_model.safetensors`; each file goes through a temporary name. `base_model` is recorded
/// as `base_model_name_or_path` (where the base weights live).
///
/// Errors: the model has no adapters, or a file cannot be written.
pub fn save_adapter<B: Backend, M: PretrainedLm<B>>(
    model: &M,
    dir: &Path,
    base_model: Option<&Path>,
) -> Result<(), ModelError> {
    let config = lora_config_of(model).ok_or_else(|| ModelError::InvalidConfig {
        field: "lora.rank",
        reason: "the model carries no adapter to save".into(),
    })?;
    std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let file = AdapterConfigFile {
        peft_type: "LORA".into(),
        task_type: Some("CAUSAL_LM".into()),
        r: config.rank,
        lora_alpha: config.alpha,
        target_modules: TargetModules::List(
            config
                .targets
                .iter()
                .map(|t| t.name().to_string())
                .collect(),
        ),
        lora_dropout: 0.0,
        bias: none(),
        fan_in_fan_out: false,
        use_rslora: false,
        use_dora: false,
        rank_pattern: HashMap::new(),
        alpha_pattern: HashMap::new(),
        modules_to_save: None,
        base_model_name_or_path: base_model.map(|p| p.display().to_string()),
        inference_mode: true,
        alora_invocation_tokens: None,
        layers_to_transform: None,
        layer_replication: None,
        exclude_modules: None,
        trainable_token_indices: None,
        target_parameters: None,
        lora_bias: false,
        use_qalora: false,
    };
    let path = dir.join(ADAPTER_CONFIG);
    let text = serde_json::to_string_pretty(&file).map_err(|source| ModelError::Json {
        path: path.clone(),
        source,
    })?;
    write_atomically(&path, |tmp| {
        std::fs::write(tmp, text.as_bytes()).map_err(|source| ModelError::Io {
            path: tmp.to_path_buf(),
            source,
        })
    })?;
    write_safetensors(
        &dir.join(ADAPTER_WEIGHTS),
        adapter_tensors(model),
        SaveDtype::F32,
    )
}

/// Reads the [`LoraConfig`] of the adapter directory `dir`.
///
/// Errors name the file and field: not valid JSON, not a LoRA adapter, a target this crate does
/// not adapt, or a PEFT feature it does not implement.
pub fn read_adapter_config(dir: &Path) -> Result<LoraConfig, ModelError> {
    let path = dir.join(ADAPTER_CONFIG);
    let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
        path: path.clone(),
        source,
    })?;
    let file: AdapterConfigFile =
        serde_json::from_str(&text).map_err(|source| ModelError::Json {
            path: path.clone(),
            source,
        })?;
    let unsupported = |field: &'static str, reason: String| ModelError::InvalidConfig {
        field,
        reason: format!("{}: {reason}", path.display()),
    };
    if file.peft_type != "LORA" {
        return Err(unsupported(
            "peft_type",
            format!("`{}` is not a LoRA adapter", file.peft_type),
        ));
    }
    let set = |value: &Option<serde_json::Value>| {
        value
            .as_ref()
            .is_some_and(|v| !v.is_null() && v != &serde_json::json!([]))
    };
    let checks: [(&'static str, bool, &str); 14] = [
        ("use_rslora", file.use_rslora, "rank-stabilised scaling"),
        ("use_dora", file.use_dora, "DoRA"),
        (
            "fan_in_fan_out",
            file.fan_in_fan_out,
            "transposed (Conv1D) weights",
        ),
        ("bias", file.bias != "none", "trained biases"),
        ("lora_bias", file.lora_bias, "adapter biases"),
        ("use_qalora", file.use_qalora, "QA-LoRA adapters"),
        (
            "rank_pattern",
            !file.rank_pattern.is_empty(),
            "per-module ranks",
        ),
        (
            "alpha_pattern",
            !file.alpha_pattern.is_empty(),
            "per-module alphas",
        ),
        (
            "alora_invocation_tokens",
            set(&file.alora_invocation_tokens),
            "activated LoRA (aLoRA) adapters",
        ),
        (
            "layers_to_transform",
            set(&file.layers_to_transform),
            "adapters on some layers only",
        ),
        (
            "layer_replication",
            set(&file.layer_replication),
            "replicated layers",
        ),
        (
            "exclude_modules",
            set(&file.exclude_modules),
            "excluded modules",
        ),
        (
            "trainable_token_indices",
            set(&file.trainable_token_indices),
            "trained token embeddings",
        ),
        (
            "target_parameters",
            set(&file.target_parameters),
            "adapters on raw parameters",
        ),
    ];
    if let Some((field, _, what)) = checks.iter().find(|(_, set, _)| *set) {
        return Err(unsupported(field, format!("{what} are not supported")));
    }
    if file.modules_to_save.as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(unsupported(
            "modules_to_save",
            "fully trained modules beside the adapters are not supported".into(),
        ));
    }
    let names = match file.target_modules {
        TargetModules::List(names) => names,
        TargetModules::Pattern(pattern) => {
            return Err(unsupported(
                "target_modules",
                format!("a pattern (`{pattern}`) is not supported; list the module names"),
            ))
        }
    };
    let targets = names
        .iter()
        .map(|name| {
            LoraTarget::from_name(name).ok_or_else(|| {
                unsupported(
                    "target_modules",
                    format!(
                        "`{name}` is not one of q_proj k_proj v_proj o_proj gate_proj up_proj \
                         down_proj"
                    ),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let config = LoraConfig {
        rank: file.r,
        alpha: file.lora_alpha,
        targets,
    };
    if !config.enabled() {
        return Err(unsupported("r", "must be at least 1".into()));
    }
    config.validate()?;
    Ok(config)
}

/// Attaches the adapter stored in `dir` to `model` (its base): freezes the base, builds
/// adapters of the stored rank and targets, and loads their values. Returns the model and the
/// adapter's [`LoraConfig`].
///
/// Errors name the file or tensor: see [`read_adapter_config`]; a missing, mis-shaped or
/// unexpected adapter tensor (e.g. an adapter made for another architecture).
pub fn load_adapter<B: Backend, M: PretrainedLm<B>>(
    model: M,
    dir: &Path,
    device: &B::Device,
) -> Result<(M, LoraConfig), ModelError> {
    let config = read_adapter_config(dir)?;
    let model = attach_lora(model, &config, device)?;
    let weights: PathBuf = dir.join(ADAPTER_WEIGHTS);
    let mut checkpoint = Checkpoint::from_files(dir, vec![weights.clone()])?;
    let mut tensors = BTreeMap::new();
    for name in checkpoint.names() {
        let tensor = checkpoint.take_any(&name)?;
        tensors.insert(name, tensor);
    }
    let model = set_adapter_tensors(model, tensors, &weights, device)?;
    Ok((model, config))
}

/// Whether `dir` holds a PEFT adapter (an `adapter_config.json`) rather than a full model.
pub fn is_adapter_dir(dir: &Path) -> bool {
    dir.join(ADAPTER_CONFIG).is_file()
}

/// The model a checkpoint directory holds: a PEFT adapter applied to `base` (when `dir` is an
/// adapter directory), else the full Hugging Face model in `dir`.
///
/// Errors: an adapter directory without a `base`, and every error of [`load_adapter`] or
/// [`PretrainedLm::load_pretrained`].
pub fn load_model_or_adapter<B: Backend, M: PretrainedLm<B>>(
    dir: &Path,
    base: Option<M>,
    device: &B::Device,
) -> Result<M, ModelError> {
    if !is_adapter_dir(dir) {
        return M::load_pretrained(dir, device);
    }
    let base = base.ok_or_else(|| ModelError::InvalidConfig {
        field: "adapter_config.json",
        reason: format!(
            "{} holds a LoRA adapter; it needs its base model to load onto",
            dir.display()
        ),
    })?;
    Ok(load_adapter(base, dir, device)?.0)
}

/// Writes `model` for resume: its adapters in PEFT layout when it has any (the base is not
/// written; `base_model` records where it lives), else the whole model (f32 Hugging Face).
pub fn save_model_or_adapter<B: Backend, M: PretrainedLm<B>>(
    model: &M,
    dir: &Path,
    base_model: Option<&Path>,
) -> Result<(), ModelError> {
    if lora_config_of(model).is_some() {
        save_adapter(model, dir, base_model)
    } else {
        model.save_pretrained(dir, SaveDtype::F32)
    }
}
