//! # prime-implicit-prm
//!
//! Implicit process rewards (PRIME, Cui et al. 2025, arXiv 2502.01456): a causal LM `π_φ`
//! trained only on outcome labels, whose per-token log-likelihood ratio to a reference,
//! `q_t = log π_φ(y_t | x, y_<t) − log π_ref(y_t | x, y_<t)`, is a dense reward `r_t = β·q_t`.
//!
//! - [`ImplicitPrm`] owns the PRM, its AdamW state and its [`PrmReference`] (a frozen copy or the
//!   policy's own log-probs); [`ImplicitPrm::token_rewards`] scores a [`PrmBatch`],
//!   [`ImplicitPrm::update`] trains on [`OutcomeLabels`], [`ImplicitPrm::step`] does both in the
//!   configured [`UpdateMode`].
//! - [`PrmConfig`] holds every knob with the defaults of docs/algorithm.md §6–7.
//! - [`ImplicitRewards`] are plain ragged vectors the advantage estimators consume.
//!
//! The crate works with any [`prime_models::CausalLm`] on any burn backend and knows nothing
//! about verifiers or data files.

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
