//! Saving and restoring a PRM for resume: weights in the Hugging Face layout, AdamW state keyed
//! by parameter position ([`prime_models::optim_state`]), so it survives a reload of the weights.

use std::path::Path;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use prime_models::peft::{load_model_or_adapter, save_model_or_adapter};
use prime_models::{optim_state, CausalLm, PretrainedLm, TrainableLm};

use crate::{ImplicitPrm, PrmConfig, PrmError, PrmReference};

/// File name (without the `.mpk` extension) of the AdamW state inside a PRM checkpoint directory.
pub const OPTIMIZER_FILE: &str = "prm_optimizer";

impl<B: AutodiffBackend, M: TrainableLm<B>> ImplicitPrm<B, M> {
    /// Writes the PRM to `dir`: its weights as a Hugging Face checkpoint (`config.json` +
    /// `model.safetensors`, f32, loadable by `transformers`) — or, for a PRM with LoRA adapters,
    /// the adapters alone in PEFT layout — and its AdamW state as `prm_optimizer.mpk` next to
    /// them. The reference is not written (a frozen reference is the initial checkpoint, which
    /// the caller already has), nor is a LoRA PRM's frozen base.
    pub fn save(&self, dir: &Path) -> Result<(), PrmError> {
        save_model_or_adapter(self.model(), dir, None)?;
        self.save_optimizer(&dir.join(OPTIMIZER_FILE))
    }

    /// Restores a PRM written by [`Self::save`] (or any Hugging Face checkpoint of the family):
    /// weights from `dir` — a PEFT adapter there is applied to `base`, which it then needs —
    /// and AdamW state from `dir/prm_optimizer.mpk` when present, else a fresh one.
    pub fn load(
        dir: &Path,
        base: Option<M>,
        reference: PrmReference<B, M>,
        config: PrmConfig,
        device: &B::Device,
    ) -> Result<Self, PrmError> {
        let model = load_model_or_adapter(dir, base, device)?;
        let mut prm = Self::new(model, reference, config)?;
        let optimizer = dir.join(OPTIMIZER_FILE);
        if optimizer.with_extension("mpk").exists() {
            prm.load_optimizer(&optimizer)?;
        }
        Ok(prm)
    }
}

impl<B: AutodiffBackend, M: TrainableLm<B>> PrmReference<B, M> {
    /// A frozen reference read from a Hugging Face checkpoint directory (inference backend).
    pub fn frozen_from_hf(dir: &Path, device: &B::Device) -> Result<Self, PrmError> {
        Ok(PrmReference::Frozen(M::InnerModule::load_pretrained(
            dir, device,
        )?))
    }
}

