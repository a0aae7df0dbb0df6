//! Model families: what the trainer needs of an architecture besides [`CausalLm`] (load and save
//! the Hugging Face layout, initialise from scratch), and the one place where a `config.json`'s
//! `model_type` picks the Rust type.
//!
//! Adding a family: write its module (a burn `Module` implementing [`CausalLm`] and
//! [`PretrainedLm`]), then add one variant to [`ModelFamily`]: listed in [`ModelFamily::ALL`],
//! with its `model_type` and its model type in the match of [`ModelFamily::dispatch`]. The trainer
//! and the implicit PRM (checkpoints included) never name a family's type: they are generic over
//! [`TrainableLm`].

use std::path::Path;

use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};

use crate::lora::AdaptedLinear;
use crate::{CausalLm, ModelError, ModelFamily, Qwen2Config, Qwen2ForCausalLm, SaveDtype};

/// An architecture with Hugging Face checkpoints: loads and saves `config.json` +
/// `*.safetensors`, and builds a randomly initialised model from a [`ScratchArchitecture`].
pub trait PretrainedLm<B: Backend>: CausalLm<B> + Module<B> + Sized {
    /// Loads the checkpoint in `dir` (see [`crate::load_hf`] for the Qwen2 family).
    fn load_pretrained(dir: &Path, device: &B::Device) -> Result<Self, ModelError>;

    /// Writes the model to `dir` in the Hugging Face layout, weights stored as `dtype`.
    fn save_pretrained(&self, dir: &Path, dtype: SaveDtype) -> Result<(), ModelError>;

    /// A randomly initialised model of `architecture` with `vocab_size` rows of embedding.
    /// Seed with `B::seed(device, seed)` first for reproducible weights.
    fn from_scratch(
        architecture: &ScratchArchitecture,
        vocab_size: usize,
        device: &B::Device,
    ) -> Result<Self, ModelError>;

    /// Every projection that can carry a LoRA adapter, under its Hugging Face module path
    /// (`model.layers.0.self_attn.q_proj`), in a fixed order. [`crate::adapters`] builds all of
    /// LoRA (attach, merge, PEFT files, bf16 base) on this one method and its mutable twin; a
    /// family that returns nothing (the default) cannot be trained with LoRA.
    fn adapted_linears(&self) -> Vec<(String, &AdaptedLinear<B>)> {
        Vec::new()
    }

    /// [`Self::adapted_linears`], mutable, in the same order.
    fn adapted_linears_mut(&mut self) -> Vec<(String, &mut AdaptedLinear<B>)> {
        Vec::new()
    }
}

/// A model that can be trained: a [`PretrainedLm`] under autodiff whose inference copy
/// ([`AutodiffModule::valid`]) is a [`PretrainedLm`] of the inner backend (used for sampling,
/// old log-probs and frozen references). Implemented for every such type.
pub trait TrainableLm<B: AutodiffBackend>:
    PretrainedLm<B> + AutodiffModule<B, InnerModule: PretrainedLm<B::InnerBackend>> + 'static
{
}

impl<B, M> TrainableLm<B> for M
where
    B: AutodiffBackend,
    M: PretrainedLm<B> + AutodiffModule<B> + 'static,
    M::InnerModule: PretrainedLm<B::InnerBackend>,
{
}

/// The shape of a model built from scratch (family-neutral; each family maps it onto its own
/// config). The defaults are the built-in demo's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScratchArchitecture {
    /// The family to build.
    pub family: ModelFamily,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention).
    pub num_key_value_heads: usize,
    /// Longest sequence (prompt + response) the model sees.
    pub max_position_embeddings: usize,
    /// RoPE base.
    pub rope_theta: f64,
    /// Share the input embedding with the output projection.
    pub tie_word_embeddings: bool,
}

impl Default for ScratchArchitecture {
    fn default() -> Self {
        Self {
            family: ModelFamily::Qwen2,
            hidden_size: 128,
            intermediate_size: 384,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            max_position_embeddings: 256,
            rope_theta: 10_000.0,
            tie_word_embeddings: true,
        }
    }
}

/// Something to run with the concrete type of a model family, chosen at run time by
/// [`ModelFamily::dispatch`]. `B` is the autodiff backend the model trains on.
pub trait FamilyVisitor<B: AutodiffBackend> {
    /// What the visit returns.
    type Output;

    /// Runs with the family's model type `M`.
    fn visit<M: TrainableLm<B>>(self) -> Self::Output;
}

