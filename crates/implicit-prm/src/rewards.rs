//! [`ImplicitRewards`]: the implicit process rewards of a batch as plain, ragged vectors.

/// Per-token implicit rewards of a batch (docs/algorithm.md §6), one row per response, each row
/// exactly `L_i` long (valid response tokens only, EOS included).
///
/// `q[i][t] = log π_φ(y_t | x, y_<t) − log π_ref(y_t | x, y_<t)`;
/// `token_rewards[i][t] = β·q[i][t]`. No clamping, no normalisation and no moving of rewards
/// to the last token (granularity `whole`): all of that is the advantage estimator's job
/// (docs/algorithm.md §8).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImplicitRewards {
    /// Log-likelihood ratio per valid response token.
    pub q: Vec<Vec<f32>>,
    /// Process reward per valid response token.
    pub token_rewards: Vec<Vec<f32>>,
}

impl ImplicitRewards {
    /// Builds the rewards from the log-ratios `q` (one row per response, `L_i` long).
    pub fn from_log_ratios(q: Vec<Vec<f32>>, beta: f32) -> Self {
        let token_rewards = q
            .iter()
            .map(|row| row.iter().map(|&v| beta * v).collect())
            .collect();
        Self { q, token_rewards }
    }

    /// Number of responses.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// True when there are no responses.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// `L_i` of each response.
    pub fn lengths(&self) -> Vec<usize> {
        self.q.iter().map(Vec::len).collect()
    }

    /// `R_i = Σ_t r_{i,t}`, the sequence-level implicit reward .
    pub fn sequence_rewards(&self) -> Vec<f32> {
        self.token_rewards
            .iter()
            .map(|row| row.iter().sum())
            .collect()
    }

    /// Appends the rows of `other` after these rows.
    pub fn extend(&mut self, other: ImplicitRewards) {
        self.q.extend(other.q);
        self.token_rewards.extend(other.token_rewards);
    }

    /// Mean and population standard deviation of the token rewards over all valid tokens
    /// (`(0, 0)` when there are none).
    pub fn token_reward_mean_std(&self) -> (f32, f32) {
        let count: usize = self.token_rewards.iter().map(Vec::len).sum();
        if count == 0 {
            return (0.0, 0.0);
        }
        let values = || self.token_rewards.iter().flatten().map(|&v| f64::from(v));
        let mean = values().sum::<f64>() / count as f64;
        let var = values().map(|v| (v - mean).powi(2)).sum::<f64>() / count as f64;
        (mean as f32, var.sqrt() as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_is_scaled_by_beta() {
        let r = ImplicitRewards::from_log_ratios(vec![vec![1.0, -2.0, 0.5], vec![]], 0.5);
        assert_eq!(r.token_rewards, vec![vec![0.5, -1.0, 0.25], vec![]]);
        assert_eq!(r.q[0], vec![1.0, -2.0, 0.5]);
        assert_eq!(r.sequence_rewards(), vec![-0.25, 0.0]);
        assert_eq!(r.lengths(), vec![3, 0]);
    }

    #[test]
    fn mean_and_std_are_over_valid_tokens() {
        // Tokens 1, 3 and 5 (β = 1): mean 3, population variance (4 + 0 + 4) / 3.
        let r = ImplicitRewards::from_log_ratios(vec![vec![1.0, 3.0], vec![5.0]], 1.0);
        let (mean, std) = r.token_reward_mean_std();
        assert!((mean - 3.0).abs() < 1e-6);
        assert!((std - (8.0f32 / 3.0).sqrt()).abs() < 1e-6);
    }
}
