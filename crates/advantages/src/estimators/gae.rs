//! `gae`: PPO's generalised advantage estimation with a learned value head.

use crate::advantages::Advantages;
use crate::batch::RolloutBatch;
use crate::error::AdvantageError;
use crate::estimator::AdvantageEstimator;
use crate::options::AdvantageOptions;
use crate::scans::gae_row;

use super::active_process;

/// GAE (Schulman et al. 2016) on the token rewards
/// `r_{i,t} = c_p·r^p_{i,t} + c_o·acc_i·1[t = L_i−1]` and the batch's `values` `V_{i,t}`:
/// `δ_t = r_t + γ·V_{t+1} − V_t` (`V_{L_i} = 0`), `A_t = Σ_{s≥t} (γλ)^{s−t} δ_s`,
/// returns `A_t + V_t`. `γ = gamma_outcome` (the paper's PPO runs use γ = λ = 1); with process
/// rewards active, `gamma_process` must equal it, since one value head sees one discount.
/// Advantages whitened over the batch unless `whiten = false`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gae {
    options: AdvantageOptions,
}

impl Gae {
    /// Validates the options; reads `gamma_*`, `lambda`, `*_coef`, `norm`, `granularity`, `whiten`.
    pub fn new(options: &AdvantageOptions) -> Result<Self, AdvantageError> {
        options.validate()?;
        Ok(Self {
            options: options.clone(),
        })
    }
}

impl AdvantageEstimator for Gae {
    fn estimate(&self, batch: &RolloutBatch) -> Result<Advantages, AdvantageError> {
        let o = &self.options;
        if batch.values().is_none() {
            return Err(AdvantageError::MissingInput {
                estimator: "gae",
                field: "values",
            });
        }
        let process = active_process(batch, o);
        if process.is_some() && o.gamma_process != o.gamma_outcome {
            return Err(AdvantageError::InvalidOption {
                field: "gamma_process",
                reason: format!(
                    "gae discounts the summed reward with one γ: gamma_process ({}) must equal gamma_outcome ({})",
                    o.gamma_process, o.gamma_outcome
                ),
            });
        }
        let width = batch.width();
        let mut advantages = vec![0.0f32; batch.len() * width];
        let mut returns = vec![0.0f32; batch.len() * width];
        let rows = advantages
            .chunks_exact_mut(width)
            .zip(returns.chunks_exact_mut(width));
        for (response, (a_row, g_row)) in batch.responses().zip(rows) {
            let length = response.length;
            let values = response.values.unwrap_or_default();
            let outcome = o.outcome_coef * f64::from(response.acc);
            let process_row = process
                .as_ref()
                .map(|p| (p.row(response.index, length), o.process_coef * p.scale));
            gae_row(
                |t| {
                    let dense = process_row.map_or(0.0, |(row, gain)| gain * f64::from(row[t]));
                    let reward = if t + 1 == length {
                        dense + outcome
                    } else {
                        dense
                    };
                    (reward, f64::from(values[t]))
                },
                o.gamma_outcome,
                o.lambda,
                &mut a_row[..length],
                &mut g_row[..length],
            );
        }
        Advantages::from_scan(batch, Some(advantages), returns, o.whiten_or(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::RewardNorm;
    use crate::test_util::assert_close;

    fn batch() -> RolloutBatch {
        RolloutBatch::new(4, vec![0], vec![3], vec![1.0])
            .unwrap()
            .with_process(vec![0.2, 0.0, -0.2, f32::NAN])
            .unwrap()
            .with_values(vec![0.5, 0.25, 0.75, f32::NAN])
            .unwrap()
    }

    fn options() -> AdvantageOptions {
        AdvantageOptions {
            norm: RewardNorm::None,
            gamma_process: 0.5,
            gamma_outcome: 0.5,
            lambda: 0.5,
            whiten: Some(false),
            ..Default::default()
        }
    }

    #[test]
    fn gae_by_hand() {
        // rewards [0.2, 0, −0.2 + 1], V = [0.5, 0.25, 0.75], γ = λ = 0.5
        // δ = [0.2 + 0.125 − 0.5, 0.375 − 0.25, 0.8 − 0.75] = [−0.175, 0.125, 0.05]
        // A = [−0.175 + 0.25·0.1375, 0.125 + 0.25·0.05, 0.05] = [−0.140625, 0.1375, 0.05]
        let a = Gae::new(&options()).unwrap().estimate(&batch()).unwrap();
        assert_close(a.advantages(), &[-0.140625, 0.1375, 0.05, 0.0], 1e-7);
        assert_close(a.returns(), &[0.359375, 0.3875, 0.8, 0.0], 1e-7);
    }

    #[test]
    fn gae_needs_values_and_one_gamma() {
        let no_values = RolloutBatch::new(1, vec![0], vec![1], vec![1.0]).unwrap();
        let err = Gae::new(&options())
            .unwrap()
            .estimate(&no_values)
            .unwrap_err();
        assert_eq!(
            err,
            AdvantageError::MissingInput {
                estimator: "gae",
                field: "values"
            }
        );
        let o = AdvantageOptions {
            gamma_process: 0.9,
            ..options()
        };
        let err = Gae::new(&o).unwrap().estimate(&batch()).unwrap_err();
        assert!(matches!(
            err,
            AdvantageError::InvalidOption {
                field: "gamma_process",
                ..
            }
        ));
        // without the process source the two γ may differ
        let o = AdvantageOptions {
            process_coef: 0.0,
            ..o
        };
        assert!(Gae::new(&o).unwrap().estimate(&batch()).is_ok());
    }
}
