//! The PPO-clip policy loss (docs/algorithm.md §10), on burn tensors.
//!
//! `ρ = exp(log π_θ − log π_θold)`,
//! `loss = agg( max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε)) ) − c_ent·agg(H) + c_kl·agg(KL(π_θ‖π_ref))`.
//! All per-token tensors are `[rows, resp_len]` over response tokens, with a 0/1 float `mask`.

use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// How per-token losses become one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aggregation {
    /// Mean over a sequence's valid tokens, then mean over sequences (default).
    SeqMeanTokenMean,
    /// Mean over all valid tokens of the mini-batch.
    TokenMean,
}

impl Aggregation {
    /// The denominator of a mini-batch with `rows` sequences and `tokens` valid tokens; every
    /// micro-batch of that mini-batch divides by the same number, so gradient accumulation gives
    /// the gradient of the whole mini-batch.
    pub fn normalizer(self, rows: usize, tokens: usize) -> f64 {
        match self {
            Self::SeqMeanTokenMean => rows.max(1) as f64,
            Self::TokenMean => tokens.max(1) as f64,
        }
    }

    /// `agg(x)` of a micro-batch: `x`, `mask` `[rows, len]` → `[1]`.
    pub fn apply<B: Backend>(
        self,
        x: Tensor<B, 2>,
        mask: Tensor<B, 2>,
        normalizer: f64,
    ) -> Tensor<B, 1> {
        match self {
            Self::TokenMean => (x * mask).sum().div_scalar(normalizer),
            Self::SeqMeanTokenMean => {
                let per_seq = (x * mask.clone()).sum_dim(1) / mask.sum_dim(1).clamp_min(1.0);
                per_seq.sum().div_scalar(normalizer)
            }
        }
    }
}

/// KL estimator of `KL(π_θ ‖ π_ref)` per token, with `d = log π_ref − log π_θ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KlEstimator {
    /// `k1 = −d = log π_θ − log π_ref`.
    K1,
    /// `k3 = exp(d) − d − 1` (non-negative, low variance).
    K3,
}

impl KlEstimator {
    /// Per-token estimate, `[rows, len]`.
    pub fn estimate<B: Backend>(
        self,
        log_probs: Tensor<B, 2>,
        ref_log_probs: Tensor<B, 2>,
    ) -> Tensor<B, 2> {
        let d = ref_log_probs - log_probs;
        match self {
            Self::K1 => d.neg(),
            Self::K3 => d.clone().exp() - d - 1.0,
        }
    }
}

/// The loss's hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolicyLossConfig {
    /// Clip range ε.
    pub clip_eps: f64,
    /// Entropy bonus coefficient `c_ent`.
    pub entropy_coef: f64,
    /// KL-to-reference coefficient `c_kl`.
    pub kl_coef: f64,
    /// KL estimator.
    pub kl_estimator: KlEstimator,
    /// Aggregation.
    pub aggregation: Aggregation,
}

/// One micro-batch's inputs, all `[rows, len]`.
#[derive(Debug, Clone)]
pub struct PolicyLossInputs<B: Backend> {
    /// `log π_θ(y_t)` — carries the gradient.
    pub log_probs: Tensor<B, 2>,
    /// `log π_θold(y_t)` (recomputed by the training model before the update).
    pub old_log_probs: Tensor<B, 2>,
    /// Advantages `A_t`.
    pub advantages: Tensor<B, 2>,
    /// 1 for valid response tokens (EOS included), 0 elsewhere.
    pub mask: Tensor<B, 2>,
    /// Entropy of `π_θ` per position (needed when `entropy_coef ≠ 0`, logged when given).
    pub entropy: Option<Tensor<B, 2>>,
    /// `log π_ref(y_t)` of the frozen reference (needed when `kl_coef ≠ 0`).
    pub ref_log_probs: Option<Tensor<B, 2>>,
}

/// The loss and detached per-token sums for the metrics.
#[derive(Debug, Clone)]
pub struct PolicyLossOutput<B: Backend> {
    /// Scalar loss `[1]` to back-propagate.
    pub loss: Tensor<B, 1>,
    /// `agg` of the clipped surrogate alone (detached).
    pub pg_loss: Tensor<B, 1>,
    /// Σ over valid tokens of `1[clipped term was chosen]`.
    pub clipped_tokens: Tensor<B, 1>,
    /// Σ over valid tokens of `log π_θold − log π_θ` (approx. KL to the sampler).
    pub approx_kl_sum: Tensor<B, 1>,
    /// Σ over valid tokens of the entropy (0 when not given).
    pub entropy_sum: Tensor<B, 1>,
    /// Σ over valid tokens of the reference KL estimate (0 when no reference).
    pub ref_kl_sum: Tensor<B, 1>,
}

