//! `Qwen2ForCausalLm`: the Qwen2 / Qwen2.5 decoder-only language model (HF `Qwen2ForCausalLM`).
//!
//! Token embedding → `num_hidden_layers` × [`Qwen2DecoderLayer`] → final RMSNorm → LM head
//! (its own matrix, or the embedding matrix when `tie_word_embeddings`). Module fields are named
//! after the Hugging Face modules, so a parameter's path is its HF tensor name
//! (`model.layers.3.self_attn.q_proj.weight`).

use burn::module::Module;
use burn::nn::{Embedding, Linear};
use burn::tensor::{backend::Backend, Int, Tensor, TensorData};

use crate::cache::Qwen2Cache;
use crate::checkpoint::Checkpoint;
use crate::decoder_layer::Qwen2DecoderLayer;
use crate::host_tensor::HostTensor;
use crate::linear_rows::{linear_rows, matmul_rows};
use crate::rms_norm::RmsNorm;
use crate::rotary::RotaryEmbedding;
use crate::weights::{init_linear, load_linear, normal_param, save_linear, NamedTensors};
use crate::{CausalLm, HiddenStates, ModelError, Qwen2Config, TokenBatch};

/// Added to the attention score of a masked (future or padding) key: large enough that its
/// softmax weight is exactly 0 next to any unmasked key, finite so that a query with no visible
/// key (a left pad) gets a uniform, NaN-free distribution.
const MASKED_SCORE: f64 = -1e30;

/// HF `Qwen2Model`: the decoder stack without the LM head.
#[derive(Module, Debug)]
pub struct Qwen2Model<B: Backend> {
    /// Token embedding, `[vocab, hidden]`.
    pub embed_tokens: Embedding<B>,
    /// The decoder layers.
    pub layers: Vec<Qwen2DecoderLayer<B>>,
    /// Final norm.
    pub norm: RmsNorm<B>,
    /// Rotary frequencies (derived from the config, not a parameter).
    #[module(skip)]
    pub rotary: RotaryEmbedding,
}

/// HF `Qwen2ForCausalLM`.
#[derive(Module, Debug)]
pub struct Qwen2ForCausalLm<B: Backend> {
    /// The decoder stack.
    pub model: Qwen2Model<B>,
    /// `hidden → vocab` without bias; `None` when tied to `model.embed_tokens`.
    pub lm_head: Option<Linear<B>>,
    /// The configuration the model was built from.
    #[module(skip)]
    pub config: Qwen2Config,
}

impl Qwen2Config {
    /// A randomly initialised model (HF scheme: weights `N(0, initializer_range²)`, biases 0,
    /// norm scales 1). Seed with `B::seed(device, seed)` first for reproducible weights.
    ///
    /// # Panics
    /// If the config fails [`Qwen2Config::validate`] (configs read from files are validated).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Qwen2ForCausalLm<B> {
        if let Err(error) = self.validate() {
            panic!("Qwen2Config::init: {error}");
        }
        let embed_weight = normal_param(
            [self.vocab_size, self.hidden_size],
            self.initializer_range,
            device,
        );
        let model = Qwen2Model {
            embed_tokens: Embedding {
                weight: embed_weight,
            },
            layers: (0..self.num_hidden_layers)
                .map(|_| Qwen2DecoderLayer::init(self, device))
                .collect(),
            norm: RmsNorm::new(self.hidden_size, self.rms_norm_eps, device),
            rotary: RotaryEmbedding::of(self),
        };
        let lm_head = (!self.tie_word_embeddings).then(|| {
            init_linear(
                self.hidden_size,
                self.vocab_size,
                false,
                self.initializer_range,
                device,
            )
        });
        Qwen2ForCausalLm {
            model,
            lm_head,
            config: self.clone(),
        }
    }
}

impl<B: Backend> Qwen2ForCausalLm<B> {
    /// The configuration the model was built from.
    pub fn config(&self) -> &Qwen2Config {
        &self.config
    }

    /// Builds the model from checkpoint tensors; every tensor must be taken exactly once.
    pub(crate) fn load(
        checkpoint: &mut Checkpoint,
        config: &Qwen2Config,
        device: &B::Device,
    ) -> Result<Self, ModelError> {
        let (vocab, hidden) = (config.vocab_size, config.hidden_size);
        let embed = checkpoint.take("model.embed_tokens.weight", &[vocab, hidden])?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                Qwen2DecoderLayer::load(checkpoint, &format!("model.layers.{i}"), config, device)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let norm = checkpoint.take("model.norm.weight", &[hidden])?;
        let lm_head = if config.tie_word_embeddings {
            checkpoint.discard("lm_head.weight");
            None
        } else {
            Some(load_linear(
                checkpoint, "lm_head", hidden, vocab, false, device,
            )?)
        };
        Ok(Self {
            model: Qwen2Model {
                embed_tokens: Embedding {
                    weight: burn::module::Param::from_tensor(embed.to_tensor(device)),
                },
                layers,
                norm: RmsNorm::from_weight(norm.to_tensor(device), config.rms_norm_eps),
                rotary: RotaryEmbedding::of(config),
            },
            lm_head,
            config: config.clone(),
        })
    }

    /// Every parameter under its Hugging Face name and in HF layout (`[out, in]` matrices).
    pub fn hf_tensors(&self) -> Vec<(String, HostTensor)> {
        let mut out: NamedTensors = Vec::new();
        out.push((
            "model.embed_tokens.weight".into(),
            HostTensor::from_tensor(self.model.embed_tokens.weight.val()),
        ));
        for (i, layer) in self.model.layers.iter().enumerate() {
            layer.save(&format!("model.layers.{i}"), &mut out);
        }
        out.push((
            "model.norm.weight".into(),
            HostTensor::from_tensor(self.model.norm.weight.val()),
        ));
        if let Some(head) = &self.lm_head {
            save_linear(head, "lm_head", &mut out);
        }
        out
    }

