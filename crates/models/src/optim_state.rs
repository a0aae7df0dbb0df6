//! Saving and restoring an AdamW state across a reload of the model's weights (for resume).
//!
//! burn keys optimizer state by parameter id, and a model loaded from safetensors gets fresh ids.
//! The state is therefore stored under each parameter's *position* in the module's visiting
//! order — the same for every instance of one architecture — and mapped back to the live ids on
//! load. The file is burn's named MessagePack format at full precision (`.mpk`).

use std::collections::HashSet;
use std::path::Path;

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::{backend::AutodiffBackend, Tensor};

use crate::optim::FusedAdamW;
use crate::ModelError;

/// The AdamW optimizer of a module `M` ([`crate::optim::adamw`]`(λ).init()`). Its state is
/// burn's `AdamWState`, so the files are those burn's own AdamW writes and reads.
pub type AdamWOf<M, B> = OptimizerAdaptor<FusedAdamW, M, B>;
type Record<M, B> = <AdamWOf<M, B> as Optimizer<M, B>>::Record;

/// Writes `optimizer`'s state for `module` to `path` (the extension is set to `.mpk`).
pub fn save_adamw<B: AutodiffBackend, M: AutodiffModule<B>>(
    optimizer: &AdamWOf<M, B>,
    module: &M,
    path: &Path,
) -> Result<(), ModelError> {
    let mut record = optimizer.to_record();
    let mut positional: Record<M, B> = Default::default();
    for (position, id) in param_ids(module).into_iter().enumerate() {
        if let Some(state) = record.remove(&id) {
            positional.insert(ParamId::from(position as u64), state);
        }
    }
    NamedMpkFileRecorder::<FullPrecisionSettings>::new()
        .record(positional, path.to_path_buf())
        .map_err(|e| state_error(path, e.to_string()))
}

/// Loads a state written by [`save_adamw`] into `optimizer`, re-keyed to `module`'s live ids.
/// `module` must have the architecture the state was saved from (its weights may differ).
pub fn load_adamw<B: AutodiffBackend, M: AutodiffModule<B>>(
    optimizer: AdamWOf<M, B>,
    module: &M,
    path: &Path,
    device: &B::Device,
) -> Result<AdamWOf<M, B>, ModelError> {
    let mut positional: Record<M, B> = NamedMpkFileRecorder::<FullPrecisionSettings>::new()
        .load(path.to_path_buf(), device)
        .map_err(|e| state_error(path, e.to_string()))?;
    let ids = param_ids(module);
    let saved = positional.len();
    let mut record: Record<M, B> = Default::default();
    for (position, id) in ids.iter().enumerate() {
        if let Some(state) = positional.remove(&ParamId::from(position as u64)) {
            record.insert(*id, state);
        }
    }
    if !positional.is_empty() {
        return Err(state_error(
            path,
            format!(
                "state for {saved} parameters, {} of them beyond the model's {}",
                positional.len(),
                ids.len()
            ),
        ));
    }
    Ok(optimizer.load_record(record))
}

fn state_error(path: &Path, reason: String) -> ModelError {
    ModelError::OptimizerState {
        path: path.with_extension("mpk"),
        reason,
    }
}

/// Float parameter ids of `module` in visiting order, each once.
fn param_ids<B: AutodiffBackend, M: AutodiffModule<B>>(module: &M) -> Vec<ParamId> {
    struct Ids {
        ids: Vec<ParamId>,
        seen: HashSet<ParamId>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if self.seen.insert(param.id) {
                self.ids.push(param.id);
            }
        }
    }
    let mut visitor = Ids {
        ids: Vec::new(),
        seen: HashSet::new(),
    };
    module.visit(&mut visitor);
    visitor.ids
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::module::Module;
    use burn::optim::{GradientsParams, Optimizer};
    use burn::tensor::{Int, Tensor};

    use super::*;
    use crate::{optim::adamw, CausalLm, Qwen2Config, Qwen2ForCausalLm, TokenBatch};

    type B = Autodiff<Flex>;

    /// `<tmp>/prime-optim-state-<pid>-<name>/adamw` (the directory is created).
    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("prime-optim-state-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("adamw")
    }

    fn config(layers: usize) -> Qwen2Config {
        Qwen2Config {
            vocab_size: 32,
            hidden_size: 16,
            intermediate_size: 32,
            num_attention_heads: 2,
            num_key_value_heads: 1,
            head_dim: 8,
            num_hidden_layers: layers,
            ..Qwen2Config::tiny()
        }
    }

    /// The gradients of the mean logit on a fixed batch.
    fn mean_logit_grads(model: &Qwen2ForCausalLm<B>) -> GradientsParams {
        let device = Default::default();
        let ids = Tensor::<B, 2, Int>::from_ints([[1, 2, 3, 4]], &device);
        let batch = TokenBatch {
            attention_mask: ids.ones_like(),
            input_ids: ids,
        };
        GradientsParams::from_grads(model.forward(&batch).mean().backward(), model)
    }

    /// One AdamW step on the mean logit, so every parameter has a state.
    fn stepped(
        model: Qwen2ForCausalLm<B>,
    ) -> (Qwen2ForCausalLm<B>, AdamWOf<Qwen2ForCausalLm<B>, B>) {
        let grads = mean_logit_grads(&model);
        let mut optimizer = adamw(0.0).init::<B, Qwen2ForCausalLm<B>>();
        let model = optimizer.step(1e-3, model, grads);
        (model, optimizer)
    }

    /// The logits on a fixed batch: a fingerprint of every weight.
    fn logits(model: &Qwen2ForCausalLm<B>) -> Vec<f32> {
        let device = Default::default();
        let ids = Tensor::<B, 2, Int>::from_ints([[4, 3, 2, 1, 5]], &device);
        let batch = TokenBatch {
            attention_mask: ids.ones_like(),
            input_ids: ids,
        };
        model.forward(&batch).into_data().to_vec::<f32>().unwrap()
    }

    #[test]
    fn a_reloaded_copy_takes_the_same_next_step_as_the_original() {
        let device = Default::default();
        let (model, mut optimizer) = stepped(config(2).init::<B>(&device));
        let path = scratch("reload");
        save_adamw(&optimizer, &model, &path).unwrap();
        // A copy with the same weights but fresh parameter ids, as after load_hf.
        let copy = config(2)
            .init::<B>(&device)
            .load_record(model.clone().into_record());
        let fresh = adamw(0.0).init::<B, Qwen2ForCausalLm<B>>();
        let mut restored = load_adamw(fresh, &copy, &path, &device).unwrap();

        let copy_grads = mean_logit_grads(&copy);
        let next_copy = restored.step(1e-3, copy, copy_grads);
        let grads = mean_logit_grads(&model);
        let next = optimizer.step(1e-3, model, grads);
        // A fresh AdamW state would take a different (bias-corrected first) step.
        assert_eq!(logits(&next_copy), logits(&next));
    }

    #[test]
    fn state_of_a_bigger_model_is_a_typed_error() {
        let device = Default::default();
        let (model, optimizer) = stepped(config(2).init::<B>(&device));
        let path = scratch("bigger");
        save_adamw(&optimizer, &model, &path).unwrap();
        let smaller = config(1).init::<B>(&device);
        let fresh = adamw(0.0).init::<B, Qwen2ForCausalLm<B>>();
        let err = load_adamw(fresh, &smaller, &path, &device)
            .err()
            .expect("a 2-layer state does not fit a 1-layer model")
            .to_string();
        assert!(err.contains("adamw.mpk") && err.contains("beyond"), "{err}");
    }
}
