//! The Qwen3 family (`model_type = "qwen3"`, dense models 0.6B–32B): the Qwen2 decoder with an
//! RMSNorm over each query and key head before RoPE (`self_attn.q_norm`, `self_attn.k_norm`,
//! `[head_dim]` each), `head_dim` stated in the config (Qwen3-0.6B: 128 with hidden 1024 and 16
//! heads), and `attention_bias` (false in every release) on all four attention projections.
//! No RoPE scaling is supported.

use crate::hf_config::{ArchitectureFlags, RawConfig, RopeParameters};
use crate::ModelError;

/// Qwen3's flags when `config.json` states none.
pub(crate) fn default_flags() -> ArchitectureFlags {
    ArchitectureFlags {
        qkv_bias: false,
        o_proj_bias: false,
        mlp_bias: false,
        qk_norm: true,
        rope_scaling: None,
    }
}

/// The flags of a Qwen3 `config.json`.
pub(crate) fn read_flags(
    raw: &RawConfig,
    rope: &RopeParameters,
) -> Result<ArchitectureFlags, ModelError> {
    raw.require_unscaled_rope(rope)?;
    if raw.mlp_bias == Some(true) {
        return Err(ModelError::InvalidConfig {
            field: "mlp_bias",
            reason: "Qwen3 has no MLP biases".into(),
        });
    }
    let bias = raw.attention_bias.unwrap_or(false);
    Ok(ArchitectureFlags {
        qkv_bias: bias,
        o_proj_bias: bias,
        ..default_flags()
    })
}

/// Writes Qwen3's own fields into a `config.json` being saved.
pub(crate) fn write_flags(flags: &ArchitectureFlags, raw: &mut RawConfig) {
    raw.attention_bias = Some(flags.qkv_bias);
}

#[cfg(test)]
mod tests {
    use crate::{ModelError, ModelFamily, Qwen2Config};

    /// A Qwen3-0.6B-shaped config, scaled down, in the transformers-5 layout.
    const V5: &str = r#"{
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "attention_bias": false,
        "vocab_size": 1000, "hidden_size": 64, "intermediate_size": 96, "head_dim": 32,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-6, "tie_word_embeddings": true, "max_position_embeddings": 4096,
        "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"},
        "layer_types": ["full_attention", "full_attention"], "dtype": "bfloat16"
    }"#;

    #[test]
    fn reads_head_dim_and_qk_norm() {
        let c = Qwen2Config::from_json_str(V5).unwrap();
        assert_eq!(c.family, ModelFamily::Qwen3);
        assert_eq!(c.head_dim, 32); // not 64 / 4
        assert!(c.qk_norm && !c.qkv_bias && !c.o_proj_bias && !c.mlp_bias);
        assert_eq!(c.rope_theta, 1e6);
        let biased = V5.replace("\"attention_bias\": false", "\"attention_bias\": true");
        let c = Qwen2Config::from_json_str(&biased).unwrap();
        assert!(c.qkv_bias && c.o_proj_bias);
    }

    #[test]
    fn round_trips_through_the_v4_layout() {
        let c = Qwen2Config::from_json_str(V5).unwrap();
        let written = serde_json::to_value(&c).unwrap();
        assert_eq!(written["model_type"], "qwen3");
        assert_eq!(written["architectures"][0], "Qwen3ForCausalLM");
        assert_eq!(written["head_dim"], 32);
        assert_eq!(written["attention_bias"], false);
        assert_eq!(written["rope_theta"], 1e6);
        let back: Qwen2Config = serde_json::from_value(written).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn scaled_rope_is_rejected_naming_the_field() {
        let scaled = V5.replace(
            r#""rope_type": "default""#,
            r#""rope_type": "yarn", "factor": 4.0"#,
        );
        let error = Qwen2Config::from_json_str(&scaled).unwrap_err();
        assert!(
            matches!(
                error,
                ModelError::InvalidConfig {
                    field: "rope_parameters",
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("yarn"), "{error}");
    }
}
