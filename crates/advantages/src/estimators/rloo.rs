//! `rloo`: RLOO applied to each reward source separately, then summed and whitened
//! (PRIME's default; prime-spec.md §9, paper Eq. 5 and the reference code).

use crate::advantages::Advantages;
use crate::batch::RolloutBatch;
use crate::error::AdvantageError;
use crate::estimator::AdvantageEstimator;
use crate::kernels::{two_source_returns, SourceCoefs};
use crate::options::{AdvantageOptions, RlooVariant};

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
            process.as_ref(),
            &coefs,
            o.gamma_process,
            o.gamma_outcome,
        );
        Advantages::from_returns(batch, returns, o.whiten_or(true))
    }
}
