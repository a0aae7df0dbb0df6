//! `reinforce`: discounted returns of both reward sources, no baseline (paper Eq. 8).

use crate::advantages::Advantages;
use crate::batch::RolloutBatch;
use crate::error::AdvantageError;
use crate::estimator::AdvantageEstimator;
use crate::options::AdvantageOptions;
use crate::process::ProcessRewards;
use crate::scans::{two_source_returns, SourceCoefs};

use super::active_process;

/// REINFORCE with the implicit PRM (Eq. 8):
/// `A_{i,t} = c_o·γ_o^{L_i−1−t}·acc_i + c_p·Σ_{s≥t} γ_p^{s−t} r^p_{i,s}` (at `γ_o = 1`, the
/// paper's `c_o·acc_i`). No baseline, no groups needed; not whitened unless `whiten = true`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reinforce {
    options: AdvantageOptions,
}

impl Reinforce {
    /// Validates the options; reads `gamma_*`, `*_coef`, `norm`, `granularity`, `whiten`.
    pub fn new(options: &AdvantageOptions) -> Result<Self, AdvantageError> {
        options.validate()?;
        Ok(Self {
            options: options.clone(),
        })
    }
}

impl AdvantageEstimator for Reinforce {
    fn estimate(&self, batch: &RolloutBatch) -> Result<Advantages, AdvantageError> {
        let returns = reinforce_returns(batch, &self.options);
        Advantages::from_scan(batch, None, returns, self.options.whiten_or(false))
    }
}

/// `c_p·Σ_{s≥t} γ_p^{s−t} r^p_{i,s} + c_o·γ_o^{L_i−1−t}·acc_i`, `[n, width]`.
pub(super) fn reinforce_returns(batch: &RolloutBatch, o: &AdvantageOptions) -> Vec<f32> {
    let process = active_process(batch, o);
    let gain = process.as_ref().map_or(0.0, |p| o.process_coef * p.scale);
    let coefs: Vec<SourceCoefs> = batch
        .acc()
        .iter()
        .map(|&acc| SourceCoefs {
            process_gain: gain,
            process_shift: 0.0,
            outcome: o.outcome_coef * f64::from(acc),
        })
        .collect();
    two_source_returns(
        batch,
        process.as_ref().map(ProcessRewards::flat),
        &coefs,
        o.gamma_process,
        o.gamma_outcome,
    )
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
    fn reinforce_by_hand() {
        // G^p = [1 + 0.5·2, 2] = [2, 2] and [4]; ×2, + acc: [5, 5], [8]
        let a = Reinforce::new(&options())
            .unwrap()
            .estimate(&batch())
            .unwrap();
        assert_close(a.advantages(), &[5.0, 5.0, 8.0, 0.0], 1e-6);
        // γ_o = 0.5 discounts the outcome from the last token: [4 + 0.5, 4 + 1]
        let o = AdvantageOptions {
            gamma_outcome: 0.5,
            ..options()
        };
        let a = Reinforce::new(&o).unwrap().estimate(&batch()).unwrap();
        assert_close(a.advantages(), &[4.5, 5.0, 8.0, 0.0], 1e-6);
    }
}
