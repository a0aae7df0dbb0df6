//! [`Advantages`]: the plain-data output of every estimator, and masked whitening.

use serde::{Deserialize, Serialize};

use crate::batch::RolloutBatch;
use crate::error::AdvantageError;
use crate::moments::Moments;

/// ε under the square root of the whitening variance (docs/algorithm.md §9).
pub const WHITEN_EPS: f64 = 1e-8;

/// Per-token advantages and returns in the padded layout of the batch, `[n, width]` row-major,
/// with padding (`t ≥ L_i`) exactly 0, plus summary statistics over the valid tokens.
///
/// `returns` are always the pre-whitening values (for GAE-style estimators `A + V`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advantages {
    width: usize,
    lengths: Vec<usize>,
    advantages: Vec<f32>,
    returns: Vec<f32>,
    stats: AdvantageStats,
}

/// Summary statistics over the valid tokens (std is the unbiased sample std).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdvantageStats {
    /// Number of valid tokens `Σ_i L_i`.
    pub valid_tokens: usize,
    /// Mean advantage.
    pub advantage_mean: f32,
    /// Std of the advantages.
    pub advantage_std: f32,
    /// Smallest advantage.
    pub advantage_min: f32,
    /// Largest advantage.
    pub advantage_max: f32,
    /// Mean return.
    pub return_mean: f32,
    /// Std of the returns.
    pub return_std: f32,
    /// Smallest return.
    pub return_min: f32,
    /// Largest return.
    pub return_max: f32,
}

impl Advantages {
    /// Advantages equal to the returns, optionally whitened:
    /// `A = (G − mean(G)) / sqrt(var(G) + 1e-8)`, mean and unbiased variance over all valid
    /// tokens of the batch. `returns` is `[n, width]`; its padding is zeroed.
    pub fn from_returns(
        batch: &RolloutBatch,
        returns: Vec<f32>,
        whiten: bool,
    ) -> Result<Self, AdvantageError> {
        Self::build(batch, None, returns, whiten)
    }

    /// Advantages and returns computed separately (GAE-style: `returns = A + V`), the
    /// advantages optionally whitened. Both are `[n, width]`; padding is zeroed.
    pub fn from_parts(
        batch: &RolloutBatch,
        advantages: Vec<f32>,
        returns: Vec<f32>,
        whiten: bool,
    ) -> Result<Self, AdvantageError> {
        Self::build(batch, Some(advantages), returns, whiten)
    }

    /// Output of the crate's own scans, whose padding is already 0.
    pub(crate) fn from_scan(
        batch: &RolloutBatch,
        advantages: Option<Vec<f32>>,
        returns: Vec<f32>,
        whiten: bool,
    ) -> Result<Self, AdvantageError> {
        Self::assemble(batch, advantages, returns, whiten)
    }

    fn build(
        batch: &RolloutBatch,
        mut advantages: Option<Vec<f32>>,
        mut returns: Vec<f32>,
        whiten: bool,
    ) -> Result<Self, AdvantageError> {
        let (width, lengths) = (batch.width(), batch.lengths());
        check_output_size("returns", &returns, batch)?;
        zero_padding(&mut returns, width, lengths);
        if let Some(a) = &mut advantages {
            check_output_size("advantages", a, batch)?;
            zero_padding(a, width, lengths);
        }
        Self::assemble(batch, advantages, returns, whiten)
    }

