//! Low-rank adapters (LoRA, Hu et al. 2021) on the projections of a decoder:
//! `y = x·W (+ b) + (α / r) · (x·A)·B`, with `A`: `[in, r]`, `B`: `[r, out]`.
//!
//! `B` starts at zero, so an adapted model computes exactly what its base computes until the
//! first optimizer step (docs/algorithm.md §17: the PRM's rewards are then exactly 0). `A` is drawn
//! as PEFT draws it (Kaiming-uniform with `a = √5`: `U(−1/√in, 1/√in)`). The base weight is frozen
//! (no gradient, no optimizer state) once adapters are attached; see [`crate::adapters`] for the
//! model-level operations (attach, merge, read and write PEFT files).

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{backend::Backend, DType, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use crate::linear_rows::matmul_rows;
use crate::weights::{save_weight_and_bias, NamedTensors};
use crate::ModelError;

/// A projection that can carry an adapter, named as in Hugging Face (and PEFT's
/// `target_modules`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoraTarget {
    /// Attention query projection.
    QProj,
    /// Attention key projection.
    KProj,
    /// Attention value projection.
    VProj,
    /// Attention output projection.
    OProj,
    /// SwiGLU gate projection.
    GateProj,
    /// SwiGLU up projection.
    UpProj,
    /// SwiGLU down projection.
    DownProj,
}

impl LoraTarget {
    /// Every target, in a decoder layer's order.
    pub const ALL: &'static [LoraTarget] = &[
        Self::QProj,
        Self::KProj,
        Self::VProj,
        Self::OProj,
        Self::GateProj,
        Self::UpProj,
        Self::DownProj,
    ];

    /// The module name (`q_proj`, …), the last component of its Hugging Face path.
    pub fn name(self) -> &'static str {
        match self {
            Self::QProj => "q_proj",
            Self::KProj => "k_proj",
            Self::VProj => "v_proj",
            Self::OProj => "o_proj",
            Self::GateProj => "gate_proj",
            Self::UpProj => "up_proj",
            Self::DownProj => "down_proj",
        }
    }

    /// The target a module name stands for (`"q_proj"` → [`LoraTarget::QProj`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }
}

/// `[lora]`: which projections get adapters, and their rank and scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank `r` of every adapter; 0 turns LoRA off (full fine-tuning), the default.
    pub rank: usize,
    /// `α`: the update is scaled by `α / r` (PEFT's `lora_alpha`). Default 32, so that the same
    /// learning rate works across ranks ("LoRA Without Regret", 2025).
    pub alpha: f64,
    /// The projections adapted, in every layer. Default: all seven.
    pub targets: Vec<LoraTarget>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            rank: 0,
            alpha: 32.0,
            targets: LoraTarget::ALL.to_vec(),
        }
    }
}

impl LoraConfig {
    /// Adapters of rank `rank` with the default `α` and targets.
    pub fn with_rank(rank: usize) -> Self {
        Self {
            rank,
            ..Self::default()
        }
    }

    /// Whether adapters are used at all (`rank > 0`).
    pub fn enabled(&self) -> bool {
        self.rank > 0
    }

    /// `α / r`, the factor on `x·A·B`.
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }

    /// Checks the values a file can get wrong (a non-finite or non-positive `α`, no targets).
    pub fn validate(&self) -> Result<(), ModelError> {
        if !self.enabled() {
            return Ok(());
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(ModelError::InvalidConfig {
                field: "lora.alpha",
                reason: format!("must be a positive number, got {}", self.alpha),
            });
        }
        if self.targets.is_empty() {
            return Err(ModelError::InvalidConfig {
                field: "lora.targets",
                reason: "lists no projection; name some of q_proj k_proj v_proj o_proj \
                         gate_proj up_proj down_proj, or set lora.rank = 0"
                    .into(),
            });
        }
        Ok(())
    }
}

/// The two low-rank factors of one projection.
#[derive(Module, Debug)]
pub struct LoraAdapter<B: Backend> {
    /// `A`: `[in, r]` (PEFT stores its transpose, `lora_A.weight`: `[r, in]`).
    pub lora_a: Param<Tensor<B, 2>>,
    /// `B`: `[r, out]` (PEFT: `lora_B.weight`, `[out, r]`).
    pub lora_b: Param<Tensor<B, 2>>,
    /// `α / r`.
    pub scale: f64,
}

impl<B: Backend> LoraAdapter<B> {
    /// A fresh adapter `in → out` of rank `rank`: `A ~ U(−1/√in, 1/√in)`, `B = 0`. Seed the
    /// backend first for reproducible values.
    pub fn init(d_in: usize, d_out: usize, rank: usize, scale: f64, device: &B::Device) -> Self {
        let bound = 1.0 / (d_in as f64).sqrt();
        Self {
            lora_a: Param::from_tensor(Tensor::random(
                [d_in, rank],
                Distribution::Uniform(-bound, bound),
                device,
            )),
            lora_b: Param::from_tensor(Tensor::zeros([rank, d_out], device)),
            scale,
        }
    }

