//! A private directory for a data-parallel rank other than 0, which writes nothing into the run
//! directory: what the run would write there to read back (the task's tokenizer, the RL start
//! model the references load from) goes here instead, and is removed with the trainer.

use std::path::{Path, PathBuf};

use crate::error::TrainError;

/// `<temp>/prime-rs-rank<R>-<pid>`, removed on drop.
pub(crate) struct RankScratch {
    path: PathBuf,
}

impl RankScratch {
    /// Creates the directory of rank `rank`.
    pub(crate) fn new(rank: usize) -> Result<Self, TrainError> {
        let path = std::env::temp_dir().join(format!("prime-rs-rank{rank}-{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| TrainError::io(&path, e))?;
        Ok(Self { path })
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RankScratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
