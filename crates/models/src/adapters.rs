//! LoRA on a whole model, written once for every family: each operation walks the projections a
//! family lists in [`PretrainedLm::adapted_linears`] (docs/algorithm.md §17).
//!
//! - [`attach_lora`]: freeze every base parameter and give each targeted projection a fresh
//!   adapter (`B = 0`: the model still computes its base exactly);
//! - [`merge_lora`]: fold `W + (α/r)·A·B` into the weights, for export;
//! - [`cast_base`]: store the frozen projection weights in bf16;
//! - [`adapter_tensors`] / [`set_adapter_tensors`]: the adapters under PEFT's tensor names
//!   (`base_model.model.<path>.lora_A.weight`: `[r, in]`, `…lora_B.weight`: `[out, r]`), which
//!   [`crate::peft`] writes to and reads from disk.

use std::collections::BTreeMap;

use burn::tensor::{backend::Backend, DType, Tensor};

use crate::lora::{replace_value, LoraAdapter, LoraConfig, LoraTarget};
use crate::{HostTensor, ModelError, PretrainedLm};

/// PEFT's prefix of every adapter tensor name (`PeftModel` → `base_model.model` → the HF model).
pub const PEFT_PREFIX: &str = "base_model.model.";

/// Precision of the frozen base weights when LoRA is on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaseDtype {
    /// 32-bit floats (the default).
    #[default]
    F32,
    /// bfloat16: half the bytes; upcast per layer for each product.
    Bf16,
}

/// The targeted projection a module path ends in, if any.
fn target_of(path: &str, config: &LoraConfig) -> Option<LoraTarget> {
    let name = path.rsplit('.').next()?;
    LoraTarget::from_name(name).filter(|t| config.targets.contains(t))
}

/// Freezes all of `model`'s parameters and attaches a fresh adapter (`A` random, `B = 0`) of
/// `config.rank` to every projection in `config.targets`. Seed the backend first for
/// reproducible `A`s.
///
/// Errors: an invalid config, or a family with no projection among the targets.
pub fn attach_lora<B: Backend, M: PretrainedLm<B>>(
    model: M,
    config: &LoraConfig,
    device: &B::Device,
) -> Result<M, ModelError> {
    config.validate()?;
    let mut model = model.no_grad();
    let mut attached = 0;
    for (path, layer) in model.adapted_linears_mut() {
        if target_of(&path, config).is_some() {
            let (d_in, d_out) = layer.dims();
            layer.lora = Some(LoraAdapter::init(
                d_in,
                d_out,
                config.rank,
                config.scale(),
                device,
            ));
            attached += 1;
        }
    }
    if attached == 0 {
        return Err(ModelError::InvalidConfig {
            field: "lora.targets",
            reason: format!(
                "the model has no projection named {:?}",
                config.targets.iter().map(|t| t.name()).collect::<Vec<_>>()
            ),
        });
    }
    Ok(model)
}

/// Folds every adapter into its weight (`W + (α/r)·A·B`, f32) and removes it: the model
/// [`crate::PretrainedLm::save_pretrained`] exports as a full Hugging Face checkpoint.
pub fn merge_lora<B: Backend, M: PretrainedLm<B>>(mut model: M) -> M {
    for (_, layer) in model.adapted_linears_mut() {
        layer.merge();
    }
    model
}

/// Stores every projection weight of `model` (the bulk of a decoder's parameters) in `dtype`;
/// norms, embeddings and adapters stay f32. Meant for a frozen base: products upcast the weight
/// per layer, and merging upcasts it.
pub fn cast_base<B: Backend, M: PretrainedLm<B>>(mut model: M, dtype: BaseDtype) -> M {
    let dtype = match dtype {
        BaseDtype::F32 => DType::F32,
        BaseDtype::Bf16 => DType::BF16,
    };
    for (_, layer) in model.adapted_linears_mut() {
        let weight = layer.weight.val();
        if weight.dtype() != dtype {
            layer.weight = replace_value(&layer.weight, weight.detach().cast(dtype));
        }
    }
    model
}

