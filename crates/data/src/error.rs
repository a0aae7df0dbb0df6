//! The crate's error type: every variant names the file, and where it applies the row and field.

use std::path::PathBuf;

/// Everything that can go wrong reading, generating or batching problems.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The parquet file is unreadable or unwritable as a whole (bad footer, codec, …).
    #[error("{path}: parquet: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What the parquet/arrow library reported.
        message: String,
    },
    /// The file's schema lacks a required column or stores it with an unusable type; no row of
    /// it can be read.
    #[error("{path}: column `{field}`: {reason}")]
    Schema {
        /// The file.
        path: PathBuf,
        /// The column, dotted for nested fields (`reward_model.ground_truth`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// One row is malformed. `row` is the 0-based index of the row in the file (for JSONL the
    /// 0-based line index, so line `row + 1` in an editor).
    #[error("{path}: row {row}, field `{field}`: {reason}")]
    BadRow {
        /// The file.
        path: PathBuf,
        /// 0-based row (JSONL: line) index.
        row: usize,
        /// The offending field, dotted for nested fields (`prompt[1].content`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file's extension is not one this crate reads.
    #[error("{path}: unknown data format (expected .parquet, .jsonl or .json)")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// A tokenizer could not be built, saved, loaded or applied.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A configuration value is out of range (generator knobs, batch sizes, cursor mismatch).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parquet(path: impl Into<PathBuf>, message: impl ToString) -> Self {
        Self::Parquet {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
