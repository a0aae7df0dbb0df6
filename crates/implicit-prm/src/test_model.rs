//! Test helpers: a tiny causal LM and an instrumented wrapper that logs every forward.

use std::sync::{Arc, Mutex};

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{backend::Backend, Int, Tensor};
use prime_models::{CausalLm, TokenBatch};

/// A bigram LM: `logits_t = W_out · tanh(E[y_t])`. Tiny, causal, differentiable.
#[derive(Module, Debug)]
pub struct TinyLm<B: Backend> {
    embed: Embedding<B>,
    head: Linear<B>,
}

impl<B: Backend> TinyLm<B> {
    /// Random weights drawn now (burn initialises parameters lazily; drawing them here makes a
    /// preceding `B::seed` decide them).
    pub fn new(vocab: usize, hidden: usize, device: &B::Device) -> Self {
        let model = Self {
            embed: EmbeddingConfig::new(vocab, hidden).init(device),
            head: LinearConfig::new(hidden, vocab).init(device),
        };
        model.embed.weight.val();
        model.head.weight.val();
        if let Some(bias) = &model.head.bias {
            bias.val();
        }
        model
    }

    fn logits(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        self.head.forward(self.embed.forward(ids).tanh())
    }
}

impl<B: Backend> CausalLm<B> for TinyLm<B> {
    type Cache = ();

    fn vocab_size(&self) -> usize {
        self.head.weight.dims()[1]
    }

    fn forward(&self, batch: &TokenBatch<B>) -> Tensor<B, 3> {
        self.logits(batch.input_ids.clone())
    }

    fn new_cache(&self, _batch_size: usize, _capacity: usize) -> Self::Cache {}

    fn forward_step(
        &self,
        new_ids: Tensor<B, 2, Int>,
        _attention_mask: Tensor<B, 2, Int>,
        _cache: &mut Self::Cache,
    ) -> Tensor<B, 3> {
        self.logits(new_ids)
    }
}

/// One logged forward.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardEvent {
    /// Which model ran ("prm" or "ref").
    pub tag: &'static str,
    /// Whether it ran on an autodiff backend.
    pub autodiff: bool,
    /// Token id in column 0 of each row (the tests put a row tag there).
    pub row_tags: Vec<i64>,
    /// Sum of all float parameters: identifies the parameter version.
    pub fingerprint: f64,
}

/// Shared log of forwards.
#[derive(Debug, Clone, Default)]
pub struct ForwardLog(pub Arc<Mutex<Vec<ForwardEvent>>>);

impl ForwardLog {
    pub fn take(&self) -> Vec<ForwardEvent> {
        std::mem::take(&mut *self.0.lock().expect("log lock"))
    }
}

/// Wraps a [`TinyLm`] and logs each `forward`.
#[derive(Module, Debug)]
pub struct Instrumented<B: Backend> {
    pub inner: TinyLm<B>,
    #[module(skip)]
    pub log: ForwardLog,
    #[module(skip)]
    pub tag: &'static str,
}

struct ParamSum(f64);

impl<B: Backend> ModuleVisitor<B> for ParamSum {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let data = param.val().sum().into_data();
        self.0 += f64::from(data.to_vec::<f32>().expect("f32 params")[0]);
    }
}

impl<B: Backend> CausalLm<B> for Instrumented<B> {
    type Cache = ();

    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }

    fn forward(&self, batch: &TokenBatch<B>) -> Tensor<B, 3> {
        let mut sum = ParamSum(0.0);
        self.inner.visit(&mut sum);
        let rows = batch.input_ids.dims()[0];
        let tags = batch
            .input_ids
            .clone()
            .slice([0..rows, 0..1])
            .into_data()
            .convert::<i64>()
            .to_vec::<i64>()
            .expect("int ids");
        self.log.0.lock().expect("log lock").push(ForwardEvent {
            tag: self.tag,
            autodiff: std::any::type_name::<B>().contains("Autodiff"),
            row_tags: tags,
            fingerprint: sum.0,
        });
        self.inner.forward(batch)
    }

    fn new_cache(&self, batch_size: usize, capacity: usize) -> Self::Cache {
        self.inner.new_cache(batch_size, capacity)
    }

    fn forward_step(
        &self,
        new_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
        cache: &mut Self::Cache,
    ) -> Tensor<B, 3> {
        self.inner.forward_step(new_ids, attention_mask, cache)
    }
}
