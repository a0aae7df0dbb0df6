//! The CPU scans every built-in estimator reduces to, after computing a few coefficients per
//! response: discounted returns of an affine process reward plus a terminal outcome reward, and
//! GAE; and the interleaved backward scan over blocks of rows of similar length that both they
//! and the process-reward preprocessing (`process.rs`) are built on.
//!
//! Plain slices in, plain slices out: this file depends on nothing but the batch layout.

use crate::batch::RolloutBatch;

/// Per-response coefficients of [`two_source_returns`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SourceCoefs {
    /// Multiplies the stored (unscaled) process reward of each valid token.
    pub process_gain: f64,
    /// Added to every valid token's process reward (a baseline, e.g. `−S/(K−1)`).
    pub process_shift: f64,
    /// Reward on the last valid token from the outcome source.
    pub outcome: f64,
}

/// `G_{i,t} = Σ_{s=t}^{L_i−1} γ_p^{s−t} (a_i·r_{i,s} + b_i) + γ_o^{L_i−1−t} · o_i` for `t < L_i`,
/// 0 in the padding; `[n, width]`. `process` is `r` as `[n, width]` row-major (e.g.
/// [`ProcessRewards::flat`](crate::ProcessRewards), its scale folded into `a_i`); absent
/// (treated as 0) without a process source.
pub(crate) fn two_source_returns(
    batch: &RolloutBatch,
    process: Option<&[f32]>,
    coefs: &[SourceCoefs],
    gamma_process: f64,
    gamma_outcome: f64,
) -> Vec<f32> {
    let width = batch.width();
    let lengths = batch.lengths();
    // zeroed pages from the allocator: padding is never written (nor faulted in)
    let mut returns = vec![0.0f32; lengths.len() * width];
    let zero = SourceCoefs {
        process_gain: 0.0,
        process_shift: 0.0,
        outcome: 0.0,
    };
    for block in blocks_by_length(lengths) {
        let c: [SourceCoefs; LANES] = std::array::from_fn(|lane| match block.lengths[lane] {
            0 => zero,
            _ => coefs[block.rows[lane]],
        });
        let base: [usize; LANES] = std::array::from_fn(|lane| block.rows[lane] * width);
        let mut process_to_go = [0.0f64; LANES];
        let mut outcome_to_go: [f64; LANES] = std::array::from_fn(|lane| c[lane].outcome);
        match process {
            Some(rewards) => {
                backward_lockstep(block.lengths, |lane, t| {
                    let k = base[lane] + t;
                    let to_go = c[lane].process_gain * f64::from(rewards[k])
                        + c[lane].process_shift
                        + gamma_process * process_to_go[lane];
                    process_to_go[lane] = to_go;
                    returns[k] = (to_go + outcome_to_go[lane]) as f32;
                    outcome_to_go[lane] *= gamma_outcome;
                });
            }
            None => backward_lockstep(block.lengths, |lane, t| {
                let to_go = c[lane].process_shift + gamma_process * process_to_go[lane];
                process_to_go[lane] = to_go;
                returns[base[lane] + t] = (to_go + outcome_to_go[lane]) as f32;
                outcome_to_go[lane] *= gamma_outcome;
            }),
        }
    }
    returns
}

/// Rows processed together by [`backward_lockstep`].
pub(crate) const LANES: usize = 4;

/// Up to [`LANES`] rows scanned together; unused lanes have length 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block {
    /// Row indices in the batch.
    pub rows: [usize; LANES],
    /// Their valid lengths.
    pub lengths: [usize; LANES],
}

/// All rows in blocks of [`LANES`], longest first, so the rows of a block have similar
/// lengths and [`backward_lockstep`] spends little time on unmatched tails.
pub(crate) fn blocks_by_length(lengths: &[usize]) -> Vec<Block> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_unstable_by_key(|&i| std::cmp::Reverse(lengths[i]));
    order
        .chunks(LANES)
        .map(|chunk| {
            let mut block = Block {
                rows: [0; LANES],
                lengths: [0; LANES],
            };
            for (lane, &row) in chunk.iter().enumerate() {
                block.rows[lane] = row;
                block.lengths[lane] = lengths[row];
            }
            block
        })
        .collect()
}

/// Calls `step(lane, t)` for every valid token `t < lengths[lane]` of [`LANES`] rows, each
/// row from its last token backwards, the rows interleaved token by token (aligned on their
/// last tokens) while all are active. A row of length 0 is skipped.
///
/// A backward scan is one long dependency chain per row (`x_t = f(x_{t+1})`), bound by the
/// floating-point latency; interleaving independent rows lets the CPU overlap the chains. The
/// lane loops have a constant trip count so the per-lane state stays in registers.
#[inline(always)]
pub(crate) fn backward_lockstep(lengths: [usize; LANES], mut step: impl FnMut(usize, usize)) {
    let common = lengths.iter().copied().min().unwrap_or(0);
    for k in 0..common {
        for (lane, &length) in lengths.iter().enumerate() {
            step(lane, length - 1 - k);
        }
    }
    for (lane, &length) in lengths.iter().enumerate() {
        for t in (0..length - common).rev() {
            step(lane, t);
        }
    }
}

