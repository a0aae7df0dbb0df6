//! The SwiGLU feed-forward block (Shazeer 2020): `down(silu(gate(x)) ⊙ up(x))`, biased only
//! where the config says so (Llama's `mlp_bias`). The element-wise middle `silu(a) ⊙ b`
//! ([`Qwen2Mlp::swiglu`]) is one fused op with its own backward on the CPU backend
//! (`swiglu_fused.rs`), burn's sigmoid and products elsewhere.

use burn::module::Module;
use burn::tensor::{activation::silu, backend::Backend, Tensor};

use crate::checkpoint::Checkpoint;
use crate::fused::fused_kernels_enabled;
use crate::lora::AdaptedLinear;
use crate::swiglu_fused::fused_swiglu;
use crate::weights::{init_linear, load_linear, NamedTensors};
use crate::{ModelError, Qwen2Config};

/// HF `Qwen2MLP`: `gate_proj`, `up_proj` (`hidden → intermediate`), `down_proj` (back).
#[derive(Module, Debug)]
pub struct Qwen2Mlp<B: Backend> {
    /// `hidden → intermediate`, passed through SiLU.
    pub gate_proj: AdaptedLinear<B>,
    /// `hidden → intermediate`, the linear branch.
    pub up_proj: AdaptedLinear<B>,
    /// `intermediate → hidden`.
    pub down_proj: AdaptedLinear<B>,
}

impl<B: Backend> Qwen2Mlp<B> {
    pub(crate) fn init(config: &Qwen2Config, device: &B::Device) -> Self {
        let (h, i, std) = (
            config.hidden_size,
            config.intermediate_size,
            config.initializer_range,
        );
        Self {
            gate_proj: init_linear(h, i, config.mlp_bias, std, device).into(),
            up_proj: init_linear(h, i, config.mlp_bias, std, device).into(),
            down_proj: init_linear(i, h, config.mlp_bias, std, device).into(),
        }
    }

    pub(crate) fn load(
        checkpoint: &mut Checkpoint,
        prefix: &str,
        config: &Qwen2Config,
        device: &B::Device,
    ) -> Result<Self, ModelError> {
        let (h, i, bias) = (
            config.hidden_size,
            config.intermediate_size,
            config.mlp_bias,
        );
        let mut load = |name: &str, d_in, d_out| {
            load_linear(
                checkpoint,
                &format!("{prefix}.{name}"),
                d_in,
                d_out,
                bias,
                device,
            )
            .map(AdaptedLinear::from)
        };
        Ok(Self {
            gate_proj: load("gate_proj", h, i)?,
            up_proj: load("up_proj", h, i)?,
            down_proj: load("down_proj", i, h)?,
        })
    }

    pub(crate) fn save(&self, prefix: &str, out: &mut NamedTensors) {
        for (name, layer) in self.projections() {
            layer.save(&format!("{prefix}.{name}"), out);
        }
    }

    /// The three projections with their module names, in Hugging Face order.
    pub fn projections(&self) -> [(&'static str, &AdaptedLinear<B>); 3] {
        [
            ("gate_proj", &self.gate_proj),
            ("up_proj", &self.up_proj),
            ("down_proj", &self.down_proj),
        ]
    }

    /// [`Self::projections`], mutable.
    pub fn projections_mut(&mut self) -> [(&'static str, &mut AdaptedLinear<B>); 3] {
        [
            ("gate_proj", &mut self.gate_proj),
            ("up_proj", &mut self.up_proj),
            ("down_proj", &mut self.down_proj),
        ]
    }

    /// `x`: `[batch, seq, hidden]` → `[batch, seq, hidden]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let gate = self.gate_proj.forward(x.clone());
        let up = self.up_proj.forward(x);
        self.down_proj.forward(Self::swiglu(gate, up))
    }

    /// The element-wise middle `silu(gate) ⊙ up` (equal shapes `[..., intermediate]`): one fused
    /// op with its own backward on the CPU backend while [`fused_kernels_enabled`],
    /// [`Self::swiglu_decomposed`] otherwise.
    pub fn swiglu<const D: usize>(gate: Tensor<B, D>, up: Tensor<B, D>) -> Tensor<B, D> {
        let fused = fused_kernels_enabled()
            .then(|| fused_swiglu(&gate, &up))
            .flatten();
        fused.unwrap_or_else(|| Self::swiglu_decomposed(gate, up))
    }

    /// `silu(gate) ⊙ up` as burn's decomposed ops (a sigmoid and two products), on every
    /// backend.
    pub fn swiglu_decomposed<const D: usize>(gate: Tensor<B, D>, up: Tensor<B, D>) -> Tensor<B, D> {
        silu(gate).mul(up)
    }
}