/// The PPO-clip loss of a micro-batch; `normalizer` from [`Aggregation::normalizer`] of the whole
/// mini-batch.
pub fn policy_loss<B: Backend>(
    config: &PolicyLossConfig,
    inputs: PolicyLossInputs<B>,
    normalizer: f64,
) -> Result<PolicyLossOutput<B>, TrainError> {
    let PolicyLossInputs {
        log_probs,
        old_log_probs,
        advantages,
        mask,
        entropy,
        ref_log_probs,
    } = inputs;
    let device = log_probs.device();
    let agg = config.aggregation;
    let log_ratio = log_probs.clone() - old_log_probs;
    let ratio = log_ratio.clone().exp();
    let unclipped = advantages.clone().neg() * ratio.clone();
    let clipped = advantages.neg() * ratio.clamp(1.0 - config.clip_eps, 1.0 + config.clip_eps);
    let chose_clipped = clipped.clone().greater(unclipped.clone()).float();
    let surrogate = unclipped.max_pair(clipped);
    let pg_loss = agg.apply(surrogate, mask.clone(), normalizer);
    let mut loss = pg_loss.clone();

    let zero = || Tensor::<B, 1>::zeros([1], &device);
    let entropy_sum = match entropy {
        Some(h) => {
            if config.entropy_coef != 0.0 {
                loss = loss
                    - agg
                        .apply(h.clone(), mask.clone(), normalizer)
                        .mul_scalar(config.entropy_coef);
            }
            (h.detach() * mask.clone()).sum()
        }
        None if config.entropy_coef != 0.0 => {
            return Err(TrainError::Config(
                "entropy_coef ≠ 0 needs per-token entropies".into(),
            ))
        }
        None => zero(),
    };
    let ref_kl_sum = match ref_log_probs {
        Some(r) => {
            let kl = config.kl_estimator.estimate(log_probs, r);
            if config.kl_coef != 0.0 {
                loss = loss
                    + agg
                        .apply(kl.clone(), mask.clone(), normalizer)
                        .mul_scalar(config.kl_coef);
            }
            (kl.detach() * mask.clone()).sum()
        }
        None if config.kl_coef != 0.0 => {
            return Err(TrainError::Config(
                "kl_coef ≠ 0 needs reference log-probs".into(),
            ))
        }
        None => zero(),
    };
    Ok(PolicyLossOutput {
        loss,
        pg_loss: pg_loss.detach(),
        clipped_tokens: (chose_clipped * mask.clone()).sum().detach(),
        approx_kl_sum: (log_ratio.detach().neg() * mask).sum(),
        entropy_sum,
        ref_kl_sum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};

    type B = Flex;
    type AD = Autodiff<Flex>;

    fn t<Bk: Backend>(rows: &[[f32; 3]], device: &Bk::Device) -> Tensor<Bk, 2> {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::<Bk, 1>::from_floats(flat.as_slice(), device).reshape([rows.len(), 3])
    }

    fn scalar<Bk: Backend>(x: Tensor<Bk, 1>) -> f64 {
        x.into_data().to_vec::<f32>().unwrap()[0] as f64
    }

    fn config(aggregation: Aggregation) -> PolicyLossConfig {
        PolicyLossConfig {
            clip_eps: 0.2,
            entropy_coef: 0.0,
            kl_coef: 0.0,
            kl_estimator: KlEstimator::K1,
            aggregation,
        }
    }

    /// Two rows: row 0 has 3 valid tokens, row 1 has 2.
    /// ratios: row0 = [e^0.5, e^-0.5, 1], row1 = [e^0.1, e^-0.1, ·].
    /// A:      row0 = [1, 1, -2],          row1 = [-1, 1, ·].
    /// per-token max(−Aρ, −A·clip(ρ)):
    ///   (0,0) A=1, ρ=1.6487 → max(−1.6487, −1.2) = −1.2 (clipped chosen)
    ///   (0,1) A=1, ρ=0.6065 → max(−0.6065, −0.8) = −0.6065
    ///   (0,2) A=−2, ρ=1 → 2
    ///   (1,0) A=−1, ρ=1.1052 → max(1.1052, 1.1052) = 1.1052 (not clipped: within range)
    ///   (1,1) A=1, ρ=0.9048 → −0.9048
    /// seq-mean-token-mean: row0 (−1.2 −0.6065 + 2)/3 = 0.064490, row1 (1.1052 − 0.9048)/2 = 0.100167
    ///   mean = 0.082329. token-mean: (0.193469 + 0.200334)/5 = 0.078761.
    fn inputs<Bk: Backend>(device: &Bk::Device) -> PolicyLossInputs<Bk> {
        PolicyLossInputs {
            log_probs: t(&[[0.5, -0.5, 0.0], [0.1, -0.1, 0.0]], device),
            old_log_probs: t(&[[0.0, 0.0, 0.0], [0.0, 0.0, 9.0]], device),
            advantages: t(&[[1.0, 1.0, -2.0], [-1.0, 1.0, 5.0]], device),
            mask: t(&[[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]], device),
            entropy: None,
            ref_log_probs: None,
        }
    }

    #[test]
    fn clipped_surrogate_matches_hand_computation() {
        let device = Default::default();
        let out = policy_loss(
            &config(Aggregation::SeqMeanTokenMean),
            inputs::<B>(&device),
            2.0,
        )
        .unwrap();
        assert!((scalar(out.loss) - 0.082329).abs() < 1e-5);
        assert_eq!(scalar(out.clipped_tokens), 1.0);
        // approx KL Σ(old − new) over valid tokens = −0.5 + 0.5 − 0 − 0.1 + 0.1 = 0.
        assert!(scalar(out.approx_kl_sum).abs() < 1e-6);
        let out = policy_loss(&config(Aggregation::TokenMean), inputs::<B>(&device), 5.0).unwrap();
        assert!((scalar(out.loss) - 0.078761).abs() < 1e-5);
    }

    #[test]
    fn micro_batches_add_up_to_the_mini_batch() {
        let device = Default::default();
        let cfg = config(Aggregation::SeqMeanTokenMean);
        let full = scalar(policy_loss(&cfg, inputs::<B>(&device), 2.0).unwrap().loss);
        let i = inputs::<B>(&device);
        let part = |r: usize| PolicyLossInputs {
            log_probs: i.log_probs.clone().slice([r..r + 1, 0..3]),
            old_log_probs: i.old_log_probs.clone().slice([r..r + 1, 0..3]),
            advantages: i.advantages.clone().slice([r..r + 1, 0..3]),
            mask: i.mask.clone().slice([r..r + 1, 0..3]),
            entropy: None,
            ref_log_probs: None,
        };
        let a = scalar(policy_loss(&cfg, part(0), 2.0).unwrap().loss);
        let b = scalar(policy_loss(&cfg, part(1), 2.0).unwrap().loss);
        assert!((a + b - full).abs() < 1e-6);
    }

    #[test]
    fn gradient_vanishes_where_clipped_and_on_padding() {
        let device = Default::default();
        let mut i = inputs::<AD>(&device);
        let lp = i.log_probs.clone().require_grad();
        i.log_probs = lp.clone();
        let out = policy_loss(&config(Aggregation::TokenMean), i, 5.0).unwrap();
        let grads = out.loss.backward();
        let g = lp
            .grad(&grads)
            .unwrap()
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        // d/dlogp of −A·ρ/5 = −A·ρ/5 where unclipped; 0 where clipped or masked.
        let expected = [
            0.0,
            -(-0.5f32).exp() / 5.0,
            2.0 / 5.0,
            0.1f32.exp() / 5.0,
            -(-0.1f32).exp() / 5.0,
            0.0,
        ];
        for (g, e) in g.iter().zip(expected) {
            assert!((g - e).abs() < 1e-5, "{g} vs {e}");
        }
    }

    #[test]
    fn entropy_bonus_and_reference_kl() {
        let device = Default::default();
        let mut cfg = config(Aggregation::TokenMean);
        cfg.entropy_coef = 0.1;
        cfg.kl_coef = 0.5;
        cfg.kl_estimator = KlEstimator::K3;
        let mut i = inputs::<B>(&device);
        i.entropy = Some(t(&[[1.0, 2.0, 3.0], [4.0, 5.0, 100.0]], &device));
        // Reference = 0 everywhere: d = −logp; k3 = e^d − d − 1.
        i.ref_log_probs = Some(t(&[[0.0; 3], [0.0; 3]], &device));
        let out = policy_loss(&cfg, i, 5.0).unwrap();
        let k3 = |lp: f64| (-lp).exp() + lp - 1.0;
        let kl_sum = k3(0.5) + k3(-0.5) + k3(0.0) + k3(0.1) + k3(-0.1);
        let expected = 0.078761 - 0.1 * 15.0 / 5.0 + 0.5 * kl_sum / 5.0;
        assert!((scalar(out.loss) - expected).abs() < 1e-5);
        assert!((scalar(out.entropy_sum) - 15.0).abs() < 1e-5);
        assert!((scalar(out.ref_kl_sum) - kl_sum).abs() < 1e-5);
        // k1 = logp − ref.
        let k1 = KlEstimator::K1.estimate(
            t::<B>(&[[0.5, -0.5, 0.0]], &device),
            t(&[[0.0; 3]], &device),
        );
        assert_eq!(
            k1.into_data().to_vec::<f32>().unwrap(),
            vec![0.5, -0.5, 0.0]
        );
    }

    #[test]
    fn missing_inputs_for_nonzero_coefficients_are_errors() {
        let device = Default::default();
        let mut cfg = config(Aggregation::TokenMean);
        cfg.kl_coef = 0.1;
        assert!(policy_loss(&cfg, inputs::<B>(&device), 5.0).is_err());
        cfg.kl_coef = 0.0;
        cfg.entropy_coef = 0.1;
        assert!(policy_loss(&cfg, inputs::<B>(&device), 5.0).is_err());
    }
}
