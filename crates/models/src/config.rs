//! `Qwen2Config`: the decoder's hyper-parameters, read from the Hugging Face `config.json` of a
//! Qwen2 / Qwen2.5, Qwen3 or Llama 3 model (the family's own fields are read by its module:
//! Qwen2's here, `qwen3.rs`, `llama.rs`).
//!
//! Both layouts `transformers` has written are read: version 4 (`rope_theta`, `rope_scaling`,
//! `torch_dtype` at the top level) and version 5 (`rope_parameters`, `dtype`). Checkpoints are
//! always written in the version-4 layout, which both versions (and vLLM) read.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::hf_config::{ArchitectureFlags, OneOrMany, RawConfig};
use crate::{llama, qwen3, Llama3RopeScaling, ModelError, ModelFamily};

/// Architecture hyper-parameters of the decoder behind every family (`family` says which
/// `config.json` it reads and writes).
///
/// Deserialising (`serde_json::from_str::<Qwen2Config>`) accepts both `config.json` layouts and
/// validates the result; serialising writes the transformers-4 layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawConfig", into = "RawConfig")]
pub struct Qwen2Config {
    /// Rows of the embedding and of the LM head (may exceed the tokenizer's vocabulary).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP's hidden layer.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (grouped-query attention); divides `num_attention_heads`.
    pub num_key_value_heads: usize,
    /// Width of one attention head (`hidden_size / num_attention_heads` unless set explicitly).
    pub head_dim: usize,
    /// Longest sequence the model was configured for (informational; RoPE has no hard limit).
    pub max_position_embeddings: usize,
    /// ε of every RMSNorm.
    pub rms_norm_eps: f64,
    /// RoPE base θ.
    pub rope_theta: f64,
    /// Whether the LM head reuses the token embedding matrix.
    pub tie_word_embeddings: bool,
    /// Standard deviation of the normal initialisation of linear and embedding weights.
    pub initializer_range: f64,
    /// Beginning-of-sequence token id, if the checkpoint names one.
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token ids named by the checkpoint (`eos_token_id` may be a number or a list).
    pub eos_token_ids: Vec<u32>,
    /// Storage dtype named by the checkpoint (`"float32"`, `"bfloat16"`, …), if any.
    pub torch_dtype: Option<String>,
    /// The family: its `model_type` and its own `config.json` fields.
    pub family: ModelFamily,
    /// Biases on the q, k, v projections (Qwen2: always; Qwen3, Llama: `attention_bias`).
    pub qkv_bias: bool,
    /// Bias on the output projection (Qwen3, Llama: `attention_bias`).
    pub o_proj_bias: bool,
    /// Biases in the MLP's three projections (Llama: `mlp_bias`).
    pub mlp_bias: bool,
    /// RMSNorm over each query and key head before RoPE (`q_norm`, `k_norm`; Qwen3).
    pub qk_norm: bool,
    /// Llama-3 RoPE frequency scaling (Llama: `rope_type = "llama3"`).
    pub rope_scaling: Option<Llama3RopeScaling>,
}

impl Qwen2Config {
    /// A tiny model for tests: 512-token vocabulary, width 64, 2 layers, 4 query heads sharing
    /// 2 key/value heads, tied embeddings (about 0.1M parameters).
    pub fn tiny() -> Self {
        Self {
            vocab_size: 512,
            hidden_size: 64,
            intermediate_size: 176,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            head_dim: 16,
            max_position_embeddings: 1024,
            rms_norm_eps: 1e-6,
            rope_theta: 10_000.0,
            tie_word_embeddings: true,
            initializer_range: 0.02,
            bos_token_id: None,
            eos_token_ids: Vec::new(),
            torch_dtype: Some("float32".into()),
            family: ModelFamily::Qwen2,
            qkv_bias: true,
            o_proj_bias: false,
            mlp_bias: false,
            qk_norm: false,
            rope_scaling: None,
        }
    }

    /// This config as a model of `family`, with the family's default flags (Qwen2: q/k/v
    /// biases; Qwen3: per-head q/k norms, no biases; Llama: no biases, unscaled RoPE).
    pub fn with_family(self, family: ModelFamily) -> Self {
        let flags = match family {
            ModelFamily::Qwen2 => qwen2_flags(),
            ModelFamily::Qwen3 => qwen3::default_flags(),
            ModelFamily::Llama => llama::default_flags(),
        };
        Self {
            family,
            qkv_bias: flags.qkv_bias,
            o_proj_bias: flags.o_proj_bias,
            mlp_bias: flags.mlp_bias,
            qk_norm: flags.qk_norm,
            rope_scaling: flags.rope_scaling,
            ..self
        }
    }