    /// Final hidden states → logits: `[batch, n, hidden]` → `[batch, n, vocab]`.
    fn project(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        match &self.lm_head {
            Some(head) => linear_rows(head, hidden),
            None => matmul_rows(hidden, self.head_matrix(), None),
        }
    }

    /// The LM head as a `[hidden, vocab]` matrix: `lm_head`'s weight, or the embedding matrix
    /// transposed when tied. `None` for a head with a bias (Qwen2's has none).
    pub(crate) fn head_matrix_unbiased(&self) -> Option<Tensor<B, 2>> {
        match &self.lm_head {
            Some(head) if head.bias.is_some() => None,
            Some(head) => Some(head.weight.val()),
            None => Some(self.head_matrix()),
        }
    }

    /// The tied head: the embedding matrix `[vocab, hidden]` transposed.
    fn head_matrix(&self) -> Tensor<B, 2> {
        self.model.embed_tokens.weight.val().transpose()
    }

    /// What every decoder layer of an uncached forward over `batch` reads besides its input: the
    /// rotary tables `cos`, `sin` (`[batch, 1, seq, head_dim]`) and the attention mask bias
    /// (`[batch, 1, seq, seq]`), as [`Self::run`] computes them.
    pub(crate) fn layer_context(
        &self,
        batch: &TokenBatch<B>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>, Tensor<B, 4>) {
        let n = batch.input_ids.dims()[1];
        let mask = batch.attention_mask.clone();
        let positions = mask.clone().cumsum(1).sub_scalar(1).clamp_min(0);
        let (cos, sin) = self.model.rotary.cos_sin(positions);
        let device = mask.device();
        (cos, sin, mask_bias(mask, 0, n, &device))
    }

    /// Runs the newest `n` positions (`input_ids`, `[batch, n]`) after `past` cached ones and
    /// returns their final (normed) hidden states `[batch, n, hidden]`.
    ///
    /// `attention_mask` is `[batch, past + n]`. Position ids are `cumsum(mask) − 1` (0 on left
    /// pads); a query attends key `j` iff `j ≤` its own index and `mask[j] = 1`.
    fn run(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
        mut cache: Option<&mut Qwen2Cache<B>>,
    ) -> Tensor<B, 3> {
        let [batch, n] = input_ids.dims();
        let [mask_batch, total] = attention_mask.dims();
        let past = cache.as_ref().map_or(0, |cache| cache.len);
        assert!(
            mask_batch == batch && total == past + n,
            "attention_mask is [{mask_batch}, {total}], expected [{batch}, {}] (cached {past} + new {n})",
            past + n
        );
        let device = input_ids.device();
        let positions = attention_mask
            .clone()
            .cumsum(1)
            .sub_scalar(1)
            .clamp_min(0)
            .slice([0..batch, past..total]);
        let (cos, sin) = self.model.rotary.cos_sin(positions);
        let mask_bias = mask_bias(attention_mask, past, n, &device);

        let mut x = self.model.embed_tokens.forward(input_ids); // [batch, n, hidden]
        for (i, layer) in self.model.layers.iter().enumerate() {
            let layer_cache = cache.as_deref_mut().map(|cache| &mut cache.layers[i]);
            x = layer.forward(x, &cos, &sin, &mask_bias, layer_cache);
        }
        if let Some(cache) = cache {
            cache.len += n;
        }
        self.model.norm.forward(x)
    }
}

/// `[batch, 1, n, past + n]`: 0 where query `q` (absolute index `past + q`) may attend key `k`
/// (`k ≤ past + q` and `mask[k] = 1`), [`MASKED_SCORE`] elsewhere.
fn mask_bias<B: Backend>(
    attention_mask: Tensor<B, 2, Int>,
    past: usize,
    n: usize,
    device: &B::Device,
) -> Tensor<B, 4> {
    let [batch, total] = attention_mask.dims();
    let causal: Vec<f32> = (0..n)
        .flat_map(|q| (0..total).map(move |k| if k <= past + q { 1.0 } else { 0.0 }))
        .collect();
    // Both factors repeated to the full shape first: a product of two contiguous tensors
    // takes burn-flex's vectorised path, a broadcast one its per-element strided iterator.
    let causal = Tensor::<B, 4>::from_data(TensorData::new(causal, [1, 1, n, total]), device)
        .repeat_dim(0, batch);
    let keys = attention_mask
        .float()
        .reshape([batch, 1, 1, total])
        .repeat_dim(2, n);
    causal.mul(keys).sub_scalar(1.0).mul_scalar(-MASKED_SCORE)
}

impl<B: Backend> CausalLm<B> for Qwen2ForCausalLm<B> {
    type Cache = Qwen2Cache<B>;

    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }

    fn forward(&self, batch: &TokenBatch<B>) -> Tensor<B, 3> {
        self.project(self.run(batch.input_ids.clone(), batch.attention_mask.clone(), None))
    }

    fn hidden_states(&self, batch: &TokenBatch<B>) -> Option<HiddenStates<B>> {
        let head = self.head_matrix_unbiased()?;
        let hidden = self.run(batch.input_ids.clone(), batch.attention_mask.clone(), None);
        Some(HiddenStates { hidden, head })
    }

    fn new_cache(&self, batch_size: usize, _capacity: usize) -> Self::Cache {
        Qwen2Cache::new(self.config.num_hidden_layers, batch_size)
    }

    fn forward_step(
        &self,
        new_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
        cache: &mut Self::Cache,
    ) -> Tensor<B, 3> {
        self.project(self.run(new_ids, attention_mask, Some(cache)))
    }
}
