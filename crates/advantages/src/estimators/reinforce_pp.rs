//! `reinforce_pp`: REINFORCE++, the discounted returns of `reinforce` whitened over the batch.

use crate::advantages::Advantages;
use crate::batch::RolloutBatch;
use crate::error::AdvantageError;
use crate::estimator::AdvantageEstimator;
use crate::options::AdvantageOptions;

use super::reinforce::reinforce_returns;

/// REINFORCE++ (Hu 2025): the discounted returns of [`Reinforce`](crate::Reinforce) with global batch
/// whitening, `A = (G − mean G)/sqrt(var G + 1e-8)` over all valid tokens (`whiten` defaults
/// to true; `whiten = false` gives plain [`Reinforce`](crate::Reinforce)).
#[derive(Debug, Clone, PartialEq)]
pub struct ReinforcePlusPlus {
    options: AdvantageOptions,
}

impl ReinforcePlusPlus {
    /// Validates the options; reads `gamma_*`, `*_coef`, `norm`, `granularity`, `whiten`.
    pub fn new(options: &AdvantageOptions) -> Result<Self, AdvantageError> {
        options.validate()?;
        Ok(Self {
            options: options.clone(),
        })
    }
}

impl AdvantageEstimator for ReinforcePlusPlus {
    fn estimate(&self, batch: &RolloutBatch) -> Result<Advantages, AdvantageError> {
        let returns = reinforce_returns(batch, &self.options);
        Advantages::from_scan(batch, None, returns, self.options.whiten_or(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::RewardNorm;
    use crate::test_util::assert_close;

    /// acc [1, 0], process [1, 2] and [4]; singleton groups are fine here.
    fn batch() -> RolloutBatch {
        RolloutBatch::new(2, vec![0, 1], vec![2, 1], vec![1.0, 0.0])
            .unwrap()
            .with_process(vec![1.0, 2.0, 4.0, f32::NAN])
            .unwrap()
    }

    fn options() -> AdvantageOptions {
        AdvantageOptions {
            norm: RewardNorm::None,
            gamma_process: 0.5,
            process_coef: 2.0,
            ..Default::default()
        }
    }

    #[test]
    fn reinforce_pp_whitens_the_same_returns() {
        // [5, 5, 8]: mean 6, unbiased var (1 + 1 + 4)/2 = 3
        let a = ReinforcePlusPlus::new(&options())
            .unwrap()
            .estimate(&batch())
            .unwrap();
        let s = (3.0f64 + 1e-8).sqrt();
        assert_close(a.advantages(), &[-1.0 / s, -1.0 / s, 2.0 / s, 0.0], 1e-6);
        assert_close(a.returns(), &[5.0, 5.0, 8.0, 0.0], 1e-6);
    }
}
