//! `dpo_acc`, the PRM's pairwise accuracy within groups (docs/algorithm.md §12).

use std::collections::BTreeMap;

/// `dpo_acc`: within each group, over the pairs `(i, j)` with `acc_i ≠ acc_j`, the share where
/// `sign(R_i − R_j) = sign(acc_i − acc_j)`, each pair weighted by `|acc_i − acc_j|`; a group
/// without such a pair counts 0.5. The batch value is the mean over groups (as the reference
/// code averages per-group values).
///
/// `R_i = Σ_t r^p_{i,t}` are the sequence rewards. A tie `R_i = R_j` is never a correct
/// prediction (sign 0 matches neither side); the reference code instead counts a tie as correct
/// when `acc_i < acc_j`, an asymmetry this follows docs/algorithm.md §12 in not copying.
///
/// Returns 0.5 for an empty batch. The slices must have equal lengths (checked by the caller).
pub fn dpo_accuracy(sequence_rewards: &[f32], acc: &[f32], group_ids: &[usize]) -> f32 {
    match dpo_accuracy_parts(sequence_rewards, acc, group_ids) {
        (_, 0) => 0.5,
        (sum, groups) => (sum / groups as f64) as f32,
    }
}

/// The sum over groups of the per-group `dpo_acc` values and the number of groups: what ranks
/// that each hold whole groups add up for the batch's `dpo_acc`.
pub(crate) fn dpo_accuracy_parts(
    sequence_rewards: &[f32],
    acc: &[f32],
    group_ids: &[usize],
) -> (f64, usize) {
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (row, &group) in group_ids.iter().enumerate() {
        groups.entry(group).or_default().push(row);
    }
    let per_group = groups.values().map(|rows| {
        let (mut correct, mut total) = (0.0f64, 0.0f64);
        for (k, &i) in rows.iter().enumerate() {
            for &j in &rows[k + 1..] {
                let acc_diff = f64::from(acc[i]) - f64::from(acc[j]);
                if acc_diff == 0.0 {
                    continue;
                }
                let reward_diff = f64::from(sequence_rewards[i]) - f64::from(sequence_rewards[j]);
                total += acc_diff.abs();
                if reward_diff != 0.0 && reward_diff.signum() == acc_diff.signum() {
                    correct += acc_diff.abs();
                }
            }
        }
        if total == 0.0 {
            0.5
        } else {
            correct / total
        }
    });
    (per_group.sum::<f64>(), groups.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_groups() {
        // Group 0: acc (1, 0, 0), R (2, 1, 3): pairs (0,1) right, (0,2) wrong, (1,2) same acc
        // → 1/2. Group 1: acc (1, 1) → no pair → 0.5. Mean 0.5.
        let r = [2.0, 1.0, 3.0, 0.0, 0.0];
        let acc = [1.0, 0.0, 0.0, 1.0, 1.0];
        let groups = [0, 0, 0, 1, 1];
        assert!((dpo_accuracy(&r, &acc, &groups) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn soft_labels_weight_pairs_by_the_accuracy_gap() {
        // acc (1.0, 0.5, 0.0), R (0, 1, -1): (0,1) gap 0.5 wrong, (0,2) gap 1 right,
        // (1,2) gap 0.5 right → (1 + 0.5) / 2 = 0.75.
        let r = [0.0, 1.0, -1.0];
        let acc = [1.0, 0.5, 0.0];
        assert!((dpo_accuracy(&r, &acc, &[7, 7, 7]) - 0.75).abs() < 1e-6);
    }

    #[test]
    fn ties_are_wrong_and_group_order_does_not_matter() {
        let acc = [0.0, 1.0, 1.0, 0.0];
        assert_eq!(dpo_accuracy(&[0.0; 4], &acc, &[3, 3, 1, 1]), 0.0);
        assert_eq!(
            dpo_accuracy(&[0.0, 1.0, 1.0, 0.0], &acc, &[3, 3, 1, 1]),
            1.0
        );
        assert_eq!(dpo_accuracy(&[], &[], &[]), 0.5);
    }
}