/// `(rank, α / r)` of the model's adapters, or `None` when it has none.
pub fn adapter_shape<B: Backend, M: PretrainedLm<B>>(model: &M) -> Option<(usize, f64)> {
    model
        .adapted_linears()
        .into_iter()
        .find_map(|(_, layer)| layer.lora.as_ref().map(|a| (a.rank(), a.scale)))
}

/// The [`LoraConfig`] the model's adapters were built with (rank, `α = scale·r`, the targets
/// that carry one), or `None` when it has none.
pub fn lora_config_of<B: Backend, M: PretrainedLm<B>>(model: &M) -> Option<LoraConfig> {
    let (rank, scale) = adapter_shape(model)?;
    let mut targets: Vec<LoraTarget> = model
        .adapted_linears()
        .into_iter()
        .filter(|(_, layer)| layer.lora.is_some())
        .filter_map(|(path, _)| LoraTarget::from_name(path.rsplit('.').next()?))
        .collect();
    targets.sort();
    targets.dedup();
    Some(LoraConfig {
        rank,
        alpha: scale * rank as f64,
        targets,
    })
}

/// Number of adapter parameters (what LoRA trains).
pub fn adapter_param_count<B: Backend, M: PretrainedLm<B>>(model: &M) -> usize {
    model
        .adapted_linears()
        .into_iter()
        .filter_map(|(_, layer)| layer.lora.as_ref())
        .map(|a| a.lora_a.shape().num_elements() + a.lora_b.shape().num_elements())
        .sum()
}

/// The adapters under PEFT's names, in model order: `lora_A.weight` `[r, in]` = `Aᵀ`,
/// `lora_B.weight` `[out, r]` = `Bᵀ`.
pub fn adapter_tensors<B: Backend, M: PretrainedLm<B>>(model: &M) -> Vec<(String, HostTensor)> {
    let mut out = Vec::new();
    for (path, layer) in model.adapted_linears() {
        if let Some(adapter) = &layer.lora {
            let a = HostTensor::from_tensor(adapter.lora_a.val()).transposed();
            let b = HostTensor::from_tensor(adapter.lora_b.val()).transposed();
            out.push((format!("{PEFT_PREFIX}{path}.lora_A.weight"), a));
            out.push((format!("{PEFT_PREFIX}{path}.lora_B.weight"), b));
        }
    }
    out
}

/// Replaces the values of `model`'s adapters (attached already, e.g. by [`attach_lora`]) with
/// `tensors` (PEFT names and layout), keeping each parameter's identity and `require_grad`.
///
/// Errors name the tensor: one the model lacks (missing), one with the wrong shape, or one left
/// over that no adapter of the model takes (`source` names the file it came from).
pub fn set_adapter_tensors<B: Backend, M: PretrainedLm<B>>(
    mut model: M,
    mut tensors: BTreeMap<String, HostTensor>,
    source: &std::path::Path,
    device: &B::Device,
) -> Result<M, ModelError> {
    for (path, layer) in model.adapted_linears_mut() {
        let Some(adapter) = layer.lora.as_mut() else {
            continue;
        };
        let [d_in, rank] = adapter.lora_a.shape().dims();
        let d_out = adapter.lora_b.shape().dims::<2>()[1];
        let mut take = |suffix: &str, shape: [usize; 2]| -> Result<Tensor<B, 2>, ModelError> {
            let name = format!("{PEFT_PREFIX}{path}.{suffix}");
            let tensor = tensors
                .remove(&name)
                .ok_or_else(|| ModelError::MissingTensor {
                    name: name.clone(),
                    dir: source.to_path_buf(),
                })?;
            if tensor.shape != shape {
                return Err(ModelError::ShapeMismatch {
                    name,
                    expected: shape.to_vec(),
                    found: tensor.shape,
                });
            }
            Ok(tensor.transposed().to_tensor(device))
        };
        let a = take("lora_A.weight", [rank, d_in])?;
        let b = take("lora_B.weight", [d_out, rank])?;
        adapter.lora_a = replace_value(&adapter.lora_a, a);
        adapter.lora_b = replace_value(&adapter.lora_b, b);
    }
    if let Some(name) = tensors.into_keys().next() {
        return Err(ModelError::UnexpectedTensor {
            name,
            path: source.to_path_buf(),
        });
    }
    Ok(model)
}
