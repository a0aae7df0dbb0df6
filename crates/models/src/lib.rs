//! # prime-models
//!
//! Causal language models of the Qwen2 family on burn, generic over the backend:
//! Hugging Face `config.json` + safetensors loading and saving, masked token log-probs and entropy,
//! and batched KV-cache sampling.

mod causal_lm;
mod chat_template;
mod tokenizer;

pub use causal_lm::{CausalLm, TokenBatch};
pub use chat_template::{
    ChatMessage, ChatTemplate, ChatTemplateError, SpecialTokens, CHATML_TEMPLATE,
};
pub use tokenizer::{Tokenizer, TokenizerError};
