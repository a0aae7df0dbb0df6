//! The Llama 3 family (`model_type = "llama"`: Llama 3, 3.1, 3.2): the same decoder as Qwen2,
//! with `attention_bias` on all four attention projections and `mlp_bias` on the MLP (both false
//! in Meta's releases), tied (3.2 1B/3B) or untied embeddings, and Llama-3 RoPE frequency
//! scaling (`rope_type = "llama3"`, in `rope_scaling` (transformers 4) or `rope_parameters`
//! (transformers 5)).
//!
//! Llama-3 scaling (with `L = original_max_position_embeddings`): a frequency `f` of wavelength
//! `λ = 2π / f` becomes `f / factor` when `λ > L / low_freq_factor`, stays `f` when
//! `λ < L / high_freq_factor`, and in between becomes `(1 − s)·f / factor + s·f` with
//! `s = (L / λ − low_freq_factor) / (high_freq_factor − low_freq_factor)`.

use crate::hf_config::{ArchitectureFlags, Llama3RopeScaling, RawConfig, RopeParameters};
use crate::ModelError;

/// Llama's flags when `config.json` states none.
pub(crate) fn default_flags() -> ArchitectureFlags {
    ArchitectureFlags {
        qkv_bias: false,
        o_proj_bias: false,
        mlp_bias: false,
        qk_norm: false,
        rope_scaling: None,
    }
}

/// The flags of a Llama `config.json`.
pub(crate) fn read_flags(
    raw: &RawConfig,
    rope: &RopeParameters,
) -> Result<ArchitectureFlags, ModelError> {
    let field = raw.rope_field();
    let rope_scaling = match rope.rope_type.as_deref() {
        None | Some("default") => None,
        Some("llama3") => Some(llama3_scaling(rope, field)?),
        Some(other) => {
            return Err(ModelError::InvalidConfig {
                field,
                reason: format!(
                "rope_type `{other}` is not supported for `llama` (supported: `default`, `llama3`)"
            ),
            })
        }
    };
    let bias = raw.attention_bias.unwrap_or(false);
    Ok(ArchitectureFlags {
        qkv_bias: bias,
        o_proj_bias: bias,
        mlp_bias: raw.mlp_bias.unwrap_or(false),
        qk_norm: false,
        rope_scaling,
    })
}

/// The four numbers of `rope_type = "llama3"`, each required and checked.
fn llama3_scaling(
    rope: &RopeParameters,
    field: &'static str,
) -> Result<Llama3RopeScaling, ModelError> {
    let missing = |name: &str| ModelError::InvalidConfig {
        field,
        reason: format!("rope_type `llama3` needs `{name}`"),
    };
    let scaling = Llama3RopeScaling {
        factor: rope.factor.ok_or_else(|| missing("factor"))?,
        low_freq_factor: rope
            .low_freq_factor
            .ok_or_else(|| missing("low_freq_factor"))?,
        high_freq_factor: rope
            .high_freq_factor
            .ok_or_else(|| missing("high_freq_factor"))?,
        original_max_position_embeddings: rope
            .original_max_position_embeddings
            .ok_or_else(|| missing("original_max_position_embeddings"))?,
    };
    let valid = scaling.factor > 0.0
        && scaling.low_freq_factor > 0.0
        && scaling.high_freq_factor > scaling.low_freq_factor
        && scaling.original_max_position_embeddings > 0;
    if !valid {
        return Err(ModelError::InvalidConfig {
            field,
            reason: format!(
                "llama3 scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0 (got {scaling:?})"
            ),
        });
    }
    Ok(scaling)
}

/// Writes Llama's own fields into a `config.json` being saved (transformers-4 layout).
pub(crate) fn write_flags(flags: &ArchitectureFlags, raw: &mut RawConfig) {
    raw.attention_bias = Some(flags.qkv_bias);
    raw.mlp_bias = Some(flags.mlp_bias);
    raw.rope_scaling = flags.rope_scaling.map(|s| RopeParameters {
        rope_type: Some("llama3".into()),
        factor: Some(s.factor),
        low_freq_factor: Some(s.low_freq_factor),
        high_freq_factor: Some(s.high_freq_factor),
        original_max_position_embeddings: Some(s.original_max_position_embeddings),
        ..RopeParameters::default()
    });
}

