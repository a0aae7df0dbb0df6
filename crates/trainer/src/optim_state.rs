//! Saving and restoring an AdamW state across a reload of the model's weights.
//!
//! burn keys optimizer state by parameter id, and a model loaded from safetensors gets fresh ids.
//! The state is therefore stored under each parameter's position in the module's visiting order
//! (the same for every instance of one architecture) and mapped back to the live ids on load.

use std::collections::HashSet;
use std::path::Path;

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, Optimizer};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::{backend::AutodiffBackend, Tensor};

use crate::error::TrainError;

/// The AdamW optimizer of a module `M`.
pub type AdamWOf<M, B> = OptimizerAdaptor<AdamW, M, B>;
type Record<M, B> = <AdamWOf<M, B> as Optimizer<M, B>>::Record;

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
    let mut v = Ids {
        ids: Vec::new(),
        seen: HashSet::new(),
    };
    module.visit(&mut v);
    v.ids
}

/// Writes `optimizer`'s state for `module` to `path` (`.mpk`, full precision).
pub fn save_adamw<B: AutodiffBackend, M: AutodiffModule<B>>(
    optimizer: &AdamWOf<M, B>,
    module: &M,
    path: &Path,
) -> Result<(), TrainError> {
    let mut record = optimizer.to_record();
    let mut positional: Record<M, B> = Default::default();
    for (position, id) in param_ids(module).into_iter().enumerate() {
        if let Some(state) = record.remove(&id) {
            positional.insert(ParamId::from(position as u64), state);
        }
    }
    NamedMpkFileRecorder::<FullPrecisionSettings>::new()
        .record(positional, path.to_path_buf())
        .map_err(|e| TrainError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// Loads a state written by [`save_adamw`] into `optimizer`, re-keyed to `module`'s live ids.
pub fn load_adamw<B: AutodiffBackend, M: AutodiffModule<B>>(
    optimizer: AdamWOf<M, B>,
    module: &M,
    path: &Path,
    device: &B::Device,
) -> Result<AdamWOf<M, B>, TrainError> {
    let bad = |message: String| TrainError::Format {
        path: path.to_path_buf(),
        message,
    };
    let mut positional: Record<M, B> = NamedMpkFileRecorder::<FullPrecisionSettings>::new()
        .load(path.to_path_buf(), device)
        .map_err(|e| bad(e.to_string()))?;
    let ids = param_ids(module);
    let mut record: Record<M, B> = Default::default();
    for (position, id) in ids.iter().enumerate() {
        if let Some(state) = positional.remove(&ParamId::from(position as u64)) {
            record.insert(*id, state);
        }
    }
    if !positional.is_empty() {
        return Err(bad(format!(
            "optimizer state for parameters the model (with {} parameters) does not have",
            ids.len()
        )));
    }
    Ok(optimizer.load_record(record))
}
