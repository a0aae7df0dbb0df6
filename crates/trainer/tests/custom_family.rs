//! A model family defined outside prime-models trains through the generic trainer unchanged:
//! what a fork adding an architecture relies on. The family here wraps Qwen2 and scales its
//! logits by ½ (a different model, so the run cannot silently be using Qwen2 itself); it counts
//! its forwards so the test can see that the trainer ran it.

use std::cell::Cell;
use std::path::Path;

use burn::backend::Autodiff;
use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use prime_models::backend::CpuBackend;
use prime_models::{
    CausalLm, ModelError, PretrainedLm, Qwen2Cache, Qwen2ForCausalLm, SaveDtype,
    ScratchArchitecture, TokenBatch,
};
use prime_trainer::{RunOptions, TrainConfig, Trainer};

thread_local! {
    /// Full-sequence forwards of [`HalfLogits`] models on this thread.
    static FORWARDS: Cell<usize> = const { Cell::new(0) };
}

/// Qwen2 with its logits halved: `logits = ½ · qwen2(x)`.
#[derive(Module, Debug)]
struct HalfLogits<B: Backend> {
    inner: Qwen2ForCausalLm<B>,
}

impl<B: Backend> CausalLm<B> for HalfLogits<B> {
    type Cache = Qwen2Cache<B>;

    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }

    fn forward(&self, batch: &TokenBatch<B>) -> Tensor<B, 3> {
        FORWARDS.set(FORWARDS.get() + 1);
        self.inner.forward(batch).mul_scalar(0.5)
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
        self.inner
            .forward_step(new_ids, attention_mask, cache)
            .mul_scalar(0.5)
    }
}

impl<B: Backend> PretrainedLm<B> for HalfLogits<B> {
    fn load_pretrained(dir: &Path, device: &B::Device) -> Result<Self, ModelError> {
        Ok(Self {
            inner: Qwen2ForCausalLm::load_pretrained(dir, device)?,
        })
    }

    fn save_pretrained(&self, dir: &Path, dtype: SaveDtype) -> Result<(), ModelError> {
        self.inner.save_pretrained(dir, dtype)
    }

    fn from_scratch(
        architecture: &ScratchArchitecture,
        vocab_size: usize,
        device: &B::Device,
    ) -> Result<Self, ModelError> {
        Ok(Self {
            inner: Qwen2ForCausalLm::from_scratch(architecture, vocab_size, device)?,
        })
    }
}

#[test]
fn a_family_defined_outside_prime_models_trains() {
    type B = Autodiff<CpuBackend>;
    let smoke = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/smoke.toml");
    let config = TrainConfig::load(&smoke, &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let trainer =
        Trainer::<B, HalfLogits<B>>::open(config, &run, RunOptions::default(), Default::default())
            .unwrap();
    let summary = trainer.run().unwrap();
    assert_eq!(summary.steps, 4);
    assert!(summary.accuracy_after.is_finite());
    // SFT, old log-probs, the PRM and PPO all ran full forwards of this family.
    assert!(FORWARDS.get() > 4, "{} forwards", FORWARDS.get());
    assert!(run
        .join("checkpoints/step-000004/prm/model.safetensors")
        .exists());
    assert!(run.join("final/model.safetensors").exists());
}
