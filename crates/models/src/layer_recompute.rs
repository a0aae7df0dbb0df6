//! Activation checkpointing by layer (`[memory] checkpoint_activations`): scores for training
//! whose backward recomputes one decoder layer at a time instead of keeping every layer's
//! activations.
//!
//! Forward: the embedding, then every decoder layer *without* a graph (on the inner backend),
//! keeping only each layer's input `x_l` (`[batch, seq, hidden]`); the last layer's output
//! becomes an autodiff leaf, and the final norm, the LM head and the log-softmax run with a graph
//! (chunked when the batch says so). Backward, given the loss:
//!
//! 1. `loss.backward()` gives `g_L = ∂loss/∂x_L` and the gradients of the norm and head;
//! 2. for `l = L − 1 … 0`: rerun layer `l` on `x_l` (a leaf) with a graph and back-propagate
//!    the surrogate `Σ layer_l(x_l) ⊙ g_{l+1}`, whose gradients are exactly layer `l`'s
//!    parameter gradients and `g_l = ∂loss/∂x_l`;
//! 3. the embedding gets `Σ embed(ids) ⊙ g_0`.
//!
//! At most one layer's activations exist at a time: memory `L·(batch·seq·hidden)` for the
//! inputs plus one layer's set, for one extra forward of the layers. Gradients equal the plain
//! backward's (up to float summation order; tested).

use std::any::Any;

use burn::module::{AutodiffModule, Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;

use crate::chunked_response::chunked_response_scores;
use crate::linear_rows::matmul_rows;
use crate::response_scores::ResponseScores;
use crate::{response_scores, CausalLm, HiddenStates, ModelError, Qwen2ForCausalLm, ResponseBatch};

/// How [`ScoreTape::backward`] gets the gradients of a loss over training scores.
pub enum ScoreTape<B: AutodiffBackend> {
    /// The scores carry the whole graph: a plain `loss.backward()`.
    Graph,
    /// The layers are recomputed one at a time.
    Layers(LayerTape<B>),
}

/// What the layer-by-layer backward needs: every layer's input and the leaf the head saw.
pub struct LayerTape<B: AutodiffBackend> {
    /// `x_0 … x_{L−1}`, each `[batch, seq, hidden]`, without a graph.
    inputs: Vec<Tensor<B::InnerBackend, 3>>,
    /// `x_L` as an autodiff leaf.
    leaf: Tensor<B, 3>,
    /// The batch's token ids and mask (for the recomputation).
    batch: crate::TokenBatch<B>,
}

/// The scores of [`response_scores`] for a loss to be back-propagated, and how to do it: with
/// `recompute_layers` and the built-in decoder (with an unbiased LM head), by
/// layer recomputation ([`ScoreTape::Layers`]: each decoder layer rerun in the backward);
/// otherwise through the ordinary graph.
pub fn training_scores<B: AutodiffBackend, M: CausalLm<B> + 'static>(
    model: &M,
    batch: &ResponseBatch<B>,
    with_entropy: bool,
    recompute_layers: bool,
) -> Result<(ResponseScores<B>, ScoreTape<B>), ModelError> {
    if recompute_layers {
        if let Some(decoder) = (model as &dyn Any).downcast_ref::<Qwen2ForCausalLm<B>>() {
            if let Some(out) = decoder.scores_recomputing_layers(batch, with_entropy)? {
                return Ok(out);
            }
        }
    }
    Ok((
        response_scores(model, batch, with_entropy)?,
        ScoreTape::Graph,
    ))
}

impl<B: AutodiffBackend> ScoreTape<B> {
    /// The gradients of `loss` (a scalar built from the scores of [`training_scores`]) with
    /// respect to `model`'s parameters: the same model the scores came from.
    pub fn backward<M: AutodiffModule<B> + 'static>(
        self,
        loss: Tensor<B, 1>,
        model: &M,
    ) -> GradientsParams {
        match self {
            ScoreTape::Graph => GradientsParams::from_grads(loss.backward(), model),
            ScoreTape::Layers(tape) => {
                let decoder = (model as &dyn Any)
                    .downcast_ref::<Qwen2ForCausalLm<B>>()
                    .expect("a layer tape comes from the built-in decoder");
                tape.backward(loss, decoder)
            }
        }
    }
}

