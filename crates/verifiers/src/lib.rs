//! # prime-verifiers
//!
//! Outcome verifiers: PRIME's only source of truth. A bounded math grader, a sandboxed Python
//! code runner, exact-answer verifiers for the built-in tasks, a router and a parallel runner.
//! No burn dependency.
//!
//! ```
//! use std::sync::Arc;
//! use prime_verifiers::{Reference, Router, RunnerConfig, Status, Verifier, VerifyItem, VerifyRunner};
//!
//! let reference = Reference {
//!     ability: "math".into(),
//!     data_source: "numina_olympiads".into(),
//!     ground_truth: r"\frac{1}{2}".into(),
//! };
//! let router = Router::default(); // math, code, and the built-in synthetic tasks
//! assert_eq!(router.verify(r"so the answer is \boxed{0.5}.", &reference).status, Status::Correct);
//!
//! let runner = VerifyRunner::new(Arc::new(router), RunnerConfig::default());
//! let items = vec![VerifyItem { response: r"\boxed{2/4}".into(), reference }];
//! let batch = runner.run(items);
//! assert_eq!(batch.counts.correct, 1);
//! ```

#![warn(missing_docs)]

pub mod code;
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
