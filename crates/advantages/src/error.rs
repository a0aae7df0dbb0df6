//! The crate's error type: every bad input is reported, never a panic.

/// Why a batch could not be built or an estimator could not run.
///
/// Each variant names the field, response (row) and token (column) involved, so a message like
/// `process[3][17] is NaN` points straight at the offending entry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdvantageError {
    /// The batch holds no responses.
    #[error("empty batch: at least one response is needed")]
    EmptyBatch,

    /// Two per-response (or per-token) fields disagree on their size.
    #[error("`{field}` has {found} entries but {expected} were expected ({why})")]
    SizeMismatch {
        /// The field whose size is wrong.
        field: &'static str,
        /// The size implied by the other fields.
        expected: usize,
        /// The size found.
        found: usize,
        /// Where the expected size comes from.
        why: &'static str,
    },

    /// A ragged per-token list is not as long as the response's valid length.
    #[error("`{field}[{response}]` has {found} tokens but `lengths[{response}]` is {length}")]
    RaggedLength {
        /// The field (`process` or `values`).
        field: &'static str,
        /// The response (row).
        response: usize,
        /// The declared valid length.
        length: usize,
        /// The number of tokens given.
        found: usize,
    },

    /// A response's valid length exceeds the padded width of the batch.
    #[error("`lengths[{response}]` is {length}, past the padded width {width}")]
    LengthPastWidth {
        /// The response (row).
        response: usize,
        /// Its declared valid length.
        length: usize,
        /// The padded width of the batch.
        width: usize,
    },

    /// A response has no valid token, so it has no last token to hold the outcome reward.
    #[error(
        "`lengths[{response}]` is 0: every response needs at least one token (the EOS counts)"
    )]
    EmptyResponse {
        /// The response (row).
        response: usize,
    },

    /// A NaN or infinite input value.
    #[error("`{field}[{response}]{}` is {value}: inputs must be finite", token.map(|t| format!("[{t}]")).unwrap_or_default())]
    NonFinite {
        /// The field (`acc`, `process` or `values`).
        field: &'static str,
        /// The response (row).
        response: usize,
        /// The token (column), for per-token fields.
        token: Option<usize>,
        /// The offending value.
        value: f32,
    },

    /// A group is too small for an estimator that compares responses within a group.
    #[error("estimator `{estimator}` needs groups of at least {needed} responses, but group {group} has {size}")]
    GroupTooSmall {
        /// The estimator.
        estimator: &'static str,
        /// The group id as given in the batch.
        group: usize,
        /// The group's size.
        size: usize,
        /// The smallest size the estimator accepts.
        needed: usize,
    },

    /// An estimator needs a per-token input that the batch does not carry.
    #[error("estimator `{estimator}` needs per-token `{field}`, which the batch does not carry")]
    MissingInput {
        /// The estimator.
        estimator: &'static str,
        /// The missing field (`process` or `values`).
        field: &'static str,
    },

    /// Whitening needs an unbiased variance, hence at least two valid tokens in the batch.
    #[error("whitening needs at least 2 valid tokens in the batch, found {valid_tokens}")]
    TooFewTokensToWhiten {
        /// Number of valid tokens in the batch.
        valid_tokens: usize,
    },

    /// An option value is out of range or inconsistent with another option.
    #[error("invalid option `{field}`: {reason}")]
    InvalidOption {
        /// The option (its serde / TOML name).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },

    /// No estimator is registered under this name.
    #[error("unknown advantage estimator `{name}`; valid names: {valid}")]
    UnknownEstimator {
        /// The name asked for.
        name: String,
        /// The registered names, comma separated.
        valid: String,
    },

    /// An estimator is already registered under this name.
    #[error("an advantage estimator named `{name}` is already registered")]
    DuplicateEstimator {
        /// The name.
        name: String,
    },
}
