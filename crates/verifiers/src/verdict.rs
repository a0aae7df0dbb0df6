//! The result of checking one response.

use serde::{Deserialize, Serialize};

/// How a verification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The answer is right (score 1, or partial credit for code).
    Correct,
    /// An answer was found and it is wrong (or only partly right).
    Wrong,
    /// No answer could be extracted from the response.
    NoAnswer,
    /// The check ran out of time; scored 0 and counted.
    Timeout,
    /// The verifier itself failed (bad ground truth, sandbox unavailable, …); scored 0 and counted.
    Error,
}

/// A verifier's judgement of one response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Outcome score `acc ∈ [0, 1]`.
    pub score: f64,
    /// How the check ended.
    pub status: Status,
    /// A short human-readable reason (`"boxed 12 == 12"`, `"test 3: expected 5, got 4"`, …).
    pub reason: String,
}

/// Checks a response against a reference. Implementations never panic and never hang: every
/// failure is a [`Verdict`] with status [`Status::Timeout`] or [`Status::Error`].
pub trait Verifier: Send + Sync {
    /// Judge `response` (the full model output) against `reference`.
    fn verify(&self, response: &str, reference: &crate::Reference) -> Verdict;
}
