//! [`PrmStats`] and [`PrmOutput`]: what one PRM phase reports.

use crate::ImplicitRewards;

/// Metrics of one PRM phase (docs/algorithm.md §12).
#[derive(Debug, Clone, PartialEq)]
pub struct PrmStats {
    /// Mean training loss over the batch's sequences, each mini-batch's loss taken before its
    /// optimizer step; `None` when the PRM was not updated (mode `none`).
    pub loss: Option<f32>,
    /// Mean over optimizer steps of the global gradient norm before clipping; `None` without
    /// an update.
    pub grad_norm: Option<f32>,
    /// `dpo_acc` of the rewards from the forwards before each mini-batch's update (mode `after`:
    /// the rewards returned; `none`: the only forward).
    pub dpo_acc_before: f32,
    /// `dpo_acc` of a forward after all updates: always for mode `before`, for mode `after` only
    /// with `measure_after_update`, never for `none`.
    pub dpo_acc_after: Option<f32>,
    /// Mean of the token rewards over all valid tokens.
    pub reward_mean: f32,
    /// Population standard deviation of the token rewards over all valid tokens.
    pub reward_std: f32,
    /// Optimizer steps taken in this phase.
    pub optimizer_steps: usize,
}

/// Rewards and metrics of one PRM phase of a training step ([`crate::ImplicitPrm::step`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PrmOutput {
    /// The process rewards to feed the advantage estimator.
    pub rewards: ImplicitRewards,
    /// The phase's metrics.
    pub stats: PrmStats,
}
