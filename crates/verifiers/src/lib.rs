#![doc = include_str!("../README.md")]
//!
//! ## The API
//!
//! - [`Verifier`]: `verify(response, reference) -> Verdict`, the one trait every verifier
//!   implements; a [`Reference`] is a problem's ground truth with its `ability` and
//!   `data_source`, a [`Verdict`] a score in `[0, 1]`, a [`Status`] and a short reason.
//! - [`MathVerifier`] ([`math`], limits in [`MathConfig`]), [`CodeVerifier`] ([`code`], the
//!   sandbox in [`code::sandbox`], limits in [`CodeConfig`]), [`ExactAnswerVerifier`]
//!   ([`synthetic`]: the built-in tasks' exact answers).
//! - [`Router`]: picks a verifier by `data_source`, then by `ability`; [`Router::register`] adds
//!   a program's own verifier under a name.
//! - [`VerifyRunner`]: a batch of [`VerifyItem`]s on N workers, each under a time limit
//!   ([`RunnerConfig`]), verdicts in order plus [`StatusCounts`] in a [`BatchResult`].

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