/// Generalised advantage estimation on one response (Schulman et al. 2016):
/// `δ_t = r_t + γ·V_{t+1} − V_t` with `V_L = 0` (the response ends the episode, truncated or
/// not), `A_t = δ_t + γλ·A_{t+1}`, return `A_t + V_t`. `reward_value(t)` gives `(r_t, V_t)` and
/// is called for `t = L−1` down to 0; `advantages` and `returns` are `[L]`.
pub(crate) fn gae_row(
    mut reward_value: impl FnMut(usize) -> (f64, f64),
    gamma: f64,
    lambda: f64,
    advantages: &mut [f32],
    returns: &mut [f32],
) {
    let mut next_value = 0.0f64;
    let mut advantage = 0.0f64;
    let decay = gamma * lambda;
    for (t, (a, g)) in advantages
        .iter_mut()
        .zip(returns.iter_mut())
        .enumerate()
        .rev()
    {
        let (reward, value) = reward_value(t);
        let delta = reward + gamma * next_value - value;
        advantage = delta + decay * advantage;
        *a = advantage as f32;
        *g = (advantage + value) as f32;
        next_value = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockstep_visits_every_token_backwards_per_row() {
        let lengths = [3, 1, 4, 0];
        let mut seen: Vec<Vec<usize>> = vec![Vec::new(); 4];
        backward_lockstep(lengths, |lane, t| seen[lane].push(t));
        assert_eq!(seen, vec![vec![2, 1, 0], vec![0], vec![3, 2, 1, 0], vec![]]);
        let blocks = blocks_by_length(&[5, 9, 7, 8, 6, 10]);
        assert_eq!(
            blocks,
            vec![
                Block {
                    rows: [5, 1, 3, 2],
                    lengths: [10, 9, 8, 7]
                },
                Block {
                    rows: [4, 0, 0, 0],
                    lengths: [6, 5, 0, 0]
                },
            ]
        );
    }
    use crate::options::{Granularity, RewardNorm};
    use crate::process::ProcessRewards;

    #[test]
    fn two_sources_by_hand() {
        // row 0: r = [1, 2, 3], a = 2, b = −1 → per-token [1, 3, 5]; γ_p = 0.5
        //   G^p = [1 + 0.5·(3 + 0.5·5), 3 + 0.5·5, 5] = [3.75, 5.5, 5]
        //   outcome o = 4, γ_o = 0.5 → [1, 2, 4]; total [4.75, 7.5, 9]
        // row 1 (length 1): r = [10], a = 0, b = 0, o = −1 → [−1], padding 0
        let batch = RolloutBatch::new(3, vec![0, 0], vec![3, 1], vec![0.0, 0.0])
            .unwrap()
            .with_process(vec![1.0, 2.0, 3.0, 10.0, 0.0, 0.0])
            .unwrap();
        let p = ProcessRewards::prepare(&batch, Granularity::Token, RewardNorm::None).unwrap();
        let coefs = [
            SourceCoefs {
                process_gain: 2.0,
                process_shift: -1.0,
                outcome: 4.0,
            },
            SourceCoefs {
                process_gain: 0.0,
                process_shift: 0.0,
                outcome: -1.0,
            },
        ];
        let g = two_source_returns(&batch, Some(p.flat()), &coefs, 0.5, 0.5);
        assert_eq!(g, vec![4.75, 7.5, 9.0, -1.0, 0.0, 0.0]);
        // without a process source only the shift remains: b = −1, γ_p = 0.5 → [−1.75, −1.5, −1]
        let g = two_source_returns(&batch, None, &coefs, 0.5, 0.5);
        assert_eq!(g[..3], [-1.75 + 1.0, -1.5 + 2.0, -1.0 + 4.0]);
    }

    #[test]
    fn gae_by_hand() {
        // r = [0, 0, 1], V = [0.5, 0.25, 0.75], γ = 0.5, λ = 0.5
        // δ_2 = 1 − 0.75 = 0.25; δ_1 = 0 + 0.5·0.75 − 0.25 = 0.125; δ_0 = 0.5·0.25 − 0.5 = −0.375
        // A_2 = 0.25; A_1 = 0.125 + 0.25·0.25 = 0.1875; A_0 = −0.375 + 0.25·0.1875 = −0.328125
        let (mut a, mut g) = ([0.0f32; 3], [0.0f32; 3]);
        let (rewards, values) = ([0.0, 0.0, 1.0], [0.5, 0.25, 0.75]);
        let mut visits = Vec::new();
        gae_row(
            |t| {
                visits.push(t);
                (rewards[t], values[t])
            },
            0.5,
            0.5,
            &mut a,
            &mut g,
        );
        assert_eq!(visits, [2, 1, 0]);
        assert_eq!(a, [-0.328125, 0.1875, 0.25]);
        assert_eq!(g, [0.171875, 0.4375, 1.0]);
    }
}