impl<B: AutodiffBackend> Qwen2ForCausalLm<B> {
    /// [`training_scores`] by layer recomputation; `None` when the head has a bias (no
    /// [`HiddenStates`]).
    #[allow(clippy::type_complexity)]
    fn scores_recomputing_layers(
        &self,
        batch: &ResponseBatch<B>,
        with_entropy: bool,
    ) -> Result<Option<(ResponseScores<B>, ScoreTape<B>)>, ModelError> {
        let Some(head) = self.head_matrix_unbiased() else {
            return Ok(None);
        };
        let dims = batch.dims()?;
        let tokens = &batch.tokens;
        let (cos, sin, mask) = self.layer_context(tokens);
        let (cos, sin, mask) = (cos.inner(), sin.inner(), mask.inner());
        let mut x = self
            .model
            .embed_tokens
            .forward(tokens.input_ids.clone())
            .inner();
        let mut inputs = Vec::with_capacity(self.model.layers.len());
        for layer in &self.model.layers {
            inputs.push(x.clone());
            x = layer.valid().forward(x, &cos, &sin, &mask, None);
        }
        let leaf = Tensor::<B, 3>::from_inner(x).require_grad();
        let states = HiddenStates {
            hidden: self.model.norm.forward(leaf.clone()),
            head,
        };
        // The head scores as `response_scores` would: chunked, or through whole logits (the
        // same ops as the model's own projection), so a frozen copy scored normally agrees
        // bit for bit.
        let scores = match batch.logprob_chunk {
            0 => response_scores(&Projected(states), batch, with_entropy)?,
            chunk => chunked_response_scores(states, batch, dims, chunk, with_entropy),
        };
        let tape = LayerTape {
            inputs,
            leaf,
            batch: tokens.clone(),
        };
        Ok(Some((scores, ScoreTape::Layers(tape))))
    }
}

impl<B: AutodiffBackend> LayerTape<B> {
    fn backward(self, loss: Tensor<B, 1>, model: &Qwen2ForCausalLm<B>) -> GradientsParams {
        let grads = loss.backward();
        let mut upstream = self.leaf.grad(&grads);
        let mut total = GradientsParams::from_grads(grads, model);
        let (cos, sin, mask) = model.layer_context(&self.batch);
        for (layer, input) in model.model.layers.iter().zip(self.inputs).rev() {
            let Some(g) = upstream.take() else {
                break; // nothing downstream depends on the layers
            };
            let x = Tensor::<B, 3>::from_inner(input).require_grad();
            let y = layer.forward(x.clone(), &cos, &sin, &mask, None);
            let grads = y.mul(Tensor::from_inner(g)).sum().backward();
            upstream = x.grad(&grads);
            add_into(&mut total, GradientsParams::from_grads(grads, model), model);
        }
        let embedding_trains = model.model.embed_tokens.weight.val().is_require_grad();
        if let (Some(g), true) = (upstream, embedding_trains) {
            let embedded = model
                .model
                .embed_tokens
                .forward(self.batch.input_ids.clone());
            let grads = embedded.mul(Tensor::from_inner(g)).sum().backward();
            add_into(&mut total, GradientsParams::from_grads(grads, model), model);
        }
        total
    }
}

/// Final hidden states as a [`CausalLm`] whose logits are `hidden · head` (by
/// [`matmul_rows`], as [`Qwen2ForCausalLm`] projects them); used for scoring only.
struct Projected<B: AutodiffBackend>(HiddenStates<B>);

impl<B: AutodiffBackend> CausalLm<B> for Projected<B> {
    type Cache = ();

    fn vocab_size(&self) -> usize {
        self.0.head.dims()[1]
    }

    fn forward(&self, _batch: &crate::TokenBatch<B>) -> Tensor<B, 3> {
        matmul_rows(self.0.hidden.clone(), self.0.head.clone(), None)
    }

    fn new_cache(&self, _batch_size: usize, _capacity: usize) {}

    fn forward_step(
        &self,
        _new_ids: Tensor<B, 2, burn::tensor::Int>,
        _attention_mask: Tensor<B, 2, burn::tensor::Int>,
        _cache: &mut (),
    ) -> Tensor<B, 3> {
        unreachable!("Projected only scores whole batches")
    }
}

