//! One pre-norm transformer block, HF `Qwen2DecoderLayer`:
//! `x += attn(norm₁(x))`, then `x += mlp(norm₂(x))`.

use burn::module::Module;
use burn::tensor::{backend::Backend, Tensor};

use crate::attention::Qwen2Attention;
use crate::cache::LayerCache;
use crate::checkpoint::Checkpoint;
use crate::host_tensor::HostTensor;
use crate::mlp::Qwen2Mlp;
use crate::rms_norm::RmsNorm;
use crate::weights::NamedTensors;
use crate::{ModelError, Qwen2Config};

/// HF `Qwen2DecoderLayer`.
#[derive(Module, Debug)]
pub struct Qwen2DecoderLayer<B: Backend> {
    /// Norm before attention.
    pub input_layernorm: RmsNorm<B>,
    /// Self-attention.
    pub self_attn: Qwen2Attention<B>,
    /// Norm before the MLP.
    pub post_attention_layernorm: RmsNorm<B>,
    /// Feed-forward block.
    pub mlp: Qwen2Mlp<B>,
}

impl<B: Backend> Qwen2DecoderLayer<B> {
    pub(crate) fn init(config: &Qwen2Config, device: &B::Device) -> Self {
        Self {
            input_layernorm: RmsNorm::new(config.hidden_size, config.rms_norm_eps, device),
            self_attn: Qwen2Attention::init(config, device),
            post_attention_layernorm: RmsNorm::new(config.hidden_size, config.rms_norm_eps, device),
            mlp: Qwen2Mlp::init(config, device),
        }
    }

    pub(crate) fn load(
        checkpoint: &mut Checkpoint,
        prefix: &str,
        config: &Qwen2Config,
        device: &B::Device,
    ) -> Result<Self, ModelError> {
        let h = config.hidden_size;
        let norm = |checkpoint: &mut Checkpoint, name: &str| -> Result<RmsNorm<B>, ModelError> {
            let weight = checkpoint.take(&format!("{prefix}.{name}.weight"), &[h])?;
            Ok(RmsNorm::from_weight(
                weight.to_tensor(device),
                config.rms_norm_eps,
            ))
        };
        Ok(Self {
            input_layernorm: norm(checkpoint, "input_layernorm")?,
            self_attn: Qwen2Attention::load(
                checkpoint,
                &format!("{prefix}.self_attn"),
                config,
                device,
            )?,
            post_attention_layernorm: norm(checkpoint, "post_attention_layernorm")?,
            mlp: Qwen2Mlp::load(checkpoint, &format!("{prefix}.mlp"), config, device)?,
        })
    }

    pub(crate) fn save(&self, prefix: &str, out: &mut NamedTensors) {
        out.push((
            format!("{prefix}.input_layernorm.weight"),
            HostTensor::from_tensor(self.input_layernorm.weight.val()),
        ));
        self.self_attn.save(&format!("{prefix}.self_attn"), out);
        out.push((
            format!("{prefix}.post_attention_layernorm.weight"),
            HostTensor::from_tensor(self.post_attention_layernorm.weight.val()),
        ));
        self.mlp.save(&format!("{prefix}.mlp"), out);
    }

    /// `x`: `[batch, n, hidden]` → `[batch, n, hidden]`; see [`Qwen2Attention::forward`].
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        cos: &Tensor<B, 4>,
        sin: &Tensor<B, 4>,
        mask_bias: &Tensor<B, 4>,
        cache: Option<&mut LayerCache<B>>,
    ) -> Tensor<B, 3> {
        let attended = self.self_attn.forward(
            self.input_layernorm.forward(x.clone()),
            cos,
            sin,
            mask_bias,
            cache,
        );
        let x = x.add(attended);
        let mlp = self
            .mlp
            .forward(self.post_attention_layernorm.forward(x.clone()));
        x.add(mlp)
    }
}
