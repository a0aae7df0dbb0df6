//! Loading and saving checkpoints in the Hugging Face layout (`config.json` + safetensors), so
//! that `transformers` and vLLM read what we write and we read what they write.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use safetensors::{Dtype, View};

use crate::checkpoint::{Checkpoint, SINGLE_FILE};
use crate::{ModelError, Qwen2Config, Qwen2ForCausalLm};

/// Storage dtype of a saved checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SaveDtype {
    /// 32-bit floats: lossless.
    F32,
    /// bfloat16 (round to nearest even): half the size, what Qwen releases use.
    Bf16,
}

impl SaveDtype {
    fn torch_name(self) -> &'static str {
        match self {
            Self::F32 => "float32",
            Self::Bf16 => "bfloat16",
        }
    }
}

/// Loads `dir/config.json` and `dir/model.safetensors` (or the shards of
/// `dir/model.safetensors.index.json`), converting f32 / bf16 / f16 weights to the backend's floats.
///
/// Errors name the file or tensor: a missing, unexpected (other than HF's recomputed
/// `rotary_emb.inv_freq` buffers or a redundant `lm_head.weight` of a tied model) or mis-shaped
/// tensor, a truncated or corrupted safetensors header, an invalid config.
pub fn load_hf<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<Qwen2ForCausalLm<B>, ModelError> {
    let config = Qwen2Config::from_file(&dir.join("config.json"))?;
    let mut checkpoint = Checkpoint::open(dir)?;
    let model = Qwen2ForCausalLm::load(&mut checkpoint, &config, device)?;
    checkpoint.finish()?;
    Ok(model)
}

/// Writes `dir/config.json` (transformers-4 layout, `torch_dtype` set to `dtype`) and
/// `dir/model.safetensors` (HF tensor names, `[out, in]` matrices, no `lm_head.weight` when the
/// embeddings are tied). Creates `dir` if needed; each file is written to a temporary name and
/// renamed, so a crash never leaves a half-written file under the final name.
pub fn save_hf<B: Backend>(
    model: &Qwen2ForCausalLm<B>,
    dir: &Path,
    dtype: SaveDtype,
) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut config = model.config().clone();
    config.torch_dtype = Some(dtype.torch_name().into());
    let config_text = serde_json::to_string_pretty(&config).map_err(|source| ModelError::Json {
        path: dir.join("config.json"),
        source,
    })?;
    write_atomically(&dir.join("config.json"), |path| {
        std::fs::write(path, config_text.as_bytes()).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })
    })?;

    write_safetensors(&dir.join(SINGLE_FILE), model.hf_tensors(), dtype)
}

/// Writes `tensors` (in their order) to the safetensors file `path`, stored as `dtype`, through a
/// temporary file.
pub(crate) fn write_safetensors(
    path: &Path,
    tensors: Vec<(String, crate::HostTensor)>,
    dtype: SaveDtype,
) -> Result<(), ModelError> {
    let tensors: Vec<(String, OwnedView)> = tensors
        .into_iter()
        .map(|(name, tensor)| (name, OwnedView::encode(tensor.shape, &tensor.values, dtype)))
        .collect();
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    write_atomically(path, |path| {
        safetensors::serialize_to_file(tensors, Some(metadata), path).map_err(|error| {
            ModelError::Safetensors {
                path: path.to_path_buf(),
                reason: error.to_string(),
            }
        })
    })
}

/// Runs `write` on `path` + `.tmp`, then renames it to `path`.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), ModelError>,
) -> Result<(), ModelError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    write(&temporary)?;
    std::fs::rename(&temporary, path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A tensor encoded for safetensors.
struct OwnedView {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl OwnedView {
    fn encode(shape: Vec<usize>, values: &[f32], dtype: SaveDtype) -> Self {
        let (dtype, bytes) = match dtype {
            SaveDtype::F32 => (
                Dtype::F32,
                values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            SaveDtype::Bf16 => (
                Dtype::BF16,
                values
                    .iter()
                    .flat_map(|v| half::bf16::from_f32(*v).to_bits().to_le_bytes())
                    .collect(),
            ),
        };
        Self {
            dtype,
            shape,
            bytes,
        }
    }
}

impl View for OwnedView {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}
