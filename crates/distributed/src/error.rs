//! What can go wrong between ranks.

use thiserror::Error;

/// A failed collective or a malformed message between ranks.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CommError {
    /// The transport reported an error during `op` on `rank`.
    #[error("rank {rank}: {op} failed: {message}")]
    Transport {
        /// The collective (`gather`, `broadcast`, …).
        op: &'static str,
        /// The rank that saw the error.
        rank: usize,
        /// The transport's words.
        message: String,
    },
    /// Ranks disagreed where they must agree (buffer lengths of an all-reduce, a step number).
    #[error("rank {rank}: {what}")]
    Mismatch {
        /// The rank that noticed.
        rank: usize,
        /// What differed, with both values.
        what: String,
    },
    /// A message from `from` could not be decoded as `what`.
    #[error("message from rank {from} is not a valid {what}: {reason}")]
    Decode {
        /// The rank that sent it.
        from: usize,
        /// What it should have been.
        what: &'static str,
        /// Why it is not.
        reason: String,
    },
    /// A gradient could not be read back from the device or written back.
    #[error("rank {rank}: gradient of parameter {param} (visiting order): {reason}")]
    Gradient {
        /// The rank.
        rank: usize,
        /// The parameter's index in the module's visiting order.
        param: usize,
        /// Why.
        reason: String,
    },
    /// The environment asked for MPI but this build or machine cannot provide it.
    #[error("MPI unavailable: {0}")]
    Unavailable(String),
}
