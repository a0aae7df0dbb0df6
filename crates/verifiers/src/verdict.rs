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

impl Status {
    /// Every status, in a fixed order (the order of [`crate::StatusCounts`]).
    pub const ALL: [Status; 5] = [
        Status::Correct,
        Status::Wrong,
        Status::NoAnswer,
        Status::Timeout,
        Status::Error,
    ];

    /// The snake_case name used in JSON (`"no_answer"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Correct => "correct",
            Status::Wrong => "wrong",
            Status::NoAnswer => "no_answer",
            Status::Timeout => "timeout",
            Status::Error => "error",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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

impl Verdict {
    /// Score 1, [`Status::Correct`].
    pub fn correct(reason: impl Into<String>) -> Self {
        Self::new(1.0, Status::Correct, reason)
    }

    /// Score 0, [`Status::Wrong`].
    pub fn wrong(reason: impl Into<String>) -> Self {
        Self::new(0.0, Status::Wrong, reason)
    }

    /// Score 0, [`Status::NoAnswer`].
    pub fn no_answer(reason: impl Into<String>) -> Self {
        Self::new(0.0, Status::NoAnswer, reason)
    }

    /// Score 0, [`Status::Timeout`].
    pub fn timeout(reason: impl Into<String>) -> Self {
        Self::new(0.0, Status::Timeout, reason)
    }

    /// Score 0, [`Status::Error`].
    pub fn error(reason: impl Into<String>) -> Self {
        Self::new(0.0, Status::Error, reason)
    }

    /// A verdict with an explicit score, clamped into `[0, 1]` (NaN becomes 0).
    pub fn new(score: f64, status: Status, reason: impl Into<String>) -> Self {
        let score = if score.is_nan() {
            0.0
        } else {
            score.clamp(0.0, 1.0)
        };
        Self {
            score,
            status,
            reason: reason.into(),
        }
    }
}

/// Checks a response against a reference. Implementations never panic and never hang: every
/// failure is a [`Verdict`] with status [`Status::Timeout`] or [`Status::Error`].
pub trait Verifier: Send + Sync {
    /// Judge `response` (the full model output) against `reference`.
    fn verify(&self, response: &str, reference: &crate::Reference) -> Verdict;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_clamped_and_nan_is_zero() {
        assert_eq!(Verdict::new(1.5, Status::Correct, "").score, 1.0);
        assert_eq!(Verdict::new(-0.5, Status::Wrong, "").score, 0.0);
        assert_eq!(Verdict::new(f64::NAN, Status::Wrong, "").score, 0.0);
        assert_eq!(Verdict::new(0.3, Status::Wrong, "").score, 0.3);
    }

    #[test]
    fn status_names_match_serde() {
        for status in Status::ALL {
            let json = serde_json::to_string(&status).expect("serialise status");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
    }
}