impl<B, M> ImplicitPrm<B, M>
where
    B: AutodiffBackend,
    M: CausalLm<B> + AutodiffModule<B> + 'static,
    M::InnerModule: CausalLm<B::InnerBackend>,
{
    /// Writes the AdamW state (moments and step count of every parameter) to `path`
    /// (burn's named MessagePack format; the extension is set to `.mpk`).
    pub fn save_optimizer(&self, path: &Path) -> Result<(), PrmError> {
        Ok(optim_state::save_adamw(
            self.optimizer(),
            self.model(),
            path,
        )?)
    }

    /// Restores the AdamW state written by [`Self::save_optimizer`] onto the current PRM,
    /// which must have the same architecture (its weights may have been reloaded since).
    pub fn load_optimizer(&mut self, path: &Path) -> Result<(), PrmError> {
        let device =
            self.model()
                .devices()
                .into_iter()
                .next()
                .ok_or_else(|| PrmError::Checkpoint {
                    path: path.to_path_buf(),
                    reason: "the PRM has no parameters".to_string(),
                })?;
        let optimizer =
            optim_state::load_adamw(self.optimizer().clone(), self.model(), path, &device)?;
        self.set_optimizer(optimizer);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
    use burn::tensor::backend::Backend;
    use burn::tensor::Tensor;

    use super::*;
    use crate::test_model::TinyLm;
    use crate::{OutcomeLabels, PrmBatch, PrmConfig, PrmReference};

    type B = Autodiff<Flex>;

    fn tiny(seed: u64) -> TinyLm<B> {
        B::seed(&Default::default(), seed);
        TinyLm::new(12, 6, &Default::default())
    }

    /// Flattened parameter values in visiting order.
    fn values(model: &TinyLm<B>) -> Vec<Vec<f32>> {
        struct Collect(Vec<Vec<f32>>);
        impl<BB: Backend> ModuleVisitor<BB> for Collect {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<BB, D>>) {
                self.0
                    .push(param.val().into_data().to_vec::<f32>().unwrap());
            }
        }
        let mut c = Collect(Vec::new());
        model.visit(&mut c);
        c.0
    }

    /// A new model instance (fresh parameter ids) holding `source`'s values.
    fn copy_with_fresh_ids(source: &TinyLm<B>) -> TinyLm<B> {
        struct Fill(std::vec::IntoIter<Vec<f32>>);
        impl<BB: Backend> ModuleMapper<BB> for Fill {
            fn map_float<const D: usize>(
                &mut self,
                param: Param<Tensor<BB, D>>,
            ) -> Param<Tensor<BB, D>> {
                let values = self.0.next().unwrap();
                param.map(|t| {
                    let (shape, device) = (t.shape(), t.device());
                    Tensor::<BB, 1>::from_floats(values.as_slice(), &device)
                        .reshape(shape)
                        .require_grad()
                })
            }
        }
        tiny(999).map(&mut Fill(values(source).into_iter()))
    }

    fn batch() -> (PrmBatch<B>, OutcomeLabels) {
        let prompts = vec![vec![1, 2], vec![3, 4], vec![5, 1], vec![2, 2]];
        let responses = vec![vec![6, 7, 8], vec![9, 10], vec![11, 3, 4], vec![5]];
        let labels = OutcomeLabels {
            acc: vec![1.0, 0.0, 1.0, 0.0],
            group_ids: vec![0, 0, 1, 1],
        };
        (
            PrmBatch::from_ids(&prompts, &responses, 0, &Default::default()).unwrap(),
            labels,
        )
    }

    #[test]
    fn optimizer_state_survives_a_reload_of_the_weights() {
        let (batch, labels) = batch();
        let config = PrmConfig {
            lr: 1e-2,
            mini_batch_size: 2,
            ..PrmConfig::default()
        };
        let reference = PrmReference::Frozen(tiny(1).valid());
        let mut original = ImplicitPrm::new(tiny(1), reference.clone(), config.clone()).unwrap();
        original.update(&batch, &labels).unwrap();
        original.update(&batch, &labels).unwrap();
        let dir = std::env::temp_dir().join(format!("prime-prm-optim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("prm_optimizer");
        original.save_optimizer(&path).unwrap();

        let fresh = copy_with_fresh_ids(original.model());
        assert_eq!(values(&fresh), values(original.model()));
        let mut resumed = ImplicitPrm::new(fresh, reference.clone(), config.clone()).unwrap();
        resumed.load_optimizer(&path).unwrap();
        let mut restarted =
            ImplicitPrm::new(copy_with_fresh_ids(original.model()), reference, config).unwrap();

        original.update(&batch, &labels).unwrap();
        resumed.update(&batch, &labels).unwrap();
        restarted.update(&batch, &labels).unwrap();
        assert_eq!(values(resumed.model()), values(original.model()));
        // A fresh AdamW state (bias correction at step 1) moves the weights differently.
        assert_ne!(values(restarted.model()), values(original.model()));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn loading_a_missing_file_names_it() {
        let mut prm = ImplicitPrm::with_frozen_reference(tiny(1), PrmConfig::default()).unwrap();
        let err = prm
            .load_optimizer(Path::new("/nonexistent/prm_optimizer"))
            .unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/prm_optimizer"),
            "{err}"
        );
    }
}