    /// A ~10M-parameter model for benchmarks: 8192-token vocabulary, width 256, 10 layers,
    /// 8 query heads and 4 key/value heads, MLP width 768, tied embeddings.
    pub fn small_10m() -> Self {
        Self {
            vocab_size: 8192,
            hidden_size: 256,
            intermediate_size: 768,
            num_hidden_layers: 10,
            num_attention_heads: 8,
            num_key_value_heads: 4,
            head_dim: 32,
            max_position_embeddings: 2048,
            ..Self::tiny()
        }
    }

    /// Reads and validates a Hugging Face `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text).map_err(|error| match error {
            ModelError::Json { source, .. } => ModelError::Json {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        })
    }

    /// Parses and validates the text of a `config.json` (either layout).
    pub fn from_json_str(text: &str) -> Result<Self, ModelError> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|source| ModelError::Json {
            path: "config.json".into(),
            source,
        })?;
        Self::try_from(raw)
    }

    /// Checks that the hyper-parameters describe a model this crate can build.
    pub fn validate(&self) -> Result<(), ModelError> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("head_dim", self.head_dim),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(invalid(field, "must be positive".into()));
            }
        }
        if self.num_attention_heads % self.num_key_value_heads != 0 {
            return Err(invalid(
                "num_key_value_heads",
                format!(
                    "{} does not divide num_attention_heads = {}",
                    self.num_key_value_heads, self.num_attention_heads
                ),
            ));
        }
        if self.head_dim % 2 != 0 {
            return Err(invalid(
                "head_dim",
                format!(
                    "{} is odd; rotary embeddings need an even width",
                    self.head_dim
                ),
            ));
        }
        if !(self.rms_norm_eps > 0.0 && self.rms_norm_eps.is_finite()) {
            return Err(invalid(
                "rms_norm_eps",
                "must be positive and finite".into(),
            ));
        }
        if !(self.rope_theta > 0.0 && self.rope_theta.is_finite()) {
            return Err(invalid("rope_theta", "must be positive and finite".into()));
        }
        if self.initializer_range.is_nan() || self.initializer_range < 0.0 {
            return Err(invalid("initializer_range", "must be non-negative".into()));
        }
        // The flags must be ones the family's config.json can state, or a saved model would not
        // load as itself.
        let expressible = match self.family {
            ModelFamily::Qwen2 => {
                self.qkv_bias
                    && !self.o_proj_bias
                    && !self.mlp_bias
                    && !self.qk_norm
                    && self.rope_scaling.is_none()
            }
            ModelFamily::Qwen3 => {
                self.qk_norm
                    && self.qkv_bias == self.o_proj_bias
                    && !self.mlp_bias
                    && self.rope_scaling.is_none()
            }
            ModelFamily::Llama => !self.qk_norm && self.qkv_bias == self.o_proj_bias,
        };
        if !expressible {
            return Err(invalid(
                "model_type",
                format!(
                    "a `{}` config cannot state these flags (qkv bias {}, o_proj bias {}, MLP bias {}, q/k norm {}, RoPE scaling {})",
                    self.family.model_type(),
                    self.qkv_bias,
                    self.o_proj_bias,
                    self.mlp_bias,
                    self.qk_norm,
                    self.rope_scaling.is_some()
                ),
            ));
        }
        Ok(())
    }

    /// Number of query heads that share one key/value head.
    pub fn num_key_value_groups(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }

    /// Number of trainable parameters of the model this config describes.
    pub fn num_parameters(&self) -> usize {
        let h = self.hidden_size;
        let q = self.num_attention_heads * self.head_dim;
        let kv = self.num_key_value_heads * self.head_dim;
        let qkv_bias = if self.qkv_bias { q + 2 * kv } else { 0 };
        let o_bias = if self.o_proj_bias { h } else { 0 };
        let qk_norm = if self.qk_norm { 2 * self.head_dim } else { 0 };
        let attention = h * q + 2 * h * kv + q * h + qkv_bias + o_bias + qk_norm;
        let i = self.intermediate_size;
        let mlp = 3 * h * i + if self.mlp_bias { 2 * i + h } else { 0 };
        let layer = attention + mlp + 2 * h;
        let embedding = self.vocab_size * h;
        let head = if self.tie_word_embeddings {
            0
        } else {
            embedding
        };
        embedding + self.num_hidden_layers * layer + h + head
    }
}

