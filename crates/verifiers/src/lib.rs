//! # prime-verifiers
//!
//! Outcome verifiers: PRIME's only source of truth. A bounded math grader, a sandboxed Python
//! code runner, exact-answer verifiers for the built-in tasks, a router and a parallel runner.
//! No burn dependency.

mod reference;
mod verdict;

pub use reference::Reference;
pub use verdict::{Status, Verdict, Verifier};
