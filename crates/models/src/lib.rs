//! # prime-models
//!
//! Causal language models of the Qwen2 family on burn, generic over the backend:
//! Hugging Face `config.json` + safetensors loading and saving, masked token log-probs and entropy,
//! and batched KV-cache sampling.
//!
//! - [`Qwen2Config`] / [`Qwen2ForCausalLm`]: the model (`Qwen2Config::init` for random weights,
//!   [`load_hf`] / [`save_hf`] for checkpoints);
//! - [`CausalLm`]: the narrow interface everything else uses;
//! - [`token_log_probs`], [`entropy`]: per-token scores of a batch;
//! - [`generate`]: sampling with a KV cache;
//! - [`optim`]: PyTorch-style global grad-norm clipping and AdamW settings;
//! - [`backend`]: the default CPU backend (and CUDA behind the `cuda` feature).

#![warn(missing_docs)]

mod attention;
pub mod backend;
mod cache;
mod causal_lm;
mod chat_template;
mod checkpoint;
mod config;
mod decoder_layer;
mod error;
mod family;
mod hf_io;
mod host_tensor;
mod linear_rows;
mod log_probs;
mod mlp;
mod model;
pub mod optim;
pub mod optim_state;
mod response_batch;
mod rms_norm;
mod rotary;
mod sampling;
mod tokenizer;
mod weights;

#[cfg(test)]
mod model_tests;

pub use attention::Qwen2Attention;
pub use cache::{LayerCache, Qwen2Cache};
pub use causal_lm::{CausalLm, TokenBatch};
pub use chat_template::{
    ChatMessage, ChatTemplate, ChatTemplateError, SpecialTokens, CHATML_TEMPLATE,
};
pub use config::Qwen2Config;
pub use decoder_layer::Qwen2DecoderLayer;
pub use error::ModelError;
pub use family::{FamilyVisitor, ModelFamily, PretrainedLm, ScratchArchitecture, TrainableLm};
pub use hf_io::{load_hf, save_hf, SaveDtype};
pub use host_tensor::HostTensor;
pub use log_probs::{entropy, response_scores, token_log_probs, ResponseScores};
pub use mlp::Qwen2Mlp;
pub use model::{Qwen2ForCausalLm, Qwen2Model};
pub use response_batch::{ResponseBatch, ResponseDims};
pub use rms_norm::RmsNorm;
pub use rotary::RotaryEmbedding;
pub use sampling::{generate, generate_uncached, FinishReason, Generation, SamplingConfig};
pub use tokenizer::{Tokenizer, TokenizerError};