fn invalid(field: &'static str, reason: String) -> ModelError {
    ModelError::InvalidConfig { field, reason }
}

impl TryFrom<RawConfig> for Qwen2Config {
    type Error = ModelError;

    fn try_from(raw: RawConfig) -> Result<Self, ModelError> {
        let family = match &raw.model_type {
            Some(model_type) => ModelFamily::from_model_type(model_type)?,
            None => ModelFamily::Qwen2,
        };
        if raw.hidden_act != "silu" {
            return Err(invalid(
                "hidden_act",
                format!("`{}` is not supported (expected `silu`)", raw.hidden_act),
            ));
        }
        if raw.use_sliding_window {
            return Err(invalid(
                "use_sliding_window",
                "sliding-window attention is not supported".into(),
            ));
        }
        let rope = raw.rope();
        let flags = match family {
            ModelFamily::Qwen2 => {
                raw.require_unscaled_rope(&rope)?;
                qwen2_flags()
            }
            ModelFamily::Qwen3 => qwen3::read_flags(&raw, &rope)?,
            ModelFamily::Llama => llama::read_flags(&raw, &rope)?,
        };
        let rope_theta = rope.rope_theta.unwrap_or(10_000.0);
        if raw.num_attention_heads == 0 {
            return Err(invalid("num_attention_heads", "must be positive".into()));
        }
        let head_dim = match raw.head_dim {
            Some(head_dim) => head_dim,
            None => {
                if raw.hidden_size % raw.num_attention_heads != 0 {
                    return Err(invalid(
                        "num_attention_heads",
                        format!(
                            "{} does not divide hidden_size = {}",
                            raw.num_attention_heads, raw.hidden_size
                        ),
                    ));
                }
                raw.hidden_size / raw.num_attention_heads
            }
        };
        let config = Self {
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            intermediate_size: raw.intermediate_size,
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: raw.num_attention_heads,
            num_key_value_heads: raw.num_key_value_heads.unwrap_or(raw.num_attention_heads),
            head_dim,
            max_position_embeddings: raw.max_position_embeddings,
            rms_norm_eps: raw.rms_norm_eps,
            rope_theta,
            tie_word_embeddings: raw.tie_word_embeddings,
            initializer_range: raw.initializer_range,
            bos_token_id: raw.bos_token_id,
            eos_token_ids: match raw.eos_token_id {
                None => Vec::new(),
                Some(OneOrMany::One(id)) => vec![id],
                Some(OneOrMany::Many(ids)) => ids,
            },
            torch_dtype: raw.torch_dtype.or(raw.dtype),
            family,
            qkv_bias: flags.qkv_bias,
            o_proj_bias: flags.o_proj_bias,
            mlp_bias: flags.mlp_bias,
            qk_norm: flags.qk_norm,
            rope_scaling: flags.rope_scaling,
        };
        config.validate()?;
        Ok(config)
    }
}

/// Qwen2 / Qwen2.5: biased q/k/v projections, nothing else.
fn qwen2_flags() -> ArchitectureFlags {
    ArchitectureFlags {
        qkv_bias: true,
        o_proj_bias: false,
        mlp_bias: false,
        qk_norm: false,
        rope_scaling: None,
    }
}

impl From<Qwen2Config> for RawConfig {
    /// The transformers-4 layout.
    fn from(config: Qwen2Config) -> Self {
        let explicit_head_dim = config.head_dim * config.num_attention_heads != config.hidden_size;
        let family = config.family;
        let mut raw = Self {
            architectures: Some(vec![family.architecture().into()]),
            model_type: Some(family.model_type().into()),
            vocab_size: config.vocab_size,
            hidden_size: config.hidden_size,
            intermediate_size: config.intermediate_size,
            num_hidden_layers: config.num_hidden_layers,
            num_attention_heads: config.num_attention_heads,
            num_key_value_heads: Some(config.num_key_value_heads),
            head_dim: (explicit_head_dim || family == ModelFamily::Qwen3)
                .then_some(config.head_dim),
            hidden_act: "silu".into(),
            max_position_embeddings: config.max_position_embeddings,
            rms_norm_eps: config.rms_norm_eps,
            rope_theta: Some(config.rope_theta),
            rope_parameters: None,
            rope_scaling: None,
            attention_bias: None,
            mlp_bias: None,
            tie_word_embeddings: config.tie_word_embeddings,
            initializer_range: config.initializer_range,
            use_sliding_window: false,
            bos_token_id: config.bos_token_id,
            eos_token_id: match config.eos_token_ids.as_slice() {
                [] => None,
                [id] => Some(OneOrMany::One(*id)),
                ids => Some(OneOrMany::Many(ids.to_vec())),
            },
            torch_dtype: config.torch_dtype.clone(),
            dtype: None,
            use_cache: Some(true),
            attention_dropout: Some(0.0),
        };
        let flags = ArchitectureFlags {
            qkv_bias: config.qkv_bias,
            o_proj_bias: config.o_proj_bias,
            mlp_bias: config.mlp_bias,
            qk_norm: config.qk_norm,
            rope_scaling: config.rope_scaling,
        };
        match family {
            ModelFamily::Qwen2 => {}
            ModelFamily::Qwen3 => qwen3::write_flags(&flags, &mut raw),
            ModelFamily::Llama => llama::write_flags(&flags, &mut raw),
        }
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str = r#"{
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
        "vocab_size": 1000, "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 3, "num_attention_heads": 8, "num_key_value_heads": 2,
        "hidden_act": "silu", "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
        "rope_theta": 1000000.0, "rope_scaling": null, "tie_word_embeddings": true,
        "use_sliding_window": false, "sliding_window": 4096, "eos_token_id": 7,
        "torch_dtype": "bfloat16", "transformers_version": "4.51.0"
    }"#;

