//! [`AdvantageEstimator`]: the one trait an advantage function implements.

use crate::advantages::Advantages;
use crate::batch::RolloutBatch;
use crate::error::AdvantageError;

/// An advantage function: a batch of scored rollouts in, per-token advantages and returns out.
///
/// Implementations are pure (the same batch gives the same result) and hold their options,
/// typically built from [`crate::AdvantageOptions`] by a [`crate::Registry`] constructor.
/// `Send + Sync` so a trainer can keep one behind an `Arc` or in a `Box` across threads.
pub trait AdvantageEstimator: Send + Sync {
    /// Advantages and returns in the padded layout of `batch` (`[n, width]`, padding 0).
    fn estimate(&self, batch: &RolloutBatch) -> Result<Advantages, AdvantageError>;
}
