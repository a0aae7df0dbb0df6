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
use burn::optim::{AdamW, Optimizer};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::{backend::AutodiffBackend, Tensor};

use crate::ModelError;

/// The AdamW optimizer of a module `M`.
pub type AdamWOf<M, B> = OptimizerAdaptor<AdamW, M, B>;
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
