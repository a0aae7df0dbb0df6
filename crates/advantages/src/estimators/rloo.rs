//! `rloo`: RLOO applied to each reward source separately, then summed and whitened
//! (PRIME's default; docs/algorithm.md §9, paper Eq. 5 and the reference code).

use crate::advantages::Advantages;
use crate::batch::RolloutBatch;
use crate::error::AdvantageError;
use crate::estimator::AdvantageEstimator;
use crate::options::{AdvantageOptions, RlooVariant};
use crate::process::ProcessRewards;
use crate::scans::{two_source_returns, SourceCoefs};

use super::active_process;

/// RLOO per reward source.
///
/// For a source with token rewards `r_{i,t}` on a mask `M` (process: every valid token;
/// outcome: the last valid token, holding `acc_i`), in a group of `K ≥ 2` responses:
/// `μ_j = mean_{t∈M_j} r_{j,t}`, `S = Σ_{j∈group} μ_j` and on `M`
///
/// - `rloo_variant = code` (**default**): `r̃_{i,t} = K/(K−1)·r_{i,t} − S/(K−1)`;
/// - `rloo_variant = paper` (Eq. 5): `r̃_{i,t} = r_{i,t} − (S − μ_i)/(K−1)`.
///
/// On the outcome both are the exact leave-one-out `acc_i − mean_{j≠i} acc_j`. Returns per
/// source `G_{i,t} = Σ_{s≥t} γ^{s−t} r̃_{i,s}` with `gamma_process` / `gamma_outcome`, combined
/// `G = c_p·G^p + c_o·G^o`, then (`whiten`, default true) `A = (G − mean G)/sqrt(var G + 1e-8)`
/// over the valid tokens of the batch. Without process rewards (or `process_coef = 0`) this is
/// the paper's outcome-only RLOO baseline. The process rewards are first preprocessed
/// (`granularity`, `norm`: see [`crate::ProcessRewards`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Rloo {
    options: AdvantageOptions,
}

impl Rloo {
    /// Validates the options; reads `gamma_*`, `*_coef`, `rloo_variant`, `norm`, `granularity`, `whiten`.
    pub fn new(options: &AdvantageOptions) -> Result<Self, AdvantageError> {
        options.validate()?;
        Ok(Self {
            options: options.clone(),
        })
    }
}

