//! The built-in estimators, one per file, each with the equation it implements
//! (docs/algorithm.md §9).

mod gae;
mod grpo;
mod prm_value;
mod reinforce;
mod reinforce_pp;
mod rloo;

pub use gae::Gae;
pub use grpo::Grpo;
pub use prm_value::PrmValue;
pub use reinforce::Reinforce;
pub use reinforce_pp::ReinforcePlusPlus;
pub use rloo::Rloo;

use crate::batch::RolloutBatch;
use crate::options::AdvantageOptions;
use crate::process::ProcessRewards;

/// The preprocessed process source, or `None` when the batch carries no process rewards or
/// `process_coef = 0` (outcome only).
fn active_process<'a>(
    batch: &'a RolloutBatch,
    options: &AdvantageOptions,
) -> Option<ProcessRewards<'a>> {
    if options.process_coef == 0.0 {
        return None;
    }
    ProcessRewards::prepare(batch, options.granularity, options.norm)
}

/// Mean and unbiased std of `values` (std 0 for fewer than two values).
fn mean_and_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let (count, sum) = values
        .clone()
        .fold((0usize, 0.0), |(c, s), v| (c + 1, s + v));
    if count == 0 {
        return (0.0, 0.0);
    }
    let mean = sum / count as f64;
    if count < 2 {
        return (mean, 0.0);
    }
    let sq: f64 = values.map(|v| (v - mean) * (v - mean)).sum();
    (mean, (sq / (count as f64 - 1.0)).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_unbiased_std() {
        let (m, s) = mean_and_std([1.0, 2.0, 3.0, 6.0].into_iter());
        assert_eq!(m, 3.0);
        assert!((s - (14.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(mean_and_std([5.0].into_iter()), (5.0, 0.0));
    }
}
