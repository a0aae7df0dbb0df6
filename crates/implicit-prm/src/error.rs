//! The crate's error type: every variant names the input (row, field, tensor, file) at fault.

use std::path::PathBuf;

/// Errors of the implicit PRM: malformed batches or labels, bad configuration, checkpoint I/O.
#[derive(Debug, thiserror::Error)]
pub enum PrmError {
    /// A batch is internally inconsistent (shapes, response start, lengths).
    #[error("invalid PRM batch: {0}")]
    Batch(String),
    /// The outcome labels do not match the batch or hold values outside `[0, 1]`.
    #[error("invalid outcome labels: {0}")]
    Labels(String),
    /// A configuration value is out of range.
    #[error("invalid PRM config field `{field}`: {reason}")]
    Config {
        /// The offending field of [`crate::PrmConfig`].
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// `PrmReference::Policy` was chosen but the batch carries no `reference_log_probs`.
    #[error(
        "the PRM reference is the policy, but the batch carries no `reference_log_probs` \
         (log π_θold of the response tokens)"
    )]
    MissingPolicyLogProbs,
    /// A tensor read back from the device could not be converted to `f32`.
    #[error("could not read tensor `{tensor}` back from the device: {reason}")]
    TensorData {
        /// Which tensor.
        tensor: &'static str,
        /// The backend's message.
        reason: String,
    },
    /// A collective between data-parallel ranks failed.
    #[error(transparent)]
    Collective(#[from] prime_distributed::CommError),
    /// The PRM produced a non-finite loss or gradient norm.
    #[error("non-finite {what} in PRM update (mini-batch {mini_batch})")]
    NonFinite {
        /// `loss` or `grad norm`.
        what: &'static str,
        /// Index of the mini-batch.
        mini_batch: usize,
    },
    /// Reading or writing a checkpoint file failed.
    #[error("PRM checkpoint `{path}`: {reason}")]
    Checkpoint {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Loading or saving the PRM's weights failed (the message names the file or tensor).
    #[error(transparent)]
    Model(#[from] prime_models::ModelError),
}
