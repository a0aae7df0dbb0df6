//! With LoRA (`[lora] rank > 0`) the servers keep the frozen base and load the policy's adapter
//! instead of the whole model: before every step's rollouts the adapter is written in PEFT layout
//! to `<run>/vllm/adapters/<name>`, loaded under a new name (`POST /v1/load_lora_adapter`),
//! requests sample from `model: <name>`, and the previous adapter is unloaded
//! (`/v1/unload_lora_adapter`) and its files removed. A launched server is started on the base
//! (`lora_base::base_dir`) with `--enable-lora` and runtime adapter loading; a server you run
//! needs the same (`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`, `--enable-lora --max-lora-rank R`).

use std::path::{Path, PathBuf};

use super::server::LaunchSpec;
use crate::config::TrainConfig;
use crate::error::TrainError;

/// The ranks vLLM accepts for `--max-lora-rank`.
const VLLM_LORA_RANKS: [usize; 9] = [1, 8, 16, 32, 64, 128, 256, 320, 512];

/// The adapters the servers hold.
#[derive(Debug)]
pub(super) struct AdapterSync {
    /// Where adapters are written.
    pub(super) dir: PathBuf,
    /// The frozen base the adapters apply to.
    pub(super) base: PathBuf,
    /// Adapters loaded in this process so far.
    pub(super) loaded_count: usize,
    /// The name of the adapter the servers hold now.
    pub(super) current: Option<String>,
}

impl AdapterSync {
    pub(super) fn new(config: &TrainConfig, run_dir: &Path) -> Self {
        Self {
            dir: run_dir.join("vllm/adapters"),
            base: crate::lora_base::base_dir(config, run_dir),
            loaded_count: 0,
            current: None,
        }
    }

    /// A launched server serves the base with runtime LoRA loading, up to `rank`.
    pub(super) fn configure_launch(
        &self,
        spec: &mut LaunchSpec,
        rank: usize,
    ) -> Result<(), TrainError> {
        let max_rank = vllm_lora_rank(rank).ok_or_else(|| {
            TrainError::Config(format!(
                "lora.rank = {rank}: vLLM serves adapters of rank ≤ {}",
                VLLM_LORA_RANKS[VLLM_LORA_RANKS.len() - 1]
            ))
        })?;
        spec.model_dir = self.base.clone();
        spec.extra_args.extend(
            [
                "--enable-lora",
                "--max-lora-rank",
                &max_rank.to_string(),
                // The new adapter is loaded before the old one is unloaded.
                "--max-loras",
                "2",
                "--max-cpu-loras",
                "2",
            ]
            .map(String::from),
        );
        spec.env
            .push(("VLLM_ALLOW_RUNTIME_LORA_UPDATING".into(), "True".into()));
        Ok(())
    }
}

/// The smallest `--max-lora-rank` vLLM accepts that holds `rank`.
fn vllm_lora_rank(rank: usize) -> Option<usize> {
    VLLM_LORA_RANKS.into_iter().find(|&r| r >= rank)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_rank_is_the_next_one_vllm_accepts() {
        assert_eq!(vllm_lora_rank(1), Some(1));
        assert_eq!(vllm_lora_rank(4), Some(8));
        assert_eq!(vllm_lora_rank(16), Some(16));
        assert_eq!(vllm_lora_rank(300), Some(320));
        assert_eq!(vllm_lora_rank(1024), None);
    }
}
