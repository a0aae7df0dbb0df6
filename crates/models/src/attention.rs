//! Grouped-query self-attention with rotary positions, as in Hugging Face `Qwen2Attention` (and
//! `Qwen3Attention`, `LlamaAttention`): `q/k/v/o` projections, biased as the config says (Qwen2:
//! `q/k/v` only), an optional RMSNorm on each query and key head before RoPE (Qwen3),
//! `num_attention_heads / num_key_value_heads` query heads per key/value head,
//! `softmax(q·kᵀ/√d + mask) · v`.

use burn::module::Module;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{activation::softmax, backend::Backend, module::attention, Tensor};

use crate::attention_fused::fused_attention;
use crate::backend_dispatch::is_cpu_f32;
use crate::cache::LayerCache;
use crate::checkpoint::Checkpoint;
use crate::fused::fused_kernels_enabled;
use crate::host_tensor::HostTensor;
use crate::lora::AdaptedLinear;
use crate::rms_norm::RmsNorm;
use crate::rotary::RotaryEmbedding;
use crate::rotary_fused::fused_rotary;
use crate::weights::{init_linear, load_linear, NamedTensors};
use crate::{ModelError, Qwen2Config};

/// HF `Qwen2Attention`.
#[derive(Module, Debug)]
pub struct Qwen2Attention<B: Backend> {
    /// `hidden → heads · head_dim`.
    pub q_proj: AdaptedLinear<B>,
    /// `hidden → kv_heads · head_dim`.
    pub k_proj: AdaptedLinear<B>,
    /// `hidden → kv_heads · head_dim`.
    pub v_proj: AdaptedLinear<B>,
    /// `heads · head_dim → hidden`.
    pub o_proj: AdaptedLinear<B>,
    /// RMSNorm over each query head (`[head_dim]`), before RoPE (Qwen3).
    pub q_norm: Option<RmsNorm<B>>,
    /// RMSNorm over each key head (`[head_dim]`), before RoPE (Qwen3).
    pub k_norm: Option<RmsNorm<B>>,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads.
    pub num_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
}

impl<B: Backend> Qwen2Attention<B> {
    pub(crate) fn init(config: &Qwen2Config, device: &B::Device) -> Self {
        let (h, std) = (config.hidden_size, config.initializer_range);
        let q = config.num_attention_heads * config.head_dim;
        let kv = config.num_key_value_heads * config.head_dim;
        let (bias, o_bias) = (config.qkv_bias, config.o_proj_bias);
        let norm = || {
            config
                .qk_norm
                .then(|| RmsNorm::new(config.head_dim, config.rms_norm_eps, device))
        };
        Self {
            q_proj: init_linear(h, q, bias, std, device).into(),
            k_proj: init_linear(h, kv, bias, std, device).into(),
            v_proj: init_linear(h, kv, bias, std, device).into(),
            o_proj: init_linear(q, h, o_bias, std, device).into(),
            q_norm: norm(),
            k_norm: norm(),
            num_heads: config.num_attention_heads,
            num_kv_heads: config.num_key_value_heads,
            head_dim: config.head_dim,
        }
    }

