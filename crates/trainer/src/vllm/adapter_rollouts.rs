//! [`VllmRollouts`]' adapter sync: the servers sample from the frozen base plus the policy's
//! current LoRA adapter (see [`super::adapters`]).

use std::path::Path;
use std::time::Instant;

use super::{read_model_config, VllmRollouts};
use crate::error::TrainError;

impl VllmRollouts {
    /// Whether the servers sample from the base plus an adapter (LoRA runs).
    pub fn syncs_adapters(&self) -> bool {
        self.adapters.is_some()
    }

    /// The frozen base the adapters apply to (`lora_base::base_dir`); empty without LoRA.
    pub fn adapter_base(&self) -> &Path {
        self.adapters
            .as_ref()
            .map_or(Path::new(""), |a| a.base.as_path())
    }

    /// Has every server sample from the policy's current adapter, which `write_adapter` writes
    /// (PEFT layout) into the directory it is given: launches the server first if it waits for
    /// the base. Returns the seconds the sync took (the launch not included).
    pub fn sync_adapter(
        &mut self,
        write_adapter: impl FnOnce(&Path) -> Result<(), TrainError>,
    ) -> Result<f64, TrainError> {
        if let Some(spec) = self.pending.take() {
            self.launch(spec, || false)?;
        }
        let started = Instant::now();
        let Some(adapters) = self.adapters.as_mut() else {
            return Err(TrainError::Config(
                "adapter sync on a run without LoRA".into(),
            ));
        };
        adapters.loaded_count += 1;
        // Unique per process: a server the user runs may still hold an earlier run's names.
        let name = format!(
            "{}-lora-{}-{}",
            super::SERVED_NAME,
            std::process::id(),
            adapters.loaded_count
        );
        let dir = adapters.dir.join(&name);
        let base = adapters.base.clone();
        let previous = adapters.current.take();
        write_adapter(&dir)?;
        let load = serde_json::json!({ "lora_name": name, "lora_path": dir });
        self.on_every_server(|c| c.post_text("/v1/load_lora_adapter", &load))?;
        if let Some(previous) = previous {
            let unload = serde_json::json!({ "lora_name": previous });
            self.on_every_server(|c| c.post_text("/v1/unload_lora_adapter", &unload))?;
            let old = dir.with_file_name(&previous);
            if let Err(e) = std::fs::remove_dir_all(&old) {
                tracing::warn!(dir = %old.display(), error = %e, "could not remove an old adapter");
            }
        }
        if self.vocab_size == 0 {
            self.vocab_size = read_model_config(&base)?.vocab_size;
        }
        if let Some(adapters) = self.adapters.as_mut() {
            adapters.current = Some(name.clone());
        }
        self.model = name;
        self.synced = true;
        Ok(started.elapsed().as_secs_f64())
    }
}
