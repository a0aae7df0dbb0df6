//! The shape the planner counts: where a run's architecture comes from (`model.path`'s
//! `config.json`, a checked-in copy of it under `configs/shapes/`, or `[model.scratch]` with the
//! built-in task's vocabulary) and how many parameters it has.

use std::path::{Path, PathBuf};

use prime_models::{LoraConfig, LoraTarget, Qwen2Config, ScratchArchitecture};

use super::error::PlanError;
use crate::config::TrainConfig;

/// Where copies of public `config.json` files live, one directory per model (named as the last
/// component of `model.path`), for planning without the weights on disk.
pub const SHAPES_DIR: &str = "configs/shapes";

/// The decoder's dimensions, all the planner needs of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    /// Rows of the embedding and of the LM head.
    pub vocab: u64,
    /// Residual width `h`.
    pub hidden: u64,
    /// MLP width `I`.
    pub intermediate: u64,
    /// Decoder layers `L`.
    pub layers: u64,
    /// Query heads `H`.
    pub heads: u64,
    /// Key/value heads `K`.
    pub kv_heads: u64,
    /// Head width `d`.
    pub head_dim: u64,
    /// The LM head is the embedding.
    pub tied: bool,
    /// Biases on q, k, v.
    pub qkv_bias: bool,
    /// Bias on o.
    pub o_bias: bool,
    /// Biases in the MLP.
    pub mlp_bias: bool,
    /// Per-head RMSNorm on queries and keys (Qwen3).
    pub qk_norm: bool,
    /// Where the shape was read from (for the table).
    pub source: String,
}

impl Architecture {
    /// The dimensions of a parsed `config.json`.
    pub fn of_config(config: &Qwen2Config, source: String) -> Self {
        Self {
            vocab: config.vocab_size as u64,
            hidden: config.hidden_size as u64,
            intermediate: config.intermediate_size as u64,
            layers: config.num_hidden_layers as u64,
            heads: config.num_attention_heads as u64,
            kv_heads: config.num_key_value_heads as u64,
            head_dim: config.head_dim as u64,
            tied: config.tie_word_embeddings,
            qkv_bias: config.qkv_bias,
            o_bias: config.o_proj_bias,
            mlp_bias: config.mlp_bias,
            qk_norm: config.qk_norm,
            source,
        }
    }

    /// A `[model.scratch]` architecture with `vocab` rows, as the family builds it (head width
    /// `hidden / heads`, the family's bias and norm flags).
    pub fn of_scratch(scratch: &ScratchArchitecture, vocab: usize, source: String) -> Self {
        let config = Qwen2Config {
            vocab_size: vocab,
            hidden_size: scratch.hidden_size,
            intermediate_size: scratch.intermediate_size,
            num_hidden_layers: scratch.num_hidden_layers,
            num_attention_heads: scratch.num_attention_heads,
            num_key_value_heads: scratch.num_key_value_heads,
            head_dim: scratch.hidden_size / scratch.num_attention_heads.max(1),
            tie_word_embeddings: scratch.tie_word_embeddings,
            ..Qwen2Config::tiny()
        }
        .with_family(scratch.family);
        Self::of_config(&config, source)
    }

    /// `H·d`, the width of all query heads.
    pub fn q_width(&self) -> u64 {
        self.heads * self.head_dim
    }

    /// `K·d`, the width of all key (or value) heads.
    pub fn kv_width(&self) -> u64 {
        self.kv_heads * self.head_dim
    }

    /// `(d_in, d_out)` of a projection.
    pub fn dims(&self, target: LoraTarget) -> (u64, u64) {
        let (h, i) = (self.hidden, self.intermediate);
        match target {
            LoraTarget::QProj => (h, self.q_width()),
            LoraTarget::KProj | LoraTarget::VProj => (h, self.kv_width()),
            LoraTarget::OProj => (self.q_width(), h),
            LoraTarget::GateProj | LoraTarget::UpProj => (h, i),
            LoraTarget::DownProj => (i, h),
        }
    }

    /// Weights of the seven projections of one layer (what a bf16 base stores in bf16).
    pub fn projection_weights_per_layer(&self) -> u64 {
        LoraTarget::ALL
            .iter()
            .map(|&t| {
                let (d_in, d_out) = self.dims(t);
                d_in * d_out
            })
            .sum()
    }