    /// Statistics and optional whitening of correctly sized outputs with zero padding.
    fn assemble(
        batch: &RolloutBatch,
        advantages: Option<Vec<f32>>,
        returns: Vec<f32>,
        whiten: bool,
    ) -> Result<Self, AdvantageError> {
        let (width, lengths) = (batch.width(), batch.lengths());
        let return_moments = finite_moments("returns", &returns, batch)?;
        let advantage_moments = match &advantages {
            Some(a) => finite_moments("advantages", a, batch)?,
            None => return_moments,
        };
        let mut advantage_stats = Summary::of(&advantage_moments);
        let advantages = if whiten {
            if advantage_moments.count < 2 {
                return Err(AdvantageError::TooFewTokensToWhiten {
                    valid_tokens: advantage_moments.count,
                });
            }
            let mean = advantage_moments.mean();
            let inv_std = 1.0 / (advantage_moments.unbiased_var() + WHITEN_EPS).sqrt();
            // A whitened value is an affine map of the raw one, so are its statistics.
            advantage_stats = Summary {
                mean: (advantage_stats.mean - mean) * inv_std,
                std: advantage_stats.std * inv_std,
                min: (advantage_stats.min - mean) * inv_std,
                max: (advantage_stats.max - mean) * inv_std,
            };
            match advantages {
                Some(mut a) => {
                    whiten_in_place(&mut a, width, lengths, mean, inv_std);
                    a
                }
                None => whitened_copy(&returns, width, lengths, mean, inv_std),
            }
        } else {
            advantages.unwrap_or_else(|| returns.clone())
        };
        let return_stats = Summary::of(&return_moments);
        let stats = AdvantageStats {
            valid_tokens: return_moments.count,
            advantage_mean: advantage_stats.mean as f32,
            advantage_std: advantage_stats.std as f32,
            advantage_min: advantage_stats.min as f32,
            advantage_max: advantage_stats.max as f32,
            return_mean: return_stats.mean as f32,
            return_std: return_stats.std as f32,
            return_min: return_stats.min as f32,
            return_max: return_stats.max as f32,
        };
        Ok(Self {
            width,
            lengths: lengths.to_vec(),
            advantages,
            returns,
            stats,
        })
    }

    /// Padded width (same as the batch).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Valid length per response (same as the batch).
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }

    /// Per-token advantages, `[n, width]` row-major, padding 0.
    pub fn advantages(&self) -> &[f32] {
        &self.advantages
    }

    /// Per-token returns (pre-whitening), `[n, width]` row-major, padding 0.
    pub fn returns(&self) -> &[f32] {
        &self.returns
    }

    /// Advantages of the valid tokens of response `i`, `[L_i]`.
    pub fn advantage_row(&self, i: usize) -> &[f32] {
        &self.advantages[i * self.width..i * self.width + self.lengths[i]]
    }

    /// Returns of the valid tokens of response `i`, `[L_i]`.
    pub fn return_row(&self, i: usize) -> &[f32] {
        &self.returns[i * self.width..i * self.width + self.lengths[i]]
    }

    /// Summary statistics over the valid tokens.
    pub fn stats(&self) -> &AdvantageStats {
        &self.stats
    }

    /// `(advantages, returns)`, both `[n, width]` row-major.
    pub fn into_parts(self) -> (Vec<f32>, Vec<f32>) {
        (self.advantages, self.returns)
    }
}

/// Mean, std, min, max in f64 before rounding into [`AdvantageStats`].
struct Summary {
    mean: f64,
    std: f64,
    min: f64,
    max: f64,
}

impl Summary {
    fn of(m: &Moments) -> Self {
        Self {
            mean: m.mean(),
            std: m.unbiased_var().sqrt(),
            min: m.min,
            max: m.max,
        }
    }
}

fn check_output_size(
    field: &'static str,
    flat: &[f32],
    batch: &RolloutBatch,
) -> Result<(), AdvantageError> {
    let expected = batch.len() * batch.width();
    if flat.len() == expected {
        Ok(())
    } else {
        Err(AdvantageError::SizeMismatch {
            field,
            expected,
            found: flat.len(),
            why: "responses × padded width",
        })
    }
}

/// Moments of the valid tokens, or the first non-finite entry as an error.
fn finite_moments(
    field: &'static str,
    flat: &[f32],
    batch: &RolloutBatch,
) -> Result<Moments, AdvantageError> {
    let m = Moments::of_valid(flat, batch.width(), batch.lengths());
    if m.is_finite() {
        return Ok(m);
    }
    for (response, &length) in batch.lengths().iter().enumerate() {
        let row = &flat[response * batch.width()..response * batch.width() + length];
        if let Some(token) = row.iter().position(|v| !v.is_finite()) {
            return Err(AdvantageError::NonFinite {
                field,
                response,
                token: Some(token),
                value: row[token],
            });
        }
    }
    // finite entries whose squares overflow f64 cannot come from f32 inputs
    Ok(m)
}

fn zero_padding(flat: &mut [f32], width: usize, lengths: &[usize]) {
    for (row, &length) in flat.chunks_exact_mut(width.max(1)).zip(lengths) {
        row[length..].fill(0.0);
    }
}

