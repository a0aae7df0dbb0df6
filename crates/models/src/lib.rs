#![doc = include_str!("../README.md")]
//!
//! ## The API
//!
//! - [`CausalLm`]: the narrow interface everything else uses (logits of a padded
//!   [`TokenBatch`], one incremental step with a KV cache);
//! - model families: [`PretrainedLm`] (load / save the Hugging Face layout, build from a
//!   [`ScratchArchitecture`]), [`TrainableLm`] (a [`PretrainedLm`] under autodiff whose inference
//!   copy is one too), and [`ModelFamily`], whose [`ModelFamily::dispatch`] is the one place
//!   where `config.json`'s `model_type` picks the Rust type (through a [`FamilyVisitor`]);
//! - [`Qwen2Config`] / [`Qwen2ForCausalLm`]: the decoder every built-in family runs on, its
//!   `family` saying which `config.json` it reads and writes (`Qwen2Config::init` for random
//!   weights, [`load_hf`] / [`save_hf`] for checkpoints, in [`SaveDtype`]);
//! - [`ResponseBatch`] (prompt + response rows) and [`response_scores`]: the one function that
//!   gives the per-token log-probs (and entropy) of responses, used by the old and new policy,
//!   the implicit PRM and its reference, and SFT (with [`ResponseBatch::logprob_chunk`], from
//!   [`CausalLm::hidden_states`] a chunk of tokens at a time, never the whole logits);
//!   [`token_log_probs`], [`entropy`] score a whole [`TokenBatch`];
//! - [`generate`]: sampling with a KV cache;
//! - [`Tokenizer`], [`ChatTemplate`]: `tokenizer.json` and `chat_template` rendering;
//! - [`HostTensor`]: a tensor's values on the host, the unit of checkpoint reading and writing;
//! - [`optim`]: PyTorch-style global grad-norm clipping and AdamW settings; [`optim_state`]:
//!   AdamW state saved by parameter position, so it survives a reload of the weights;
//! - [`backend`]: the default CPU backend (and CUDA behind the `cuda` feature).

#![warn(missing_docs)]

mod adamw_fused;
#[cfg(test)]
mod adamw_fused_tests;
pub mod adapters;
mod attention;
mod attention_fused;
mod attention_rows;
#[cfg(test)]
mod attention_tests;
pub mod backend;
mod backend_dispatch;
mod cache;
mod causal_lm;
mod chat_template;
mod checkpoint;
mod chunked_backward;
mod chunked_response;
mod chunked_scores;
mod config;
mod decoder_layer;
mod error;
mod family;
mod flex_buffers;
pub mod fused;
#[cfg(test)]
mod fused_test_support;
mod hf_config;
mod hf_io;
mod host_tensor;
mod layer_recompute;
mod linear_rows;
mod llama;
mod log_probs;
mod log_probs_fused;
#[cfg(test)]
mod log_probs_fused_tests;
mod log_probs_rows;
pub mod lora;
mod mlp;
mod model;
mod model_family;
pub mod optim;
pub mod optim_state;
pub mod peft;
mod qwen3;
mod response_batch;
mod response_scores;
mod rms_norm;
mod rms_norm_fused;
mod rms_norm_rows;
#[cfg(test)]
mod rms_norm_tests;
mod rotary;
mod rotary_fused;
mod sampling;
mod swiglu_fused;
mod swiglu_rows;
#[cfg(test)]
mod swiglu_tests;
mod token_scores;
mod tokenizer;
mod vector_math;
mod weights;

#[cfg(test)]
mod adapter_tests;
#[cfg(test)]
mod chunked_tests;
#[cfg(test)]
mod model_tests;

pub use adapters::BaseDtype;
pub use attention::Qwen2Attention;
pub use cache::{LayerCache, Qwen2Cache};
pub use causal_lm::{CausalLm, HiddenStates, TokenBatch};
pub use chat_template::{
    ChatMessage, ChatTemplate, ChatTemplateError, SpecialTokens, CHATML_TEMPLATE,
};
pub use config::Qwen2Config;
pub use decoder_layer::Qwen2DecoderLayer;
pub use error::ModelError;
pub use family::{FamilyVisitor, PretrainedLm, ScratchArchitecture, TrainableLm};
pub use hf_config::Llama3RopeScaling;
pub use hf_io::{load_hf, save_hf, SaveDtype};
pub use host_tensor::HostTensor;
pub use layer_recompute::{training_scores, LayerTape, ScoreTape};
pub use log_probs::{
    entropy, next_token_scores, next_token_scores_decomposed, response_scores, token_log_probs,
};
pub use lora::{AdaptedLinear, LoraAdapter, LoraConfig, LoraTarget};
pub use mlp::Qwen2Mlp;
pub use model::{Qwen2ForCausalLm, Qwen2Model};
pub use model_family::ModelFamily;
pub use response_batch::{ResponseBatch, ResponseDims};
pub use response_scores::ResponseScores;
pub use rms_norm::RmsNorm;
pub use rotary::RotaryEmbedding;
pub use sampling::{
    generate, generate_rows, generate_uncached, FinishReason, Generation, SamplingConfig,
};
pub use tokenizer::{Tokenizer, TokenizerError};