/// `total += more`, parameter by parameter (a tied embedding gets gradients from the head and
/// from the embedding lookup).
fn add_into<B: AutodiffBackend, M: Module<B>>(
    total: &mut GradientsParams,
    mut more: GradientsParams,
    model: &M,
) {
    struct Add<'a, B: AutodiffBackend> {
        total: &'a mut GradientsParams,
        more: &'a mut GradientsParams,
        _backend: std::marker::PhantomData<B>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Add<'_, B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let id: ParamId = param.id;
            if let Some(g) = self.more.remove::<B::InnerBackend, D>(id) {
                let sum = match self.total.remove::<B::InnerBackend, D>(id) {
                    Some(t) => t.add(g),
                    None => g,
                };
                self.total.register(id, sum);
            }
        }
    }
    model.visit(&mut Add::<B> {
        total,
        more: &mut more,
        _backend: std::marker::PhantomData,
    });
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::backend::Backend;

    use super::*;
    use crate::adapters::attach_lora;
    use crate::{LoraConfig, PretrainedLm, Qwen2Config};

    type Ad = Autodiff<Flex>;

    /// Every parameter gradient of `model`, flattened in visiting order (absent ones empty).
    fn flat(model: &Qwen2ForCausalLm<Ad>, grads: &GradientsParams) -> Vec<Vec<f32>> {
        struct Collect<'a>(&'a GradientsParams, Vec<Vec<f32>>);
        impl ModuleVisitor<Ad> for Collect<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Ad, D>>) {
                let g = self.0.get::<Flex, D>(param.id);
                self.1
                    .push(g.map_or_else(Vec::new, |g| g.into_data().to_vec().unwrap()));
            }
        }
        let mut c = Collect(grads, Vec::new());
        model.visit(&mut c);
        c.1
    }

    /// A loss that uses log-probs and entropies with unequal weights per token.
    fn loss(scores: &ResponseScores<Ad>) -> Tensor<Ad, 1> {
        let lp = scores.log_probs.clone();
        let weights = lp.ones_like().cumsum(1).mul_scalar(0.3);
        let entropy = scores.entropy.clone().expect("entropy");
        lp.mul(weights).sum().add(entropy.mul_scalar(0.1).sum())
    }

    fn check(model: Qwen2ForCausalLm<Ad>, chunk: usize) {
        let device = Default::default();
        let prompts = vec![vec![3u32, 5, 7], vec![9u32]];
        let responses = vec![vec![2u32, 4, 6, 8], vec![1u32, 2]];
        let batch = ResponseBatch::<Ad>::from_ids(&prompts, &responses, 0, &device)
            .unwrap()
            .with_logprob_chunk(chunk);
        let (plain, tape) = training_scores(&model, &batch, true, false).unwrap();
        assert!(matches!(tape, ScoreTape::Graph));
        let expected = flat(&model, &tape.backward(loss(&plain), &model));
        let (scores, tape) = training_scores(&model, &batch, true, true).unwrap();
        assert!(matches!(tape, ScoreTape::Layers(_)));
        let same_scores: Vec<f32> = scores.log_probs.clone().into_data().to_vec().unwrap();
        let plain_scores: Vec<f32> = plain.log_probs.into_data().to_vec().unwrap();
        for (a, b) in same_scores.iter().zip(&plain_scores) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
        let got = flat(&model, &tape.backward(loss(&scores), &model));
        assert_eq!(got.len(), expected.len());
        let mut compared = 0;
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(g.len(), e.len(), "the same parameters get gradients");
            let scale = e.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
            for (a, b) in g.iter().zip(e) {
                assert!((a - b).abs() <= 1e-5 * scale, "{a} vs {b} (scale {scale})");
                compared += 1;
            }
        }
        assert!(compared > 0);
    }

    fn model(tied: bool) -> Qwen2ForCausalLm<Ad> {
        let device = Default::default();
        Ad::seed(&device, 3);
        let mut config = Qwen2Config::tiny();
        config.tie_word_embeddings = tied;
        config.initializer_range = 0.1;
        config.init(&device)
    }

    #[test]
    fn full_fine_tuning_gradients_equal_the_plain_backward() {
        check(model(false), 3);
        check(model(true), 3); // the tied embedding gets head + lookup gradients
        check(model(true), 0);
    }

    #[test]
    fn lora_gradients_equal_the_plain_backward() {
        let device = Default::default();
        let mut adapted = attach_lora(model(false), &LoraConfig::with_rank(2), &device).unwrap();
        // Non-zero B so that every adapter factor gets a gradient.
        for (_, layer) in adapted.adapted_linears_mut() {
            let adapter = layer.lora.as_mut().unwrap();
            let shape = adapter.lora_b.shape();
            adapter.lora_b = Param::from_tensor(Tensor::random(
                shape,
                burn::tensor::Distribution::Normal(0.0, 0.2),
                &device,
            ));
        }
        check(adapted, 2);
    }
}