    /// Every parameter but the projection weights: embedding, untied LM head, norms, biases.
    pub fn other_params(&self) -> u64 {
        let (h, i) = (self.hidden, self.intermediate);
        let (q, kv) = (self.q_width(), self.kv_width());
        let head = if self.tied { 0 } else { self.vocab * h };
        let per_layer = 2 * h
            + if self.qkv_bias { q + 2 * kv } else { 0 }
            + if self.o_bias { h } else { 0 }
            + if self.mlp_bias { 2 * i + h } else { 0 }
            + if self.qk_norm { 2 * self.head_dim } else { 0 };
        self.vocab * h + head + h + self.layers * per_layer
    }

    /// All parameters of the model.
    pub fn params(&self) -> u64 {
        self.layers * self.projection_weights_per_layer() + self.other_params()
    }

    /// Parameters of one set of adapters: `L · Σ_targets r·(d_in + d_out)`.
    pub fn adapter_params(&self, lora: &LoraConfig) -> u64 {
        let per_layer: u64 = lora
            .targets
            .iter()
            .map(|&t| {
                let (d_in, d_out) = self.dims(t);
                lora.rank as u64 * (d_in + d_out)
            })
            .sum();
        self.layers * per_layer
    }
}

/// The policy's architecture: `model.path/config.json` when it exists, else
/// `configs/shapes/<last component of model.path>/config.json`, else an error naming both; with
/// no `model.path`, `[model.scratch]` with the vocabulary of `model.tokenizer` or of the
/// built-in task's tokenizer.
pub fn policy_architecture(config: &TrainConfig) -> Result<Architecture, PlanError> {
    match &config.model.path {
        Some(dir) => checkpoint_architecture(dir),
        None => Ok(Architecture::of_scratch(
            &config.model.scratch,
            scratch_vocab(config)?,
            "[model.scratch]".into(),
        )),
    }
}

/// The PRM's architecture when it is a model of its own (`prm.path`, `[prm.scratch]`); `None`
/// when the PRM starts as a copy of the policy.
pub fn prm_architecture(config: &TrainConfig) -> Result<Option<Architecture>, PlanError> {
    match (&config.prm.path, &config.prm.scratch) {
        (Some(dir), _) => checkpoint_architecture(dir).map(Some),
        (None, Some(scratch)) => Ok(Some(Architecture::of_scratch(
            scratch,
            scratch_vocab(config)?,
            "[prm.scratch]".into(),
        ))),
        (None, None) => Ok(None),
    }
}

/// The `config.json` of a checkpoint directory, or its checked-in copy.
fn checkpoint_architecture(dir: &Path) -> Result<Architecture, PlanError> {
    let local = dir.join("config.json");
    let path = if local.is_file() {
        local
    } else {
        let shape = shape_path(dir);
        if !shape.is_file() {
            return Err(PlanError::NoArchitecture { local, shape });
        }
        shape
    };
    let parsed = Qwen2Config::from_file(&path).map_err(|source| PlanError::Config {
        path: path.clone(),
        message: source.to_string(),
    })?;
    Ok(Architecture::of_config(&parsed, path.display().to_string()))
}

/// `configs/shapes/<last component of dir>/config.json`.
pub fn shape_path(dir: &Path) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    Path::new(SHAPES_DIR).join(name).join("config.json")
}

/// The vocabulary a scratch model is built with: `model.tokenizer`'s, else the built-in task's.
fn scratch_vocab(config: &TrainConfig) -> Result<usize, PlanError> {
    if let Some(file) = &config.model.tokenizer {
        let tokenizer =
            prime_models::Tokenizer::from_file(file).map_err(|e| PlanError::Config {
                path: file.clone(),
                message: e.to_string(),
            })?;
        return Ok(tokenizer.vocab_size());
    }
    let tokenizer =
        prime_data::arithmetic::arithmetic_tokenizer(&config.data.task).map_err(|e| {
            PlanError::Config {
                path: "[data.task]".into(),
                message: e.to_string(),
            }
        })?;
    Ok(prime_models::Tokenizer::from_tokenizers(tokenizer, "built-in task").vocab_size())
}
