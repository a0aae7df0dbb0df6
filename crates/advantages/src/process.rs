//! Process-reward preprocessing shared by every estimator (docs/algorithm.md §6 granularity,
//! §8 normalisation).

use std::borrow::Cow;

use crate::batch::RolloutBatch;
use crate::options::{Granularity, RewardNorm};
use crate::scans::{backward_lockstep, blocks_by_length, LANES};

/// ε added to the largest absolute return-to-go in `batch_norm` (docs/algorithm.md §8).
pub const BATCH_NORM_EPS: f64 = 1e-6;

/// Process rewards after granularity and normalisation, without materialising the scaled copy:
/// the processed reward of token `t` of response `i` is `scale · rewards[i * width + t]`.
#[derive(Debug, Clone)]
pub struct ProcessRewards<'a> {
    rewards: Cow<'a, [f32]>,
    width: usize,
    /// Normalisation factor: `1 / (max_{i,t} |Σ_{s≥t} r_{i,s}| + 1e-6)` or 1.
    pub scale: f64,
    /// `Σ_t r_{i,t}` per response, before `scale`.
    row_sums: Vec<f64>,
}

impl<'a> ProcessRewards<'a> {
    /// Preprocesses the batch's process rewards, `None` when it carries none.
    ///
    /// - `granularity = whole`: `r'_{i,L_i−1} = Σ_t r_{i,t}`, 0 elsewhere.
    /// - `norm = batch_norm`: divide by `max_{i,t} |Σ_{s≥t} r'_{i,s}| + 1e-6` (undiscounted
    ///   return-to-go, over the valid tokens of the whole batch).
    pub fn prepare(
        batch: &'a RolloutBatch,
        granularity: Granularity,
        norm: RewardNorm,
    ) -> Option<Self> {
        let raw = batch.process()?;
        let (width, lengths) = (batch.width(), batch.lengths());
        let rewards: Cow<'a, [f32]> = match granularity {
            Granularity::Token => Cow::Borrowed(raw),
            Granularity::Whole => {
                let mut whole = vec![0.0f32; raw.len()];
                for (i, &length) in lengths.iter().enumerate() {
                    let row = &raw[i * width..i * width + length];
                    whole[i * width + length - 1] =
                        row.iter().map(|&r| f64::from(r)).sum::<f64>() as f32;
                }
                Cow::Owned(whole)
            }
        };
        let (row_sums, scale) = match norm {
            RewardNorm::None => {
                let sums = lengths
                    .iter()
                    .enumerate()
                    .map(|(i, &length)| row_sum(&rewards[i * width..i * width + length]))
                    .collect();
                (sums, 1.0)
            }
            RewardNorm::BatchNorm => {
                let (sums, largest) = sums_and_max_abs_return(&rewards, width, lengths);
                (sums, 1.0 / (largest + BATCH_NORM_EPS))
            }
        };
        Some(Self {
            rewards,
            width,
            scale,
            row_sums,
        })
    }

    /// The valid tokens of response `i` before `scale`, `[length]`.
    pub fn row(&self, i: usize, length: usize) -> &[f32] {
        &self.rewards[i * self.width..i * self.width + length]
    }

    /// All rows before `scale`, `[n, width]` row-major (padding unspecified).
    pub(crate) fn flat(&self) -> &[f32] {
        &self.rewards
    }

    /// `Σ_t r'_{i,t}` of response `i` after `scale`.
    pub fn sum(&self, i: usize) -> f64 {
        self.row_sums[i] * self.scale
    }
}

fn row_sum(row: &[f32]) -> f64 {
    const LANES: usize = 8;
    let mut acc = [0.0f64; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail: f64 = chunks.remainder().iter().map(|&r| f64::from(r)).sum();
    for chunk in chunks {
        for k in 0..LANES {
            acc[k] += f64::from(chunk[k]);
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// `(Σ_t r_{i,t}` per row, `max_{i,t} |Σ_{s≥t} r_{i,s}|)` over the valid tokens, by backward
/// scans of [`LANES`] rows at a time.
fn sums_and_max_abs_return(rewards: &[f32], width: usize, lengths: &[usize]) -> (Vec<f64>, f64) {
    let mut sums = vec![0.0; lengths.len()];
    let mut largest = [0.0f64; LANES];
    for block in blocks_by_length(lengths) {
        let mut to_go = [0.0f64; LANES];
        backward_lockstep(block.lengths, |lane, t| {
            to_go[lane] += f64::from(rewards[block.rows[lane] * width + t]);
            largest[lane] = largest[lane].max(to_go[lane].abs());
        });
        for lane in 0..LANES {
            if block.lengths[lane] > 0 {
                sums[block.rows[lane]] = to_go[lane];
            }
        }
    }
    (sums, largest.into_iter().fold(0.0, f64::max))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> RolloutBatch {
        // rows: [1, -3, 1] and [2 | pad 5 5]
        RolloutBatch::new(3, vec![0, 0], vec![3, 1], vec![1.0, 0.0])
            .unwrap()
            .with_process(vec![1.0, -3.0, 1.0, 2.0, 5.0, 5.0])
            .unwrap()
    }

    #[test]
    fn batch_norm_divides_by_largest_abs_return_to_go() {
        // returns-to-go: row 0: [-1, -2, 1], row 1: [2]; largest |.| = 2
        let b = batch();
        let p = ProcessRewards::prepare(&b, Granularity::Token, RewardNorm::BatchNorm).unwrap();
        assert!((p.scale - 1.0 / (2.0 + 1e-6)).abs() < 1e-15);
        assert_eq!(p.row(0, 3), &[1.0, -3.0, 1.0]);
        assert!((p.sum(0) - (-1.0 / (2.0 + 1e-6))).abs() < 1e-12);
        assert!((p.sum(1) - 2.0 / (2.0 + 1e-6)).abs() < 1e-12);
    }

    #[test]
    fn whole_granularity_moves_the_sum_to_the_last_token() {
        let b = batch();
        let p = ProcessRewards::prepare(&b, Granularity::Whole, RewardNorm::None).unwrap();
        assert_eq!(p.scale, 1.0);
        assert_eq!(p.row(0, 3), &[0.0, 0.0, -1.0]);
        assert_eq!(p.row(1, 1), &[2.0]);
        let p = ProcessRewards::prepare(&b, Granularity::Whole, RewardNorm::BatchNorm).unwrap();
        // returns-to-go now [-1, -1, -1] and [2]
        assert!((p.scale - 1.0 / (2.0 + 1e-6)).abs() < 1e-15);
    }

    #[test]
    fn absent_process_gives_none() {
        let b = RolloutBatch::new(1, vec![0], vec![1], vec![1.0]).unwrap();
        assert!(ProcessRewards::prepare(&b, Granularity::Token, RewardNorm::BatchNorm).is_none());
    }
}
