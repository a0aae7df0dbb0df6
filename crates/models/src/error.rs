//! The crate's error type: every failure names the file, field or tensor it concerns.

use std::path::PathBuf;

/// Errors from reading, validating, building or writing a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (config.json, a shard index, …) is not valid JSON or lacks a required field.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error; it names the missing or malformed field.
        #[source]
        source: serde_json::Error,
    },
    /// A configuration value is out of range or unsupported.
    #[error("invalid model config: field `{field}`: {reason}")]
    InvalidConfig {
        /// The offending config.json field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A safetensors file is corrupted or truncated.
    #[error("{path}: not a valid safetensors file: {reason}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The decoder's diagnosis.
        reason: String,
    },
    /// A tensor the model needs is not in the checkpoint.
    #[error("missing tensor `{name}` in {dir}")]
    MissingTensor {
        /// Hugging Face tensor name, e.g. `model.layers.0.self_attn.q_proj.weight`.
        name: String,
        /// The checkpoint directory.
        dir: PathBuf,
    },
    /// The checkpoint holds a tensor the model does not have.
    #[error("unexpected tensor `{name}` in {path}")]
    UnexpectedTensor {
        /// Hugging Face tensor name.
        name: String,
        /// The file holding it.
        path: PathBuf,
    },
    /// A tensor has a shape other than the config implies.
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?} (from config.json)")]
    ShapeMismatch {
        /// Hugging Face tensor name.
        name: String,
        /// Shape the config implies.
        expected: Vec<usize>,
        /// Shape stored in the file.
        found: Vec<usize>,
    },
    /// A tensor is stored in a dtype this crate does not read.
    #[error("tensor `{name}` has unsupported dtype {dtype} (supported: F32, BF16, F16)")]
    UnsupportedDtype {
        /// Hugging Face tensor name.
        name: String,
        /// The stored dtype.
        dtype: String,
    },
    /// A saved optimizer state could not be written, read, or matched to the model.
    #[error("{path}: optimizer state: {reason}")]
    OptimizerState {
        /// The state file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A batch of token rows is malformed (lengths disagree, a row is empty, …).
    #[error("invalid batch: {0}")]
    Batch(String),
    /// A tokenizer could not be loaded or used, or its chat template failed (the
    /// [`crate::TokenizerError`] names the file).
    #[error(transparent)]
    Tokenizer(#[from] crate::TokenizerError),
}
