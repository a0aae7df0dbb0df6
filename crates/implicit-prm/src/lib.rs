#![doc = include_str!("../README.md")]
//!
//! ## The API
//!
//! - [`ImplicitPrm`] owns the PRM, its AdamW state and its [`PrmReference`] (a frozen copy run
//!   without autodiff, or the policy's own log-probs); [`ImplicitPrm::token_rewards`] scores a
//!   [`PrmBatch`], [`ImplicitPrm::update`] trains on [`OutcomeLabels`] with the `ce` or `dpo`
//!   loss ([`PrmLoss`]), [`ImplicitPrm::step`] does both in the configured [`UpdateMode`] and
//!   returns a [`PrmOutput`] (rewards + [`PrmStats`]).
//! - [`PrmBatch`] is a [`prime_models::ResponseBatch`] (prompt + response rows) plus, when the
//!   reference is the policy, its `log π_θold`; every log-prob comes from
//!   [`prime_models::response_scores`].
//! - [`PrmConfig`] holds every knob with the defaults of docs/algorithm.md §6–7.
//! - [`ImplicitRewards`] are plain ragged vectors of per-token rewards, the input of the
//!   advantage estimators. Granularity (`token | whole`) and normalisation are the estimator's
//!   options (`prime-advantages`), not this crate's.
//! - [`ImplicitPrm::save`] / [`ImplicitPrm::load`]: a PRM checkpoint directory, the weights in
//!   the model family's Hugging Face layout plus the AdamW state in [`OPTIMIZER_FILE`]`.mpk`;
//!   generic over the family ([`prime_models::TrainableLm`]).
//! - [`ce_loss`], [`dpo_loss`] and [`dpo_accuracy`] are the objectives and the pairwise metric as
//!   plain functions.
//!
//! Scoring and updating work with any [`prime_models::CausalLm`] (as a burn `AutodiffModule`)
//! on any burn backend; the crate knows nothing about verifiers, data files or advantages.

#![warn(missing_docs)]

mod batch;
mod checkpoint;
mod config;
mod error;
mod loss;
mod metrics;
mod prm;
mod rewards;
mod stats;

#[cfg(test)]
mod test_model;

pub use batch::{OutcomeLabels, PrmBatch};
pub use checkpoint::OPTIMIZER_FILE;
pub use config::{PrmConfig, PrmLoss, UpdateMode};
pub use error::PrmError;
pub use loss::{ce_loss, dpo_loss, DpoTargets};
pub use metrics::dpo_accuracy;
pub use prm::{ImplicitPrm, PrmReference};
pub use rewards::ImplicitRewards;
pub use stats::{PrmOutput, PrmStats};