impl AdvantageEstimator for Rloo {
    fn estimate(&self, batch: &RolloutBatch) -> Result<Advantages, AdvantageError> {
        batch.require_group_size("rloo", 2)?;
        let o = &self.options;
        let process = active_process(batch, o);
        let (acc, lengths) = (batch.acc(), batch.lengths());
        let mut coefs = vec![
            SourceCoefs {
                process_gain: 0.0,
                process_shift: 0.0,
                outcome: 0.0,
            };
            batch.len()
        ];
        for group in batch.groups() {
            let k = group.members.len() as f64;
            let acc_sum: f64 = group.members.iter().map(|&j| f64::from(acc[j])).sum();
            let process_mean = |j: usize| {
                process
                    .as_ref()
                    .map_or(0.0, |p| p.sum(j) / lengths[j] as f64)
            };
            let mean_sum: f64 = group.members.iter().map(|&j| process_mean(j)).sum();
            for &i in group.members {
                let acc_i = f64::from(acc[i]);
                let c = &mut coefs[i];
                c.outcome = o.outcome_coef * (acc_i - (acc_sum - acc_i) / (k - 1.0));
                if let Some(p) = &process {
                    let (gain, shift) = match o.rloo_variant {
                        RlooVariant::Code => (k / (k - 1.0), -mean_sum / (k - 1.0)),
                        RlooVariant::Paper => (1.0, -(mean_sum - process_mean(i)) / (k - 1.0)),
                    };
                    c.process_gain = o.process_coef * p.scale * gain;
                    c.process_shift = o.process_coef * shift;
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
        Advantages::from_scan(batch, None, returns, o.whiten_or(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::RewardNorm;
    use crate::test_util::assert_close;

    const NAN: f32 = f32::NAN;

    fn raw(options: AdvantageOptions) -> AdvantageOptions {
        AdvantageOptions {
            whiten: Some(false),
            ..options
        }
    }

    #[test]
    fn outcome_only_unequal_groups_discounted_and_truncated() {
        // group 0: acc [1, 0, 0], lengths [2, 3 (truncated at the width), 1]
        //   leave-one-out: 1 − 0 = 1, 0 − 0.5 = −0.5, −0.5 (sums to 0)
        // group 1: acc [1, 1] (all equal) → 0, 0
        // γ_o = 0.5: G = o·0.5^(L−1−t)
        let batch = RolloutBatch::new(
            3,
            vec![0, 0, 0, 1, 1],
            vec![2, 3, 1, 2, 2],
            vec![1.0, 0.0, 0.0, 1.0, 1.0],
        )
        .unwrap();
        let options = raw(AdvantageOptions {
            gamma_outcome: 0.5,
            ..Default::default()
        });
        let a = Rloo::new(&options).unwrap().estimate(&batch).unwrap();
        #[rustfmt::skip]
        let expected = [
            0.5, 1.0, 0.0,
            -0.125, -0.25, -0.5,
            -0.5, 0.0, 0.0,
            0.0, 0.0, 0.0,
            0.0, 0.0, 0.0,
        ];
        assert_close(a.returns(), &expected, 1e-7);
        assert_close(a.advantages(), &expected, 1e-7);
    }

    /// Group of three: process rewards [1, 2], [0], [3, 0, 0]; μ = 1.5, 0, 1; S = 2.5.
    fn process_batch() -> RolloutBatch {
        RolloutBatch::new(3, vec![4, 4, 4], vec![2, 1, 3], vec![0.0; 3])
            .unwrap()
            .with_process(vec![1.0, 2.0, NAN, 0.0, NAN, NAN, 3.0, 0.0, 0.0])
            .unwrap()
    }

    #[test]
    fn process_code_and_paper_variants_by_hand() {
        let options = raw(AdvantageOptions {
            outcome_coef: 0.0,
            norm: RewardNorm::None,
            ..Default::default()
        });
        // code: r̃ = 1.5·r − 1.25 → [0.25, 1.75], [−1.25], [3.25, −1.25, −1.25]
        let a = Rloo::new(&options)
            .unwrap()
            .estimate(&process_batch())
            .unwrap();
        #[rustfmt::skip]
        let code = [2.0, 1.75, 0.0, -1.25, 0.0, 0.0, 0.75, -2.5, -1.25];
        assert_close(a.returns(), &code, 1e-6);
        // paper: r̃ = r − (S − μ_i)/2 → [0.5, 1.5], [−1.25], [2.25, −0.75, −0.75]
        let paper_options = AdvantageOptions {
            rloo_variant: RlooVariant::Paper,
            ..options.clone()
        };
        let a = Rloo::new(&paper_options)
            .unwrap()
            .estimate(&process_batch())
            .unwrap();
        #[rustfmt::skip]
        let paper = [2.0, 1.5, 0.0, -1.25, 0.0, 0.0, 0.75, -1.5, -0.75];
        assert_close(a.returns(), &paper, 1e-6);
        // batch_norm: largest |return-to-go| is 3 (rows 0 and 2), everything is linear in r
        let normed = AdvantageOptions {
            norm: RewardNorm::BatchNorm,
            ..options
        };
        let a = Rloo::new(&normed)
            .unwrap()
            .estimate(&process_batch())
            .unwrap();
        let scaled: Vec<f64> = code.iter().map(|g| g / (3.0 + 1e-6)).collect();
        assert_close(a.returns(), &scaled, 1e-6);
    }

    #[test]
    fn process_gamma_and_whole_granularity() {
        // whole: rows become [0, 3], [0], [0, 0, 3]; μ = 1.5, 0, 1 as before, so
        // code r̃ = 1.5·r − 1.25 on every valid token: [−1.25, 3.25], [−1.25], [−1.25, −1.25, 3.25]
        // γ_p = 0.5: [−1.25 + 1.625, 3.25] = [0.375, 3.25]; [−1.25];
        //   [−1.25 + 0.5·(−1.25 + 1.625), −1.25 + 1.625, 3.25] = [−1.0625, 0.375, 3.25]
        let options = raw(AdvantageOptions {
            outcome_coef: 0.0,
            norm: RewardNorm::None,
            granularity: crate::Granularity::Whole,
            gamma_process: 0.5,
            ..Default::default()
        });
        let a = Rloo::new(&options)
            .unwrap()
            .estimate(&process_batch())
            .unwrap();
        #[rustfmt::skip]
        let expected = [0.375, 3.25, 0.0, -1.25, 0.0, 0.0, -1.0625, 0.375, 3.25];
        assert_close(a.returns(), &expected, 1e-6);
    }

    #[test]
    fn sources_are_weighted_and_whitened() {
        // outcome acc [1, 0, 0] → LOO [1, −0.5, −0.5]; process (code, norm none) as above.
        // c_p = 2, c_o = 3: G = 2·G^p + 3·G^o
        let batch = RolloutBatch::new(3, vec![4, 4, 4], vec![2, 1, 3], vec![1.0, 0.0, 0.0])
            .unwrap()
            .with_process(vec![1.0, 2.0, NAN, 0.0, NAN, NAN, 3.0, 0.0, 0.0])
            .unwrap();
        let options = AdvantageOptions {
            process_coef: 2.0,
            outcome_coef: 3.0,
            norm: RewardNorm::None,
            ..Default::default()
        };
        let a = Rloo::new(&options).unwrap().estimate(&batch).unwrap();
        #[rustfmt::skip]
        let g = [4.0 + 3.0, 3.5 + 3.0, 0.0, -2.5 - 1.5, 0.0, 0.0, 1.5 - 1.5, -5.0 - 1.5, -2.5 - 1.5];
        assert_close(a.returns(), &g, 1e-6);
        // whitened over the six valid tokens 7, 6.5, −4, 0, −6.5, −4: mean −1/6,
        // Σx² = 49 + 42.25 + 16 + 0 + 42.25 + 16 = 165.5, var = (165.5 − 6/36)/5 = 496/15
        let (mean, s) = (-1.0 / 6.0, (496.0f64 / 15.0 + 1e-8).sqrt());
        let valid = [0, 1, 3, 6, 7, 8];
        let mut expected = [0.0; 9];
        for k in valid {
            expected[k] = (g[k] - mean) / s;
        }
        assert_close(a.advantages(), &expected, 1e-6);
    }

    #[test]
    fn groups_of_one_are_rejected() {
        let batch =
            RolloutBatch::new(2, vec![0, 0, 1], vec![2, 1, 1], vec![1.0, 0.0, 1.0]).unwrap();
        let err = Rloo::new(&AdvantageOptions::default())
            .unwrap()
            .estimate(&batch)
            .unwrap_err();
        assert_eq!(
            err,
            AdvantageError::GroupTooSmall {
                estimator: "rloo",
                group: 1,
                size: 1,
                needed: 2
            }
        );
    }
}
