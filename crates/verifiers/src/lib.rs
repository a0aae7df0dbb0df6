//! # prime-verifiers
//!
//! Outcome verifiers: PRIME's only source of truth. A bounded math grader, a sandboxed Python
//! code runner, exact-answer verifiers for the built-in tasks, a router and a parallel runner.
//! No burn dependency.

#![warn(missing_docs)]

pub mod code;
pub mod jsonl;
pub mod math;
mod reference;
mod router;
mod runner;
pub mod synthetic;
mod verdict;

pub use code::{CodeConfig, CodeVerifier};
pub use math::{MathConfig, MathVerifier};
pub use reference::Reference;
pub use router::Router;
pub use runner::{BatchResult, RunnerConfig, StatusCounts, VerifyItem, VerifyRunner};
pub use synthetic::ExactAnswerVerifier;
pub use verdict::{Status, Verdict, Verifier};
