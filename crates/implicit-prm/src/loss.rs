//! The PRM objectives of docs/algorithm.md §7, as functions of the per-sequence log-ratio sums.

use burn::tensor::{activation::log_sigmoid, backend::Backend, Tensor};

/// Cross-entropy loss `mean_i BCE(σ(β·Q_i), acc_i)` with `Q_i = Σ_t m_{i,t} q_{i,t}`:
/// `−[acc_i·log σ(β Q_i) + (1 − acc_i)·log σ(−β Q_i)]`, computed with `log σ` for stability.
///
/// `sequence_q`, `acc`: `[n]`. Returns a `[1]` tensor.
pub fn ce_loss<B: Backend>(sequence_q: Tensor<B, 1>, acc: Tensor<B, 1>, beta: f32) -> Tensor<B, 1> {
    let logits = sequence_q.mul_scalar(beta);
    let positive = log_sigmoid(logits.clone()).mul(acc.clone());
    let negative = log_sigmoid(logits.neg()).mul(acc.neg().add_scalar(1.0));
    positive.add(negative).neg().mean()
}

/// Detached pairwise targets for the `dpo` loss, per row of the whole batch.
#[derive(Debug, Clone, PartialEq)]
pub struct DpoTargets {
    /// `β·mean_j Q_j` over the group members `j` the row is compared with (0 when none).
    pub other: Vec<f32>,
    /// `+1` when `acc_i > 0` (compared with lower-accuracy members), `−1` otherwise
    /// (compared with higher-accuracy members).
    pub sign: Vec<f32>,
}

impl DpoTargets {
    /// The reference code's detached DPO targets: for row `i` with `acc_i > 0` the members of its
    /// group with `acc_j < acc_i`, else those with `acc_j > acc_i`; `other_i = β·mean_j Q_j` of
    /// their (detached, pre-update) sequence log-ratio sums `Q_j`.
    pub fn new(sequence_q: &[f32], acc: &[f32], group_ids: &[usize], beta: f32) -> Self {
        let rows = acc.len();
        let mut other = vec![0.0; rows];
        let mut sign = vec![0.0; rows];
        for i in 0..rows {
            let chosen = |j: usize| {
                group_ids[j] == group_ids[i]
                    && if acc[i] > 0.0 {
                        acc[j] < acc[i]
                    } else {
                        acc[j] > acc[i]
                    }
            };
            let (sum, count) = (0..rows)
                .filter(|&j| chosen(j))
                .fold((0.0f64, 0usize), |(s, c), j| {
                    (s + f64::from(sequence_q[j]), c + 1)
                });
            if count > 0 {
                other[i] = beta * (sum / count as f64) as f32;
            }
            sign[i] = if acc[i] > 0.0 { 1.0 } else { -1.0 };
        }
        Self { other, sign }
    }
}

impl DpoTargets {
    /// `(other, sign)` of rows `range`.
    pub(crate) fn rows(&self, range: std::ops::Range<usize>) -> (&[f32], &[f32]) {
        (&self.other[range.clone()], &self.sign[range])
    }
}

/// DPO loss `mean_i −log σ(sign_i·(β Q_i − other_i))` against detached group members
/// (docs/algorithm.md §7, loss `dpo`; PRIME reference `compute_detach_dpo_loss_rm`).
///
/// `sequence_q`, `other`, `sign`: `[n]`. Returns a `[1]` tensor.
pub fn dpo_loss<B: Backend>(
    sequence_q: Tensor<B, 1>,
    other: Tensor<B, 1>,
    sign: Tensor<B, 1>,
    beta: f32,
) -> Tensor<B, 1> {
    log_sigmoid(sequence_q.mul_scalar(beta).sub(other).mul(sign))
        .neg()
        .mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    type B = Flex;

    fn t(values: &[f32]) -> Tensor<B, 1> {
        Tensor::from_data(TensorData::from(values), &Default::default())
    }

    fn scalar(x: Tensor<B, 1>) -> f32 {
        x.into_data().to_vec::<f32>().unwrap()[0]
    }

    #[test]
    fn ce_matches_hand_computed_bce() {
        // β = 0.5, Q = (2, −4), acc = (1, 0.25): z = (1, −2).
        // ℓ_1 = −log σ(1) = 0.31326169; ℓ_2 = −0.25 log σ(−2) − 0.75 log σ(2)
        //     = 0.25·2.12692801 + 0.75·0.12692801 = 0.62692801. Mean 0.47009485.
        let loss = scalar(ce_loss(t(&[2.0, -4.0]), t(&[1.0, 0.25]), 0.5));
        assert!((loss - 0.470_094_85).abs() < 1e-6, "{loss}");
    }

    #[test]
    fn ce_is_stable_for_large_logits() {
        let loss = scalar(ce_loss(t(&[1e4]), t(&[0.0]), 1.0));
        assert!((loss - 1e4).abs() < 1e-1, "{loss}");
    }

    #[test]
    fn dpo_targets_follow_the_reference_rule() {
        // One group of acc (1, 0, 0.5, 0) and Q (4, 2, 6, −2), β = 0.5, plus a lone row.
        // Row 0 (acc 1): members with acc < 1 → rows 1, 2, 3: mean Q 2 → other 1, sign +1.
        // Row 1 (acc 0): members with acc > 0 → rows 0, 2: mean 5 → 2.5, sign −1.
        // Row 2 (acc .5): acc < .5 → rows 1, 3: mean 0 → 0, sign +1.
        // Row 3 (acc 0): rows 0, 2 → 2.5, −1. Row 4 alone → other 0, sign +1.
        let targets = DpoTargets::new(
            &[4.0, 2.0, 6.0, -2.0, 9.0],
            &[1.0, 0.0, 0.5, 0.0, 1.0],
            &[0, 0, 0, 0, 1],
            0.5,
        );
        assert_eq!(targets.other, vec![1.0, 2.5, 0.0, 2.5, 0.0]);
        assert_eq!(targets.sign, vec![1.0, -1.0, 1.0, -1.0, 1.0]);
    }

    #[test]
    fn dpo_loss_matches_hand_computed_value() {
        // β Q = (2, 1), other = (1, 2.5), sign = (+1, −1): margins (1, 1.5).
        // −log σ(1) = 0.31326169, −log σ(1.5) = 0.20141328; mean 0.25733748.
        let loss = scalar(dpo_loss(
            t(&[4.0, 2.0]),
            t(&[1.0, 2.5]),
            t(&[1.0, -1.0]),
            0.5,
        ));
        assert!((loss - 0.257_337_48).abs() < 1e-6, "{loss}");
    }
}