impl ModelFamily {
    /// Runs `visitor` with this family's model type on backend `B`: the one dispatch point.
    pub fn dispatch<B: AutodiffBackend, V: FamilyVisitor<B>>(self, visitor: V) -> V::Output {
        match self {
            // One decoder runs all three; `config.json` decides the rest.
            ModelFamily::Qwen2 | ModelFamily::Qwen3 | ModelFamily::Llama => {
                visitor.visit::<Qwen2ForCausalLm<B>>()
            }
        }
    }
}

impl<B: Backend> PretrainedLm<B> for Qwen2ForCausalLm<B> {
    fn load_pretrained(dir: &Path, device: &B::Device) -> Result<Self, ModelError> {
        crate::load_hf(dir, device)
    }

    fn save_pretrained(&self, dir: &Path, dtype: SaveDtype) -> Result<(), ModelError> {
        crate::save_hf(self, dir, dtype)
    }

    fn from_scratch(
        a: &ScratchArchitecture,
        vocab_size: usize,
        device: &B::Device,
    ) -> Result<Self, ModelError> {
        if a.num_attention_heads == 0 {
            return Err(ModelError::InvalidConfig {
                field: "num_attention_heads",
                reason: "must be at least 1".into(),
            });
        }
        let config = Qwen2Config {
            vocab_size,
            hidden_size: a.hidden_size,
            intermediate_size: a.intermediate_size,
            num_hidden_layers: a.num_hidden_layers,
            num_attention_heads: a.num_attention_heads,
            num_key_value_heads: a.num_key_value_heads,
            head_dim: a.hidden_size / a.num_attention_heads,
            max_position_embeddings: a.max_position_embeddings,
            rope_theta: a.rope_theta,
            tie_word_embeddings: a.tie_word_embeddings,
            ..Qwen2Config::tiny()
        }
        .with_family(a.family);
        config.validate()?;
        Ok(config.init(device))
    }

    fn adapted_linears(&self) -> Vec<(String, &AdaptedLinear<B>)> {
        let mut out = Vec::new();
        for (i, layer) in self.model.layers.iter().enumerate() {
            for (name, linear) in layer.self_attn.projections() {
                out.push((format!("model.layers.{i}.self_attn.{name}"), linear));
            }
            for (name, linear) in layer.mlp.projections() {
                out.push((format!("model.layers.{i}.mlp.{name}"), linear));
            }
        }
        out
    }

    fn adapted_linears_mut(&mut self) -> Vec<(String, &mut AdaptedLinear<B>)> {
        let mut out = Vec::new();
        for (i, layer) in self.model.layers.iter_mut().enumerate() {
            for (name, linear) in layer.self_attn.projections_mut() {
                out.push((format!("model.layers.{i}.self_attn.{name}"), linear));
            }
            for (name, linear) in layer.mlp.projections_mut() {
                out.push((format!("model.layers.{i}.mlp.{name}"), linear));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};

    /// Builds a scratch model of the visited type and reports its vocabulary and family.
    struct Build(ModelFamily);

    impl FamilyVisitor<Autodiff<Flex>> for Build {
        type Output = Result<(usize, ModelFamily, bool), ModelError>;
        fn visit<M: TrainableLm<Autodiff<Flex>>>(self) -> Self::Output {
            let architecture = ScratchArchitecture {
                family: self.0,
                num_hidden_layers: 1,
                hidden_size: 32,
                intermediate_size: 64,
                ..ScratchArchitecture::default()
            };
            let model = M::from_scratch(&architecture, 40, &Default::default())?;
            let dir = tempfile::tempdir().unwrap();
            model.save_pretrained(dir.path(), SaveDtype::F32)?;
            let family = ModelFamily::of_checkpoint(dir.path())?;
            let reloaded = M::load_pretrained(dir.path(), &Default::default())?;
            Ok((
                reloaded.vocab_size(),
                family,
                reloaded.num_params() == model.num_params(),
            ))
        }
    }

    #[test]
    fn every_family_builds_saves_and_reloads_through_dispatch() {
        for &family in ModelFamily::ALL {
            let (vocab, written, same_size) =
                family.dispatch::<Autodiff<Flex>, _>(Build(family)).unwrap();
            assert_eq!(
                (vocab, written, same_size),
                (40, family, true),
                "{family:?}"
            );
        }
    }

    #[test]
    fn scratch_architecture_rejects_an_unknown_family() {
        let error = toml_like(r#"{"family": "gpt2"}"#);
        assert!(error.contains("qwen2"), "{error}");
    }

    fn toml_like(json: &str) -> String {
        serde_json::from_str::<ScratchArchitecture>(json)
            .unwrap_err()
            .to_string()
    }
}