    const V5: &str = r#"{
        "model_type": "qwen2", "vocab_size": 1000, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 3, "num_attention_heads": 8,
        "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
        "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"},
        "tie_word_embeddings": true, "eos_token_id": [7, 8], "dtype": "bfloat16"
    }"#;

    #[test]
    fn reads_both_layouts() {
        let v4 = Qwen2Config::from_json_str(V4).unwrap();
        let v5 = Qwen2Config::from_json_str(V5).unwrap();
        assert_eq!(v4.rope_theta, 1e6);
        assert_eq!(v5.rope_theta, 1e6);
        assert_eq!(v4.head_dim, 8);
        assert_eq!(v4.num_key_value_groups(), 4);
        assert_eq!(v4.torch_dtype.as_deref(), Some("bfloat16"));
        assert_eq!(v5.torch_dtype.as_deref(), Some("bfloat16"));
        assert_eq!(v4.eos_token_ids, vec![7]);
        assert_eq!(v5.eos_token_ids, vec![7, 8]);
        assert_eq!(v4.rms_norm_eps, 1e-5);
    }

    #[test]
    fn round_trips_through_the_v4_layout() {
        let v5 = Qwen2Config::from_json_str(V5).unwrap();
        let written = serde_json::to_value(&v5).unwrap();
        assert_eq!(written["rope_theta"], 1e6);
        assert_eq!(written["torch_dtype"], "bfloat16");
        assert_eq!(written["architectures"][0], "Qwen2ForCausalLM");
        assert!(written.get("rope_parameters").is_none());
        let back: Qwen2Config = serde_json::from_value(written).unwrap();
        assert_eq!(back, v5);
    }

    #[test]
    fn missing_field_is_a_typed_error_naming_it() {
        let text = V4.replace("\"hidden_size\": 64,", "");
        let error = Qwen2Config::from_json_str(&text).unwrap_err();
        assert!(matches!(error, ModelError::Json { .. }));
        assert!(error.to_string().contains("hidden_size"), "{error}");
    }

    #[test]
    fn invalid_values_are_rejected() {
        let text = V4.replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3");
        let error = Qwen2Config::from_json_str(&text).unwrap_err();
        assert!(matches!(
            error,
            ModelError::InvalidConfig {
                field: "num_key_value_heads",
                ..
            }
        ));
        let text = V4.replace("\"silu\"", "\"gelu\"");
        assert!(Qwen2Config::from_json_str(&text).is_err());
        let text = V4.replace(
            "\"rope_scaling\": null",
            "\"rope_scaling\": {\"type\": \"yarn\"}",
        );
        assert!(Qwen2Config::from_json_str(&text).is_err());
    }

    #[test]
    fn parameter_count_of_presets() {
        // tiny: embedding 512·64 = 32768; per layer attention 64·64+64 + 2·(64·32+32) + 64·64
        // = 12416, MLP 3·64·176 = 33792, norms 128 → 46336; two layers + final norm 64.
        assert_eq!(
            Qwen2Config::tiny().num_parameters(),
            32_768 + 2 * 46_336 + 64
        );
        let small = Qwen2Config::small_10m().num_parameters();
        assert!((9_500_000..10_500_000).contains(&small), "{small}");
    }
}