/// The RoPE inverse frequencies `inv_freq` (`[head_dim / 2]`) after Llama-3 scaling, computed in
/// `f32` as transformers does.
pub(crate) fn scale_inv_freq(inv_freq: &[f32], scaling: &Llama3RopeScaling) -> Vec<f32> {
    let factor = scaling.factor as f32;
    let (low, high) = (
        scaling.low_freq_factor as f32,
        scaling.high_freq_factor as f32,
    );
    let original = scaling.original_max_position_embeddings as f32;
    let (low_freq_wavelen, high_freq_wavelen) = (original / low, original / high);
    inv_freq
        .iter()
        .map(|&f| {
            let wavelen = 2.0 * std::f32::consts::PI / f;
            if wavelen > low_freq_wavelen {
                f / factor
            } else if wavelen < high_freq_wavelen {
                f
            } else {
                let smooth = (original / wavelen - low) / (high - low);
                (1.0 - smooth) * f / factor + smooth * f
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ModelFamily, Qwen2Config};

    /// Llama-3.1-shaped, scaled down, transformers-4 layout.
    const V4: &str = r#"{
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "attention_bias": true, "mlp_bias": true, "hidden_act": "silu",
        "vocab_size": 1000, "hidden_size": 64, "intermediate_size": 96,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": false, "max_position_embeddings": 131072,
        "rope_theta": 500000.0,
        "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "bos_token_id": 1, "eos_token_id": [2, 3], "torch_dtype": "bfloat16"
    }"#;

    /// Llama-3.2-shaped (tied, no biases), transformers-5 layout.
    const V5: &str = r#"{
        "model_type": "llama", "vocab_size": 1000, "hidden_size": 64,
        "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 1, "tie_word_embeddings": true, "head_dim": 16,
        "rope_parameters": {"rope_theta": 500000.0, "rope_type": "llama3", "factor": 32.0,
                            "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                            "original_max_position_embeddings": 8192},
        "dtype": "bfloat16"
    }"#;

    #[test]
    fn reads_both_layouts() {
        let v4 = Qwen2Config::from_json_str(V4).unwrap();
        assert_eq!(v4.family, ModelFamily::Llama);
        assert!(v4.qkv_bias && v4.o_proj_bias && v4.mlp_bias && !v4.qk_norm);
        assert_eq!(v4.rope_theta, 5e5);
        let scaling = v4.rope_scaling.unwrap();
        assert_eq!(scaling.factor, 8.0);
        assert_eq!(scaling.original_max_position_embeddings, 8192);
        let v5 = Qwen2Config::from_json_str(V5).unwrap();
        assert!(!v5.qkv_bias && !v5.o_proj_bias && !v5.mlp_bias);
        assert_eq!(v5.rope_theta, 5e5);
        assert_eq!(v5.rope_scaling.unwrap().factor, 32.0);
        assert!(v5.tie_word_embeddings);
    }

    #[test]
    fn round_trips_through_the_v4_layout() {
        for text in [V4, V5] {
            let c = Qwen2Config::from_json_str(text).unwrap();
            let written = serde_json::to_value(&c).unwrap();
            assert_eq!(written["model_type"], "llama");
            assert_eq!(written["architectures"][0], "LlamaForCausalLM");
            assert_eq!(written["rope_scaling"]["rope_type"], "llama3");
            assert!(written.get("rope_parameters").is_none());
            let back: Qwen2Config = serde_json::from_value(written).unwrap();
            assert_eq!(back, c);
        }
    }

    #[test]
    fn unsupported_or_incomplete_scaling_names_the_field() {
        let yarn = V4.replace(r#""rope_type": "llama3""#, r#""rope_type": "yarn""#);
        let error = Qwen2Config::from_json_str(&yarn).unwrap_err();
        assert!(
            matches!(
                error,
                ModelError::InvalidConfig {
                    field: "rope_scaling",
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("`yarn`"), "{error}");
        let incomplete = V5.replace(r#""factor": 32.0,"#, "");
        let error = Qwen2Config::from_json_str(&incomplete).unwrap_err();
        assert!(
            matches!(
                error,
                ModelError::InvalidConfig {
                    field: "rope_parameters",
                    ..
                }
            ) && error.to_string().contains("`factor`"),
            "{error}"
        );
    }

    #[test]
    fn scaling_by_hand() {
        // L = 16, low 1, high 4: λ > 16 → f/8; λ < 4 → f; in between, smoothed.
        let scaling = Llama3RopeScaling {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 16,
        };
        let pi = std::f32::consts::PI;
        // wavelengths 2 (kept), 32 (scaled), 8 (medium: L/λ = 2 → s = 1/3)
        let f = [pi, pi / 16.0, pi / 4.0];
        let got = scale_inv_freq(&f, &scaling);
        let s = 1.0 / 3.0;
        let expected = [
            pi,
            pi / 16.0 / 8.0,
            (1.0 - s) * (pi / 4.0) / 8.0 + s * pi / 4.0,
        ];
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 1e-6, "{g} vs {e}");
        }
    }
}
