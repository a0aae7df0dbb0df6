//! `config.json` as Hugging Face writes it, for every family this crate reads: the union of their
//! fields in both layouts (transformers 4: top-level `rope_theta` / `rope_scaling` /
//! `torch_dtype`; transformers 5: `rope_parameters` / `dtype`), before validation; and the
//! architecture flags by which the families differ.

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// What distinguishes the decoder families besides their shapes, read from `config.json` by the
/// family's module.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ArchitectureFlags {
    pub qkv_bias: bool,
    pub o_proj_bias: bool,
    pub mlp_bias: bool,
    pub qk_norm: bool,
    pub rope_scaling: Option<Llama3RopeScaling>,
}

/// Llama-3 RoPE frequency scaling (`rope_type = "llama3"`): frequencies whose wavelength exceeds
/// `original_max_position_embeddings / low_freq_factor` are divided by `factor`, those shorter
/// than `original_max_position_embeddings / high_freq_factor` are kept, and those in between are
/// interpolated smoothly (see `llama.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Llama3RopeScaling {
    /// Divisor of the low frequencies (8 for Llama 3.1).
    pub factor: f64,
    /// Wavelengths above `original / low_freq_factor` are scaled (1 for Llama 3.1).
    pub low_freq_factor: f64,
    /// Wavelengths below `original / high_freq_factor` are kept (4 for Llama 3.1).
    pub high_freq_factor: f64,
    /// The context length the model was pre-trained with (8192 for Llama 3.1).
    pub original_max_position_embeddings: usize,
}

/// `eos_token_id` is a number or a list of numbers in `config.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

/// RoPE settings: transformers-5 `rope_parameters`, or transformers-4 `rope_scaling` (which
/// has no `rope_theta`; older files name the kind `type`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct RopeParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_type: Option<String>,
    /// The kind under its older name.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub legacy_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_freq_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_freq_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_max_position_embeddings: Option<usize>,
}

/// `config.json` as written (either layout, any supported family), before validation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RawConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    #[serde(default = "default_max_position_embeddings")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<RopeParameters>,
    #[serde(default)]
    pub rope_scaling: Option<RopeParameters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp_bias: Option<bool>,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_initializer_range")]
    pub initializer_range: f64,
    #[serde(default)]
    pub use_sliding_window: bool,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub eos_token_id: Option<OneOrMany>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_dtype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_cache: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_dropout: Option<f64>,
}

impl RawConfig {
    /// The RoPE settings of either layout: `rope_parameters` (v5) or `rope_scaling` (v4), with
    /// the v4 top-level `rope_theta` folded in.
    pub fn rope(&self) -> RopeParameters {
        let mut rope = self
            .rope_parameters
            .clone()
            .or_else(|| self.rope_scaling.clone())
            .unwrap_or_default();
        if rope.rope_theta.is_none() {
            rope.rope_theta = self.rope_theta;
        }
        if rope.rope_type.is_none() {
            rope.rope_type = rope.legacy_type.take();
        }
        rope
    }

    /// Which field holds the RoPE settings, for errors: `rope_parameters` (v5) or
    /// `rope_scaling` (v4).
    pub fn rope_field(&self) -> &'static str {
        if self.rope_parameters.is_some() {
            "rope_parameters"
        } else {
            "rope_scaling"
        }
    }

    /// Families without RoPE scaling accept only the default kind (`rope_scaling` null or
    /// absent).
    pub fn require_unscaled_rope(&self, rope: &RopeParameters) -> Result<(), ModelError> {
        match rope.rope_type.as_deref() {
            None | Some("default") if rope.factor.is_none() => Ok(()),
            kind => Err(ModelError::InvalidConfig {
                field: self.rope_field(),
                reason: format!(
                    "rope_type `{}` is not supported for `{}` (only `default`)",
                    kind.unwrap_or("unknown"),
                    self.model_type.as_deref().unwrap_or("qwen2")
                ),
            }),
        }
    }
}

fn default_hidden_act() -> String {
    "silu".into()
}
fn default_max_position_embeddings() -> usize {
    32_768
}
fn default_rms_norm_eps() -> f64 {
    1e-6
}
fn default_initializer_range() -> f64 {
    0.02
}