    pub(crate) fn load(
        checkpoint: &mut Checkpoint,
        prefix: &str,
        config: &Qwen2Config,
        device: &B::Device,
    ) -> Result<Self, ModelError> {
        let h = config.hidden_size;
        let q = config.num_attention_heads * config.head_dim;
        let kv = config.num_key_value_heads * config.head_dim;
        let (bias, o_bias) = (config.qkv_bias, config.o_proj_bias);
        let mut norm = |name: &str| -> Result<Option<RmsNorm<B>>, ModelError> {
            if !config.qk_norm {
                return Ok(None);
            }
            let weight = checkpoint.take(&format!("{prefix}.{name}.weight"), &[config.head_dim])?;
            Ok(Some(RmsNorm::from_weight(
                weight.to_tensor(device),
                config.rms_norm_eps,
            )))
        };
        let (q_norm, k_norm) = (norm("q_norm")?, norm("k_norm")?);
        let mut load = |name: &str, d_in, d_out, bias| {
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
            q_proj: load("q_proj", h, q, bias)?,
            k_proj: load("k_proj", h, kv, bias)?,
            v_proj: load("v_proj", h, kv, bias)?,
            o_proj: load("o_proj", q, h, o_bias)?,
            q_norm,
            k_norm,
            num_heads: config.num_attention_heads,
            num_kv_heads: config.num_key_value_heads,
            head_dim: config.head_dim,
        })
    }

    pub(crate) fn save(&self, prefix: &str, out: &mut NamedTensors) {
        for (name, layer) in self.projections() {
            layer.save(&format!("{prefix}.{name}"), out);
        }
        for (name, norm) in [("q_norm", &self.q_norm), ("k_norm", &self.k_norm)] {
            if let Some(norm) = norm {
                out.push((
                    format!("{prefix}.{name}.weight"),
                    HostTensor::from_tensor(norm.weight.val()),
                ));
            }
        }
    }

    /// The four projections with their module names, in Hugging Face order.
    pub fn projections(&self) -> [(&'static str, &AdaptedLinear<B>); 4] {
        [
            ("q_proj", &self.q_proj),
            ("k_proj", &self.k_proj),
            ("v_proj", &self.v_proj),
            ("o_proj", &self.o_proj),
        ]
    }

    /// [`Self::projections`], mutable.
    pub fn projections_mut(&mut self) -> [(&'static str, &mut AdaptedLinear<B>); 4] {
        [
            ("q_proj", &mut self.q_proj),
            ("k_proj", &mut self.k_proj),
            ("v_proj", &mut self.v_proj),
            ("o_proj", &mut self.o_proj),
        ]
    }

    /// Attention over `x` (`[batch, n, hidden]`, the newest `n` positions).
    ///
    /// - `cos`, `sin`: rotary tables of the new positions, `[batch, 1, n, head_dim]`;
    /// - `mask_bias`: `[batch, 1, n, total]`, 0 where a query may attend a key and a large
    ///   negative finite number elsewhere (`total` = cached + `n` positions);
    /// - `cache`: when given, the new keys/values are appended to it and attention covers all
    ///   cached positions.
    ///
    /// On the CPU backend (with or without autodiff, with or without a cache) and unless
    /// [`crate::fused::fused_kernels_enabled`] says no, rotary and attention run as fused ops
    /// with their own backward in the projections' layout (`rotary_fused.rs`,
    /// `attention_fused.rs`; grouped-query heads read without copies, the cache kept in that
    /// layout); otherwise as [`Self::decomposed`].
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        cos: &Tensor<B, 4>,
        sin: &Tensor<B, 4>,
        mask_bias: &Tensor<B, 4>,
        mut cache: Option<&mut LayerCache<B>>,
    ) -> Tensor<B, 3> {
        if fused_kernels_enabled() && !decomposed_forced() {
            if let Some(out) = self.fused(&x, cos, sin, mask_bias, cache.as_deref_mut()) {
                return out;
            }
        }
        self.decomposed(x, cos, sin, mask_bias, cache)
    }

    /// [`Self::forward`] with fused rotary and attention; `None` where they do not apply: on
    /// another backend or dtype (found before any work), or on shapes they decline (the cache
    /// then holds what it held).
    fn fused(
        &self,
        x: &Tensor<B, 3>,
        cos: &Tensor<B, 4>,
        sin: &Tensor<B, 4>,
        mask_bias: &Tensor<B, 4>,
        mut cache: Option<&mut LayerCache<B>>,
    ) -> Option<Tensor<B, 3>> {
        if !is_cpu_f32::<B>(x.dtype()) {
            return None;
        }
        let [batch, n, _] = x.dims();
        let (heads, kv_heads, dim) = (self.num_heads, self.num_kv_heads, self.head_dim);
        // [batch, n, heads, dim]: the projection's layout, a free reshape.
        let q = self
            .q_proj
            .forward(x.clone())
            .reshape([batch, n, heads, dim]);
        let k = self
            .k_proj
            .forward(x.clone())
            .reshape([batch, n, kv_heads, dim]);
        let v = self
            .v_proj
            .forward(x.clone())
            .reshape([batch, n, kv_heads, dim]);
        let (q, k) = self.norm_heads(q, k);
        let q = fused_rotary(&q, cos, sin)?.reshape([batch, n, heads * dim]);
        let k = fused_rotary(&k, cos, sin)?;
        // [batch, total, kv_heads, dim]: the cached positions, then the new ones.
        let (k, v) = match cache.as_deref_mut() {
            Some(cache) if cache.key.is_some() => cache.with_rows(k, v),
            _ => (k, v),
        };
        let total = k.dims()[1];
        let (k_rows, v_rows) = (
            k.clone().reshape([batch, total, kv_heads * dim]),
            v.clone().reshape([batch, total, kv_heads * dim]),
        );
        let context = fused_attention(&q, &k_rows, &v_rows, mask_bias, heads, kv_heads)?;
        if let Some(cache) = cache {
            cache.set_rows(k, v);
        }
        Some(self.o_proj.forward(context))
    }

    /// The optional per-head RMSNorms (Qwen3) of `q` and `k`, over their last dimension (the
    /// head width), in either path's layout.
    fn norm_heads(&self, q: Tensor<B, 4>, k: Tensor<B, 4>) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let norm = |norm: &Option<RmsNorm<B>>, x: Tensor<B, 4>| match norm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        (norm(&self.q_norm, q), norm(&self.k_norm, k))
    }

    /// [`Self::forward`] as burn ops on every backend (and with a cache): heads split by
    /// reshape + transpose, [`RotaryEmbedding::apply`], `repeat_kv` copies for grouped-query
    /// attention, then under autodiff `softmax(q·kᵀ·scale + mask_bias) · v` as explicit ops (in
    /// inference, the backend's attention kernel); the reference the fused ops are tested against.
    pub fn decomposed(
        &self,
        x: Tensor<B, 3>,
        cos: &Tensor<B, 4>,
        sin: &Tensor<B, 4>,
        mask_bias: &Tensor<B, 4>,
        cache: Option<&mut LayerCache<B>>,
    ) -> Tensor<B, 3> {
        let [batch, n, _] = x.dims();
        let (heads, kv_heads, dim) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let split = |t: Tensor<B, 3>, h: usize| t.reshape([batch, n, h, dim]).swap_dims(1, 2);
        let q = split(self.q_proj.forward(x.clone()), heads); // [batch, heads, n, dim]
        let k = split(self.k_proj.forward(x.clone()), kv_heads); // [batch, kv_heads, n, dim]
        let v = split(self.v_proj.forward(x), kv_heads);
        let (q, k) = self.norm_heads(q, k);
        let q = RotaryEmbedding::apply(q, cos, sin);
        let k = RotaryEmbedding::apply(k, cos, sin);
        let (k, v) = match cache {
            Some(cache) => cache.append(k, v),
            None => (k, v),
        };
        let k = repeat_kv(k, heads / kv_heads); // [batch, heads, total, dim]
        let v = repeat_kv(v, heads / kv_heads);
        let scale = (dim as f64).powf(-0.5);
        let context = if B::ad_enabled(&q.device()) {
            // Explicit ops: differentiable on every backend.
            let scores = q
                .matmul(k.swap_dims(2, 3))
                .mul_scalar(scale)
                .add(mask_bias.clone());
            softmax(scores, 3).matmul(v) // [batch, heads, n, dim]
        } else {
            // Inference: the backend's fused kernel (the same formula).
            let options = AttentionModuleOptions {
                scale: Some(scale),
                softcap: None,
                is_causal: false,
            };
            attention(q, k, v, None, Some(mask_bias.clone()), options)
        };
        let context = context.swap_dims(1, 2).reshape([batch, n, heads * dim]);
        self.o_proj.forward(context)
    }
}

