//! The trainer's side of vLLM rollouts: opening the servers with the run, syncing the policy
//! before a step's rollouts, and stopping after a checkpoint when a server stays down.

use burn::tensor::backend::AutodiffBackend;
use prime_data::prompts::BatcherState;
use prime_models::TrainableLm;

use super::open::write_policy;
use super::VllmError;
use crate::error::TrainError;
use crate::models::model_err;
use crate::trainer::Trainer;

impl<B: AutodiffBackend, M: TrainableLm<B>> Trainer<B, M> {
    /// Before a step's rollouts: has the servers hold the current policy. Returns the seconds it
    /// took (`None` with the in-process sampler).
    pub(crate) fn sync_rollout_engine(&mut self) -> Result<Option<f64>, TrainError> {
        let Some(engine) = self.vllm.as_mut() else {
            return Ok(None);
        };
        let (policy, vocabulary) = (&self.models.policy, &self.vocabulary);
        if engine.syncs_adapters() {
            let base = engine.adapter_base().to_path_buf();
            return engine
                .sync_adapter(|dir| {
                    prime_models::peft::save_adapter(policy, dir, Some(&base)).map_err(model_err)
                })
                .map(Some);
        }
        engine
            .sync(|dir| write_policy(policy, vocabulary, dir))
            .map(Some)
    }

    /// A server stayed down during step `state.step + 1`: puts the prompt pipeline back as it
    /// was before the step (`before`), writes the checkpoint of the last whole step, and
    /// returns the error that names the server and says how to continue.
    pub(crate) fn stop_on_server_fault(
        &mut self,
        before: BatcherState,
        error: VllmError,
    ) -> TrainError {
        let step = self.state.step;
        if let Err(e) = self.prompts.restore(before) {
            return TrainError::Data(format!(
                "{error}; and the prompt state could not be restored: {e}"
            ));
        }
        if let Err(e) = self.checkpoint() {
            return TrainError::Config(format!("{error}; and the checkpoint failed: {e}"));
        }
        tracing::error!(%error, step, "a vLLM server stayed down: checkpoint written, stopping");
        TrainError::RolloutServer {
            source: error,
            step,
            run_dir: self.run_dir.clone(),
        }
    }
}