fn whiten_in_place(flat: &mut [f32], width: usize, lengths: &[usize], mean: f64, inv_std: f64) {
    for (row, &length) in flat.chunks_exact_mut(width.max(1)).zip(lengths) {
        for x in &mut row[..length] {
            *x = ((f64::from(*x) - mean) * inv_std) as f32;
        }
    }
}

/// `(x − mean)·inv_std` on the valid tokens of `flat`, 0 in the padding, in a new array.
fn whitened_copy(
    flat: &[f32],
    width: usize,
    lengths: &[usize],
    mean: f64,
    inv_std: f64,
) -> Vec<f32> {
    // zeroed pages from the allocator: padding is never written (nor faulted in)
    let mut out = vec![0.0f32; flat.len()];
    let rows = out
        .chunks_exact_mut(width.max(1))
        .zip(flat.chunks_exact(width.max(1)));
    for ((out_row, row), &length) in rows.zip(lengths) {
        for (y, &x) in out_row[..length].iter_mut().zip(&row[..length]) {
            *y = ((f64::from(x) - mean) * inv_std) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> RolloutBatch {
        RolloutBatch::new(3, vec![0, 0], vec![3, 1], vec![1.0, 0.0]).unwrap()
    }

    #[test]
    fn whitening_by_hand() {
        // valid returns 1, 2, 3 | 6 ; mean 3, Σ(x−3)² = 4+1+0+9 = 14, var = 14/3
        let returns = vec![1.0, 2.0, 3.0, 6.0, 9.0, 9.0];
        let a = Advantages::from_returns(&batch(), returns, true).unwrap();
        let s = (14.0f64 / 3.0 + 1e-8).sqrt();
        let expected = [-2.0 / s, -1.0 / s, 0.0, 3.0 / s, 0.0, 0.0];
        for (x, e) in a.advantages().iter().zip(expected) {
            assert!((f64::from(*x) - e).abs() < 1e-6, "{x} vs {e}");
        }
        // padding of the returns is zeroed too, returns stay pre-whitening
        assert_eq!(a.returns(), &[1.0, 2.0, 3.0, 6.0, 0.0, 0.0]);
        let st = a.stats();
        assert_eq!(st.valid_tokens, 4);
        assert!(st.advantage_mean.abs() < 1e-7);
        assert!((st.advantage_std - 1.0).abs() < 1e-6);
        assert!((f64::from(st.advantage_max) - 3.0 / s).abs() < 1e-6);
        assert_eq!(st.return_mean, 3.0);
        assert_eq!(st.return_max, 6.0);
    }

    #[test]
    fn not_whitened_is_identity_on_valid_tokens() {
        let a = Advantages::from_parts(
            &batch(),
            vec![0.5, -0.5, 0.25, 1.0, 7.0, 7.0],
            vec![1.0, 2.0, 3.0, 6.0, 9.0, 9.0],
            false,
        )
        .unwrap();
        assert_eq!(a.advantage_row(0), &[0.5, -0.5, 0.25]);
        assert_eq!(a.advantage_row(1), &[1.0]);
        assert_eq!(a.advantages()[4..], [0.0, 0.0]);
        assert_eq!(a.stats().advantage_min, -0.5);
    }

    #[test]
    fn errors_on_bad_outputs() {
        let err = Advantages::from_returns(&batch(), vec![0.0; 5], false).unwrap_err();
        assert!(matches!(
            err,
            AdvantageError::SizeMismatch {
                field: "returns",
                ..
            }
        ));
        let err =
            Advantages::from_returns(&batch(), vec![0.0, f32::NAN, 0.0, 0.0, 0.0, 0.0], false)
                .unwrap_err();
        assert!(matches!(
            err,
            AdvantageError::NonFinite {
                field: "returns",
                response: 0,
                token: Some(1),
                ..
            }
        ));
        let one = RolloutBatch::new(2, vec![0], vec![1], vec![1.0]).unwrap();
        let err = Advantages::from_returns(&one, vec![1.0, 0.0], true).unwrap_err();
        assert_eq!(
            err,
            AdvantageError::TooFewTokensToWhiten { valid_tokens: 1 }
        );
    }
}
