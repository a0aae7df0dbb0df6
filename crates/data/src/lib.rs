//! # prime-data
//!
//! Problems for PRIME: readers for Eurus-2-RL-Data (parquet in the veRL layout, JSONL in the
//! veRL and the older layout), the prompt pipeline (system-prompt override, the model's chat
//! template, length filter, seeded per-epoch shuffling, left-padded token batches, a resumable
//! cursor and the accuracy filter's prompt buffer), and the built-in `arithmetic` task with its
//! tokenizer.
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
