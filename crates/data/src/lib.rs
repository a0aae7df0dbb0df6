#![doc = include_str!("../README.md")]
//!
//! ## The API
//!
//! - [`Problem`]: id, data source, ability, chat messages and the verifiers'
//!   [`Reference`](prime_verifiers::Reference).
//! - Reading: [`ProblemReader`] (streaming) and [`read_problems`] (all at once), with
//!   [`ReadOptions`] ([`OnBadRow`], [`Layout`]) and [`ReadStats`]; errors are [`DataError`].
//!   Writing: [`write_jsonl`], [`write_parquet`] ([`verl_schema`]).
//! - [`prompts`]: the prompt pipeline, [`prompts::PromptBatcher`] and the
//!   [`prompts::BatcherState`] a checkpoint stores.
//! - [`arithmetic`]: the built-in task ([`arithmetic::ArithmeticConfig`]) and its tokenizer.
//!
//! Architecture invariant: this crate knows the verifiers' [`Reference`](prime_verifiers::Reference)
//! and the models' tokenizer, never a model, a reward or the trainer.

#![warn(missing_docs)]

pub mod arithmetic;
mod error;
mod problem;
pub mod prompts;
mod read;
mod rng;
mod write;

pub use error::{DataError, Result};
pub use problem::Problem;
pub use read::{
    read_problems, Format, Layout, OnBadRow, ProblemReader, ReadOptions, ReadStats,
    MAX_SKIPPED_EXAMPLES,
};
pub use rng::SplitMix64;
pub use write::{verl_schema, write_jsonl, write_parquet};
