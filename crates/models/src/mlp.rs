//! The SwiGLU feed-forward block (Shazeer 2020): `down(silu(gate(x)) ⊙ up(x))`, biased only
//! where the config says so (Llama's `mlp_bias`).

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{activation::silu, backend::Backend, Tensor};

use crate::checkpoint::Checkpoint;
use crate::linear_rows::linear_rows;
use crate::weights::{init_linear, load_linear, save_linear, NamedTensors};
use crate::{ModelError, Qwen2Config};

/// HF `Qwen2MLP`: `gate_proj`, `up_proj` (`hidden → intermediate`), `down_proj` (back).
#[derive(Module, Debug)]
pub struct Qwen2Mlp<B: Backend> {
    /// `hidden → intermediate`, passed through SiLU.
    pub gate_proj: Linear<B>,
    /// `hidden → intermediate`, the linear branch.
    pub up_proj: Linear<B>,
    /// `intermediate → hidden`.
    pub down_proj: Linear<B>,
}

impl<B: Backend> Qwen2Mlp<B> {
    pub(crate) fn init(config: &Qwen2Config, device: &B::Device) -> Self {
        let (h, i, std) = (
            config.hidden_size,
            config.intermediate_size,
            config.initializer_range,
        );
        Self {
            gate_proj: init_linear(h, i, config.mlp_bias, std, device),
            up_proj: init_linear(h, i, config.mlp_bias, std, device),
            down_proj: init_linear(i, h, config.mlp_bias, std, device),
        }
    }

    pub(crate) fn load(
        checkpoint: &mut Checkpoint,
        prefix: &str,
        config: &Qwen2Config,
        device: &B::Device,
    ) -> Result<Self, ModelError> {
        let (h, i) = (config.hidden_size, config.intermediate_size);
        Ok(Self {
            gate_proj: load_linear(
                checkpoint,
                &format!("{prefix}.gate_proj"),
                h,
                i,
                config.mlp_bias,
                device,
            )?,
            up_proj: load_linear(
                checkpoint,
                &format!("{prefix}.up_proj"),
                h,
                i,
                config.mlp_bias,
                device,
            )?,
            down_proj: load_linear(
                checkpoint,
                &format!("{prefix}.down_proj"),
                i,
                h,
                config.mlp_bias,
                device,
            )?,
        })
    }

    pub(crate) fn save(&self, prefix: &str, out: &mut NamedTensors) {
        save_linear(&self.gate_proj, &format!("{prefix}.gate_proj"), out);
        save_linear(&self.up_proj, &format!("{prefix}.up_proj"), out);
        save_linear(&self.down_proj, &format!("{prefix}.down_proj"), out);
    }

    /// `x`: `[batch, seq, hidden]` → `[batch, seq, hidden]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let gate = silu(linear_rows(&self.gate_proj, x.clone()));
        linear_rows(&self.down_proj, gate.mul(linear_rows(&self.up_proj, x)))
    }
}
