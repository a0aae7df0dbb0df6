//! The policy's AdamW state in a checkpoint: prime-models' positional save/load
//! ([`prime_models::optim_state`]) with the trainer's error type.

use std::path::Path;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
pub use prime_models::optim_state::AdamWOf;

use crate::error::TrainError;

/// Writes `optimizer`'s state for `module` to `path` (`.mpk`, full precision).
pub fn save_adamw<B: AutodiffBackend, M: AutodiffModule<B>>(
    optimizer: &AdamWOf<M, B>,
    module: &M,
    path: &Path,
) -> Result<(), TrainError> {
    prime_models::optim_state::save_adamw(optimizer, module, path)
        .map_err(|e| format_error(path, e))
}

/// Loads a state written by [`save_adamw`] into `optimizer`, re-keyed to `module`'s live ids.
pub fn load_adamw<B: AutodiffBackend, M: AutodiffModule<B>>(
    optimizer: AdamWOf<M, B>,
    module: &M,
    path: &Path,
    device: &B::Device,
) -> Result<AdamWOf<M, B>, TrainError> {
    prime_models::optim_state::load_adamw(optimizer, module, path, device)
        .map_err(|e| format_error(path, e))
}

fn format_error(path: &Path, e: prime_models::ModelError) -> TrainError {
    TrainError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