    /// Rank `r`.
    pub fn rank(&self) -> usize {
        self.lora_a.shape().dims::<2>()[1]
    }

    /// `(α / r) · (x·A)·B` for `x`: `[batch, n, in]` → `[batch, n, out]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let down = matmul_rows(x, self.lora_a.val(), None);
        matmul_rows(down, self.lora_b.val(), None).mul_scalar(self.scale)
    }

    /// `(α / r) · A·B`: `[in, out]`, the update merged into the weight.
    pub fn delta_weight(&self) -> Tensor<B, 2> {
        self.lora_a
            .val()
            .matmul(self.lora_b.val())
            .mul_scalar(self.scale)
    }
}

/// A dense layer `in → out` (weight `[in, out]`, optional bias) that may carry a [`LoraAdapter`].
///
/// Its parameter paths are a plain linear layer's (`…q_proj.weight`, `…q_proj.bias`) plus the
/// adapter's (`…q_proj.lora.lora_a`). The weight may be stored in bf16 (a frozen base, see
/// [`crate::adapters::cast_base`]); it is then upcast to the input's precision for the product.
#[derive(Module, Debug)]
pub struct AdaptedLinear<B: Backend> {
    /// `W`: `[in, out]`.
    pub weight: Param<Tensor<B, 2>>,
    /// `b`: `[out]`.
    pub bias: Option<Param<Tensor<B, 1>>>,
    /// The adapter, when LoRA is on for this projection.
    pub lora: Option<LoraAdapter<B>>,
}

impl<B: Backend> From<Linear<B>> for AdaptedLinear<B> {
    fn from(linear: Linear<B>) -> Self {
        Self {
            weight: linear.weight,
            bias: linear.bias,
            lora: None,
        }
    }
}

impl<B: Backend> AdaptedLinear<B> {
    /// `(d_in, d_out)`.
    pub fn dims(&self) -> (usize, usize) {
        let [d_in, d_out] = self.weight.shape().dims();
        (d_in, d_out)
    }

    /// The weight in `dtype` (a no-op when it is stored so).
    fn weight_as(&self, dtype: DType) -> Tensor<B, 2> {
        let weight = self.weight.val();
        if weight.dtype() == dtype {
            weight
        } else {
            weight.cast(dtype)
        }
    }

    /// `x·W (+ b) (+ (α/r)·x·A·B)` for `x`: `[batch, n, in]` → `[batch, n, out]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let weight = self.weight_as(x.dtype());
        let bias = self.bias.as_ref().map(|bias| {
            let bias = bias.val();
            if bias.dtype() == x.dtype() {
                bias
            } else {
                bias.cast(x.dtype())
            }
        });
        match &self.lora {
            Some(adapter) => matmul_rows(x.clone(), weight, bias).add(adapter.forward(x)),
            None => matmul_rows(x, weight, bias),
        }
    }

    /// Appends the layer's tensors under `prefix` in Hugging Face layout, as the layer computes:
    /// with an adapter, the merged weight `W + (α/r)·A·B` (so a saved model is the adapted
    /// model; [`crate::adapters::adapter_tensors`] gives the adapter alone).
    pub(crate) fn save(&self, prefix: &str, out: &mut NamedTensors) {
        let weight = match &self.lora {
            Some(adapter) => self
                .weight_as(DType::F32)
                .add(adapter.delta_weight())
                .detach(),
            None => self.weight.val(),
        };
        let bias = self.bias.as_ref().map(|b| b.val());
        save_weight_and_bias(weight, bias, prefix, out);
    }

    /// Folds the adapter in: `W ← W + (α/r)·A·B` (in f32) and drops the adapter. The weight
    /// keeps its parameter id and `require_grad`.
    pub fn merge(&mut self) {
        let Some(adapter) = self.lora.take() else {
            return;
        };
        let merged = self
            .weight_as(DType::F32)
            .add(adapter.delta_weight())
            .detach();
        self.weight = replace_value(&self.weight, merged);
    }
}

