//! `prm_value`: the implicit PRM as the value function of PPO (paper Table 4).

use crate::advantages::Advantages;
use crate::batch::RolloutBatch;
use crate::error::AdvantageError;
use crate::estimator::AdvantageEstimator;
use crate::options::AdvantageOptions;
use crate::scans::gae_row;

use super::active_process;

/// PRM as value: `V_{i,t} = c_p·Σ_{s<t} r^p_{i,s}` (the implicit PRM's value of the prefix
/// `y_{<t}`, `Σ β q`), outcome reward `c_o·acc_i` on the last valid token, and GAE with
/// `γ = gamma_outcome` and `lambda`. At the defaults γ = λ = 1 this is exactly
/// `A_{i,t} = c_o·acc_i − c_p·Σ_{s<t} r^p_{i,s}`, returns `c_o·acc_i`. Advantages whitened
/// over the batch unless `whiten = false`. Needs process rewards; consider `norm = "none"` so
/// that `V` is on the scale of `acc` (the default `batch_norm` rescales the process rewards).
#[derive(Debug, Clone, PartialEq)]
pub struct PrmValue {
    options: AdvantageOptions,
}

impl PrmValue {
    /// Validates the options; reads `gamma_outcome`, `lambda`, `*_coef`, `norm`, `granularity`, `whiten`.
    pub fn new(options: &AdvantageOptions) -> Result<Self, AdvantageError> {
        options.validate()?;
        Ok(Self {
            options: options.clone(),
        })
    }
}

impl AdvantageEstimator for PrmValue {
    fn estimate(&self, batch: &RolloutBatch) -> Result<Advantages, AdvantageError> {
        let o = &self.options;
        if batch.process().is_none() {
            return Err(AdvantageError::MissingInput {
                estimator: "prm_value",
                field: "process",
            });
        }
        let process = active_process(batch, o);
        let width = batch.width();
        let mut advantages = vec![0.0f32; batch.len() * width];
        let mut returns = vec![0.0f32; batch.len() * width];
        let rows = advantages
            .chunks_exact_mut(width)
            .zip(returns.chunks_exact_mut(width));
        for (response, (a_row, g_row)) in batch.responses().zip(rows) {
            let length = response.length;
            let outcome = o.outcome_coef * f64::from(response.acc);
            // V_t = c_p·Σ_{s<t} r_s = c_p·(Σ_s r_s − Σ_{s≥t} r_s), with the suffix sum kept
            // while GAE walks backwards
            let (row, scale, total) = match &process {
                Some(p) => (
                    p.row(response.index, length),
                    p.scale,
                    p.sum(response.index),
                ),
                None => (&[][..], 0.0, 0.0),
            };
            let mut to_go = 0.0f64;
            gae_row(
                |t| {
                    if let Some(&r) = row.get(t) {
                        to_go += scale * f64::from(r);
                    }
                    let value = o.process_coef * (total - to_go);
                    let reward = if t + 1 == length { outcome } else { 0.0 };
                    (reward, value)
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

    #[test]
    fn prm_as_value_by_hand() {
        // A = acc − Σ_{s<t} r: [1, 1 − 0.5, 1 − 0.75] and [0, 0.25]; returns acc
        let batch = RolloutBatch::new(3, vec![0, 0], vec![3, 2], vec![1.0, 0.0])
            .unwrap()
            .with_process(vec![0.5, 0.25, -0.5, -0.25, 0.5, f32::NAN])
            .unwrap();
        let options = AdvantageOptions {
            norm: RewardNorm::None,
            whiten: Some(false),
            ..Default::default()
        };
        let a = PrmValue::new(&options).unwrap().estimate(&batch).unwrap();
        assert_close(a.advantages(), &[1.0, 0.5, 0.25, 0.0, 0.25, 0.0], 1e-7);
        assert_close(a.returns(), &[1.0, 1.0, 1.0, 0.0, 0.0, 0.0], 1e-7);
    }

    #[test]
    fn needs_process_rewards() {
        let batch = RolloutBatch::new(1, vec![0], vec![1], vec![1.0]).unwrap();
        let err = PrmValue::new(&AdvantageOptions::default())
            .unwrap()
            .estimate(&batch)
            .unwrap_err();
        assert_eq!(
            err,
            AdvantageError::MissingInput {
                estimator: "prm_value",
                field: "process"
            }
        );
    }
}