/// `[batch, kv_heads, t, d]` → `[batch, kv_heads · groups, t, d]`, head `h` reading kv head
/// `h / groups` (HF `repeat_kv`).
fn repeat_kv<B: Backend>(x: Tensor<B, 4>, groups: usize) -> Tensor<B, 4> {
    if groups == 1 {
        return x;
    }
    let [batch, kv_heads, t, d] = x.dims();
    x.unsqueeze_dim::<5>(2)
        .expand([batch, kv_heads, groups, t, d])
        .reshape([batch, kv_heads * groups, t, d])
}

#[cfg(test)]
thread_local! {
    /// Set by [`with_decomposed_attention`]: this thread's attention takes the decomposed path.
    static DECOMPOSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread's tests asked for the decomposed attention.
fn decomposed_forced() -> bool {
    #[cfg(test)]
    return DECOMPOSED.with(std::cell::Cell::get);
    #[cfg(not(test))]
    false
}

/// Runs `f` with every [`Qwen2Attention::forward`] on this thread taking the decomposed path
/// (the whole-model reference of the fused ops' tests).
#[cfg(test)]
pub(crate) fn with_decomposed_attention<R>(f: impl FnOnce() -> R) -> R {
    DECOMPOSED.with(|flag| flag.set(true));
    let out = f();
    DECOMPOSED.with(|flag| flag.set(false));
    out
}