/// `param` with a new value, same id and `require_grad`.
pub(crate) fn replace_value<B: Backend, const D: usize>(
    param: &Param<Tensor<B, D>>,
    value: Tensor<B, D>,
) -> Param<Tensor<B, D>> {
    let value = value.set_require_grad(param.val().is_require_grad());
    Param::initialized(param.id, value)
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::Tolerance;

    use super::*;
    use crate::weights::init_linear;

    type B = Flex;

    fn adapted(rank: usize, bias: bool) -> AdaptedLinear<B> {
        let device = Default::default();
        let mut layer = AdaptedLinear::from(init_linear::<B>(6, 5, bias, 0.5, &device));
        let mut adapter = LoraAdapter::init(6, 5, rank, 2.0, &device);
        // A non-zero B, as after training.
        adapter.lora_b = Param::from_tensor(Tensor::random(
            [rank, 5],
            Distribution::Normal(0.0, 1.0),
            &device,
        ));
        layer.lora = Some(adapter);
        layer
    }

    /// `(α/r)·x·A·B` worked on the host equals the adapter's output.
    #[test]
    fn the_adapter_adds_scale_times_x_a_b() {
        let device = Default::default();
        let adapter = LoraAdapter::<B> {
            lora_a: Param::from_tensor(Tensor::from_floats([[1.0], [2.0]], &device)),
            lora_b: Param::from_tensor(Tensor::from_floats([[3.0, -1.0]], &device)),
            scale: 0.5,
        };
        let x = Tensor::<B, 3>::from_floats([[[1.0, 1.0]], [[2.0, -1.0]]], &device);
        // x·A = [3], [0]; ·B = [9, -3], [0, 0]; ·0.5.
        let expected = Tensor::<B, 3>::from_floats([[[4.5, -1.5]], [[0.0, 0.0]]], &device);
        adapter
            .forward(x)
            .into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::default());
    }

    #[test]
    fn adapted_forward_equals_the_merged_weight_forward() {
        let device = Default::default();
        for bias in [true, false] {
            let layer = adapted(3, bias);
            let x = Tensor::<B, 3>::random([2, 4, 6], Distribution::Normal(0.0, 1.0), &device);
            let mut layer = layer;
            let adapted = layer.forward(x.clone());
            layer.merge();
            assert!(layer.lora.is_none());
            adapted
                .into_data()
                .assert_approx_eq::<f32>(&layer.forward(x).into_data(), Tolerance::absolute(1e-5));
        }
    }

    #[test]
    fn a_fresh_adapter_changes_nothing() {
        let device = Default::default();
        let mut layer = AdaptedLinear::from(init_linear::<B>(6, 5, true, 0.5, &device));
        let x = Tensor::<B, 3>::random([2, 3, 6], Distribution::Normal(0.0, 1.0), &device);
        let base = layer.forward(x.clone()).into_data();
        layer.lora = Some(LoraAdapter::init(6, 5, 4, 8.0, &device));
        assert_eq!(
            layer.forward(x).into_data(),
            base,
            "B = 0 must give the base exactly"
        );
    }

    #[test]
    fn a_bf16_weight_is_upcast_for_the_product() {
        let device = Default::default();
        let layer = adapted(2, true);
        let x = Tensor::<B, 3>::random([1, 3, 6], Distribution::Normal(0.0, 1.0), &device);
        let f32_out = layer.forward(x.clone());
        let bf16 = AdaptedLinear {
            weight: Param::from_tensor(layer.weight.val().cast(DType::BF16)),
            ..layer
        };
        let out = bf16.forward(x);
        assert_eq!(out.dtype(), DType::F32);
        // bf16 keeps 8 bits of mantissa: relative error ≲ 2⁻⁸ per weight.
        out.into_data()
            .assert_approx_eq::<f32>(&f32_out.into_data(), Tolerance::absolute(5e-2));
    }

    #[test]
    fn gradients_reach_the_adapter_only_when_the_base_is_frozen() {
        type Ad = Autodiff<Flex>;
        let device = Default::default();
        let base = init_linear::<Ad>(4, 3, true, 0.5, &device);
        let mut layer = AdaptedLinear::from(base).no_grad();
        layer.lora = Some(LoraAdapter::init(4, 3, 2, 1.0, &device));
        let x = Tensor::<Ad, 3>::random([2, 2, 4], Distribution::Normal(0.0, 1.0), &device);
        let grads = layer.forward(x).sum().backward();
        assert!(layer.weight.val().grad(&grads).is_none());
        let adapter = layer.lora.as_ref().unwrap();
        assert!(adapter.lora_b.val().grad(&grads).is_some());
        // dL/dA = x̄ᵀ·(1·Bᵀ)·scale = 0 while B = 0; the gradient exists all the same.
        assert!(adapter.lora_a.val().grad(&grads).is_some());
    }

    #[test]
    fn config_rejects_bad_alpha_and_empty_targets_and_parses_names() {
        let mut config = LoraConfig::with_rank(8);
        assert!(config.validate().is_ok());
        assert_eq!(config.scale(), 4.0);
        config.alpha = f64::NAN;
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("lora.alpha"));
        config = LoraConfig {
            targets: vec![],
            ..LoraConfig::with_rank(4)
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("lora.targets"));
        let parsed: LoraConfig =
            serde_json::from_str(r#"{"rank": 4, "targets": ["q_proj", "down_proj"]}"#).unwrap();
        assert_eq!(
            parsed.targets,
            vec![LoraTarget::QProj, LoraTarget::DownProj]
        );
        let unknown = serde_json::from_str::<LoraConfig>(r#"{"targets": ["qkv"]}"#).unwrap_err();
        assert!(unknown.to_string().contains("q_proj"), "{unknown}");
        assert_eq!(LoraTarget::from_name("up_proj"), Some(LoraTarget::UpProj));
    }
}
