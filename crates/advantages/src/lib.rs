#![doc = include_str!("../README.md")]
//!
//! ## The API
//!
//! - In: a [`RolloutBatch`] — responses grouped by prompt, valid lengths, outcome scores
//!   `acc`, optional per-token process rewards and values, flat `[n, width]` storage.
//! - Out: [`Advantages`] — per-token advantages and (pre-whitening) returns in the same padded
//!   layout, padding exactly 0, plus [`AdvantageStats`].
//! - One trait, [`AdvantageEstimator`], and a [`Registry`] so a config string picks an
//!   estimator and a fork registers a new one without touching this crate.
//!
//! ## Estimators
//!
//! | name | what | default `whiten` | needs |
//! |---|---|---|---|
//! | `rloo` | RLOO per reward source, summed (PRIME default); outcome-only RLOO without `process` | true | groups ≥ 2 |
//! | `grpo` | Eq. 7, `scale = group \| batch \| none` (Dr.GRPO) | false | groups ≥ 2 |
//! | `reinforce` | Eq. 8, discounted returns | false | — |
//! | `reinforce_pp` | REINFORCE++: discounted returns, batch whitening | true | — |
//! | `gae` | GAE with a value head | true | `values` |
//! | `prm_value` | PRM as value, `A = acc − Σ_{s<t} r^p_s` | true | `process` |
//!
//! Every estimator first preprocesses the process rewards ([`ProcessRewards`]: granularity
//! `token | whole`, normalisation `batch_norm | none`), treats the outcome as a reward on the
//! last valid token (discounted by `gamma_outcome`), and weights the sources by `process_coef`
//! and `outcome_coef`; `process_coef = 0` or a batch without `process` means outcome only.
//! Whitening is `A = (X − mean X) / sqrt(var X + 1e-8)`, mean and unbiased variance over all
//! valid tokens of the batch. The equations are in each estimator's docs ([`estimators`]).
//!
//! ## A new estimator
//!
//! Implement [`AdvantageEstimator`] (build the output with [`Advantages::from_returns`] or
//! [`Advantages::from_parts`]) and register a constructor:
//! `registry.register("mine", |options| Ok(Box::new(Mine::new(options)?)))`.
//! See `examples/custom_estimator.rs` in the workspace.
//!
//! ## Cost
//!
//! Each estimator is a few passes over the batch: per-response coefficients (O(n)), one
//! backward scan per row for the returns (rows of similar length are scanned four at a time so
//! the floating-point dependency chains overlap), and one pass for the statistics and
//! whitening; accumulation in f64, storage in f32. On 1024 responses × 3072 tokens with process
//! rewards (`benches/advantages.rs`) the default `rloo` costs about 12 ms of CPU with a warm
//! allocator; fresh output pages add page-fault time on top.
//!
//! ## From the command line
//!
//! `cargo run --release --example advantages -- <name> [options] < batch.json` runs any
//! estimator on a JSON batch (`examples/advantages/` in the workspace: the schema, the options
//! and the command-line parsing live there, not in this crate).

#![warn(missing_docs)]

mod advantages;
mod batch;
mod error;
mod estimator;
pub mod estimators;
mod moments;
mod options;
mod process;
mod registry;
mod scans;
#[cfg(test)]
mod test_util;

pub use advantages::{AdvantageStats, Advantages, WHITEN_EPS};
pub use batch::{Group, Response, RolloutBatch, RolloutBatchData};
pub use error::AdvantageError;
pub use estimator::AdvantageEstimator;
pub use estimators::{Gae, Grpo, PrmValue, Reinforce, ReinforcePlusPlus, Rloo};
pub use options::{AdvantageOptions, Granularity, GrpoScale, RewardNorm, RlooVariant};
pub use process::{ProcessRewards, BATCH_NORM_EPS};
pub use registry::{BuiltinEstimator, Constructor, Registry};
