//! Reading the tensors of a Hugging Face checkpoint: `model.safetensors` or the shards listed in
//! `model.safetensors.index.json`, stored as f32, bf16 or f16 and converted to f32.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

use crate::host_tensor::HostTensor;
use crate::ModelError;

/// Name of the single-file checkpoint.
pub const SINGLE_FILE: &str = "model.safetensors";
/// Name of the shard index of a sharded checkpoint.
pub const SHARD_INDEX: &str = "model.safetensors.index.json";

/// One safetensors file, read and header-validated.
struct Shard {
    path: PathBuf,
    bytes: Vec<u8>,
    header_len: usize,
    metadata: Metadata,
}

/// The tensors of a checkpoint directory, handed out once each by name.
pub(crate) struct Checkpoint {
    dir: PathBuf,
    shards: Vec<Shard>,
    /// Tensor name → shard index, for tensors not yet taken.
    remaining: BTreeMap<String, usize>,
}

#[derive(Deserialize)]
struct ShardIndex {
    weight_map: HashMap<String, String>,
}

impl Checkpoint {
    /// Opens `dir/model.safetensors.index.json` (and its shards) or else `dir/model.safetensors`.
    pub(crate) fn open(dir: &Path) -> Result<Self, ModelError> {
        let index_path = dir.join(SHARD_INDEX);
        let files: Vec<PathBuf> = if index_path.is_file() {
            let text = read_to_string(&index_path)?;
            let index: ShardIndex =
                serde_json::from_str(&text).map_err(|source| ModelError::Json {
                    path: index_path.clone(),
                    source,
                })?;
            let mut names: Vec<&String> = index.weight_map.values().collect();
            names.sort();
            names.dedup();
            names.into_iter().map(|name| dir.join(name)).collect()
        } else {
            vec![dir.join(SINGLE_FILE)]
        };
        Self::from_files(dir, files)
    }

    /// Opens the safetensors files `files` (tensor errors name `dir`).
    pub(crate) fn from_files(dir: &Path, files: Vec<PathBuf>) -> Result<Self, ModelError> {
        let mut shards = Vec::with_capacity(files.len());
        let mut remaining = BTreeMap::new();
        for path in files {
            let shard = Shard::read(path)?;
            for name in shard.metadata.tensors().keys() {
                remaining.insert(name.clone(), shards.len());
            }
            shards.push(shard);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            shards,
            remaining,
        })
    }

    /// Removes tensor `name` (of shape `shape`) from the checkpoint and converts it to f32.
    pub(crate) fn take(&mut self, name: &str, shape: &[usize]) -> Result<HostTensor, ModelError> {
        let shard = match self.remaining.remove(name) {
            Some(index) => &self.shards[index],
            None => {
                return Err(ModelError::MissingTensor {
                    name: name.into(),
                    dir: self.dir.clone(),
                })
            }
        };
        let info = shard
            .metadata
            .info(name)
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.into(),
                dir: self.dir.clone(),
            })?;
        if info.shape != shape {
            return Err(ModelError::ShapeMismatch {
                name: name.into(),
                expected: shape.to_vec(),
                found: info.shape.clone(),
            });
        }
        let values = decode(name, info, shard.data(info))?;
        Ok(HostTensor {
            shape: shape.to_vec(),
            values,
        })
    }

    /// Names of the tensors not yet taken, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        self.remaining.keys().cloned().collect()
    }

    /// Removes tensor `name` at whatever shape it is stored with (the caller checks it).
    pub(crate) fn take_any(&mut self, name: &str) -> Result<HostTensor, ModelError> {
        let shape = self
            .remaining
            .get(name)
            .and_then(|&index| self.shards[index].metadata.info(name))
            .map(|info| info.shape.clone())
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.into(),
                dir: self.dir.clone(),
            })?;
        self.take(name, &shape)
    }

    /// Drops `name` if present (a tensor the model derives from another, e.g. a tied LM head).
    pub(crate) fn discard(&mut self, name: &str) {
        self.remaining.remove(name);
    }

    /// Fails with the first tensor that nothing took, ignoring buffers Hugging Face recomputes
    /// (`rotary_emb.inv_freq`).
    pub(crate) fn finish(self) -> Result<(), ModelError> {
        match self
            .remaining
            .iter()
            .find(|(name, _)| !name.ends_with("rotary_emb.inv_freq"))
        {
            Some((name, &index)) => Err(ModelError::UnexpectedTensor {
                name: name.clone(),
                path: self.shards[index].path.clone(),
            }),
            None => Ok(()),
        }
    }
}

impl Shard {
    fn read(path: PathBuf) -> Result<Self, ModelError> {
        let bytes = std::fs::read(&path).map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        let (header_len, metadata) =
            SafeTensors::read_metadata(&bytes).map_err(|error| ModelError::Safetensors {
                path: path.clone(),
                reason: error.to_string(),
            })?;
        Ok(Self {
            path,
            bytes,
            header_len,
            metadata,
        })
    }

    /// The bytes of one tensor; `read_metadata` has checked that all offsets lie in the file.
    fn data(&self, info: &TensorInfo) -> &[u8] {
        let start = 8 + self.header_len;
        let (begin, end) = info.data_offsets;
        &self.bytes[start + begin..start + end]
    }
}

fn read_to_string(path: &Path) -> Result<String, ModelError> {
    std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Little-endian f32 / bf16 / f16 bytes → f32 values.
fn decode(name: &str, info: &TensorInfo, bytes: &[u8]) -> Result<Vec<f32>, ModelError> {
    let values = match info.dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| half::bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
            .collect(),
        other => {
            return Err(ModelError::UnsupportedDtype {
                name: name.into(),
                dtype: format!("{other:?}"),
            })
        }
    };
    Ok(values)
}
