//! `grpo`: group-normalised rewards (paper Eq. 7), with Dr.GRPO's unscaled form.

use crate::advantages::Advantages;
use crate::batch::RolloutBatch;
use crate::error::AdvantageError;
use crate::estimator::AdvantageEstimator;
use crate::options::{AdvantageOptions, GrpoScale};
use crate::process::ProcessRewards;
use crate::scans::{two_source_returns, SourceCoefs};

use super::{active_process, mean_and_std};

/// ε added to the std in GRPO's division, so an all-equal group gives 0 (docs/algorithm.md §9).
pub const GRPO_STD_EPS: f64 = 1e-6;

/// GRPO with the implicit PRM as a second reward source (Eq. 7):
///
/// - outcome on the last valid token: `(acc_i − mean_j acc_j) / σ^o`;
/// - process on every valid token: `(r^p_{i,t} − mean_j μ'_j) / σ^p` with `μ'_j = Σ_t r^p_{j,t} / L_j`;
///
/// means over the group `j ∈ group(i)`; `σ` by `scale`: `group` (**default**) the group's
/// unbiased std + 1e-6, `batch` the batch's unbiased std (of `acc`, of `μ'`) + 1e-6, `none` 1
/// (Dr.GRPO). Returns `G = c_p·Σ_{s≥t} γ_p^{s−t} r̃^p_{i,s} + c_o·γ_o^{L_i−1−t} r̃^o_i`
/// (at `γ_o = 1` the outcome term is constant over the response, as in Eq. 7). Not whitened
/// unless `whiten = true`. Groups need at least 2 responses.
#[derive(Debug, Clone, PartialEq)]
pub struct Grpo {
    options: AdvantageOptions,
}

impl Grpo {
    /// Validates the options; reads `gamma_*`, `*_coef`, `scale`, `norm`, `granularity`, `whiten`.
    pub fn new(options: &AdvantageOptions) -> Result<Self, AdvantageError> {
        options.validate()?;
        Ok(Self {
            options: options.clone(),
        })
    }
}

impl AdvantageEstimator for Grpo {
    fn estimate(&self, batch: &RolloutBatch) -> Result<Advantages, AdvantageError> {
        batch.require_group_size("grpo", 2)?;
        let o = &self.options;
        let process = active_process(batch, o);
        let (acc, lengths) = (batch.acc(), batch.lengths());
        let acc_of = |j: usize| f64::from(acc[j]);
        let process_mean = |j: usize| {
            process
                .as_ref()
                .map_or(0.0, |p| p.sum(j) / lengths[j] as f64)
        };
        let all = 0..batch.len();
        let batch_std_acc = mean_and_std(all.clone().map(acc_of)).1;
        let batch_std_process = mean_and_std(all.map(process_mean)).1;
        let divisor = |std: f64, batch_std: f64| match o.scale {
            GrpoScale::Group => std + GRPO_STD_EPS,
            GrpoScale::Batch => batch_std + GRPO_STD_EPS,
            GrpoScale::None => 1.0,
        };
        let mut coefs = vec![
            SourceCoefs {
                process_gain: 0.0,
                process_shift: 0.0,
                outcome: 0.0,
            };
            batch.len()
        ];
        for group in batch.groups() {
            let members = group.members.iter().copied();
            let (acc_mean, acc_std) = mean_and_std(members.clone().map(acc_of));
            let (mu_mean, mu_std) = mean_and_std(members.map(process_mean));
            let sigma_o = divisor(acc_std, batch_std_acc);
            let sigma_p = divisor(mu_std, batch_std_process);
            for &i in group.members {
                let c = &mut coefs[i];
                c.outcome = o.outcome_coef * (acc_of(i) - acc_mean) / sigma_o;
                if let Some(p) = &process {
                    c.process_gain = o.process_coef * p.scale / sigma_p;
                    c.process_shift = -o.process_coef * mu_mean / sigma_p;
                }
            }
        }
        let returns = two_source_returns(
            batch,
            process.as_ref().map(ProcessRewards::flat),
            &coefs,
            o.gamma_process,
            o.gamma_outcome,
        );
        Advantages::from_scan(batch, None, returns, o.whiten_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::RewardNorm;
    use crate::test_util::assert_close;

    /// acc [1, 0]; process [1, 3] and [4]: μ' = 2, 4 (mean 3, std √2).
    fn batch() -> RolloutBatch {
        RolloutBatch::new(2, vec![0, 0], vec![2, 1], vec![1.0, 0.0])
            .unwrap()
            .with_process(vec![1.0, 3.0, 4.0, f32::NAN])
            .unwrap()
    }

    fn options(scale: GrpoScale) -> AdvantageOptions {
        AdvantageOptions {
            estimator: "grpo".into(),
            norm: RewardNorm::None,
            scale,
            ..Default::default()
        }
    }

    #[test]
    fn group_scale_by_hand() {
        // outcome: (acc − 0.5)/(√0.5 + 1e-6); process: (r − 3)/(√2 + 1e-6) on every token
        let so = 0.5f64.sqrt() + 1e-6;
        let sp = 2.0f64.sqrt() + 1e-6;
        let a = Grpo::new(&options(GrpoScale::Group))
            .unwrap()
            .estimate(&batch())
            .unwrap();
        let expected = [
            -2.0 / sp + 0.5 / so,
            0.0 + 0.5 / so,
            1.0 / sp - 0.5 / so,
            0.0,
        ];
        assert_close(a.returns(), &expected, 1e-6);
        assert_close(a.advantages(), &expected, 1e-6); // not whitened by default
    }

    #[test]
    fn unscaled_dr_grpo_by_hand() {
        // outcome ±0.5; process r − 3: [−2, 0], [1]
        let a = Grpo::new(&options(GrpoScale::None))
            .unwrap()
            .estimate(&batch())
            .unwrap();
        assert_close(a.advantages(), &[-1.5, 0.5, 0.5, 0.0], 1e-6);
    }

    #[test]
    fn batch_scale_and_all_equal_group() {
        // outcome only; groups acc [1, 0] and [1, 1]. Batch std of [1, 0, 1, 1] is 0.5.
        // group: ±0.5/(√0.5 + 1e-6), all-equal group 0 (not NaN); batch: ±0.5/0.500001, 0.
        let b =
            RolloutBatch::new(1, vec![0, 0, 1, 1], vec![1; 4], vec![1.0, 0.0, 1.0, 1.0]).unwrap();
        let a = Grpo::new(&options(GrpoScale::Batch))
            .unwrap()
            .estimate(&b)
            .unwrap();
        let x = 0.5 / (0.5 + 1e-6);
        assert_close(a.advantages(), &[x, -x, 0.0, 0.0], 1e-6);
        let a = Grpo::new(&options(GrpoScale::Group))
            .unwrap()
            .estimate(&b)
            .unwrap();
        let y = 0.5 / (0.5f64.sqrt() + 1e-6);
        assert_close(a.advantages(), &[y, -y, 0.0, 0.0], 1e-6);
    }

    #[test]
    fn groups_of_one_are_rejected() {
        let b = RolloutBatch::new(1, vec![0, 1], vec![1, 1], vec![1.0, 0.0]).unwrap();
        let err = Grpo::new(&options(GrpoScale::None))
            .unwrap()
            .estimate(&b)
            .unwrap_err();
        assert!(matches!(
            err,
            AdvantageError::GroupTooSmall {
                estimator: "grpo",
                size: 1,
                ..
            }
        ));
    }
}
