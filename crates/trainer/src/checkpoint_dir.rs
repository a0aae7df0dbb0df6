//! Atomic checkpoint directories: `<run>/checkpoints/step-NNNNNN`, written into a temporary
//! sibling and renamed, so a crash leaves either the previous checkpoint or the new one, never half
//! of one. Older checkpoints beyond `keep_last` are removed after the rename.

use std::path::{Path, PathBuf};

use crate::error::TrainError;

const PREFIX: &str = "step-";
const TMP_PREFIX: &str = ".tmp-step-";

/// The checkpoints of one run directory.
#[derive(Debug, Clone)]
pub struct CheckpointDir {
    root: PathBuf,
    keep_last: usize,
}

impl CheckpointDir {
    /// `<run_dir>/checkpoints`, keeping the newest `keep_last` (≥ 1).
    pub fn new(run_dir: &Path, keep_last: usize) -> Self {
        Self {
            root: run_dir.join("checkpoints"),
            keep_last: keep_last.max(1),
        }
    }

    /// Where checkpoint `step` lives once written.
    pub fn path_of(&self, step: usize) -> PathBuf {
        self.root.join(format!("{PREFIX}{step:06}"))
    }

    /// Writes checkpoint `step`: `fill` receives an empty temporary directory to write into; on
    /// success it becomes `step-NNNNNN` (replacing an existing one) and old ones are pruned.
    pub fn write(
        &self,
        step: usize,
        fill: impl FnOnce(&Path) -> Result<(), TrainError>,
    ) -> Result<PathBuf, TrainError> {
        std::fs::create_dir_all(&self.root).map_err(|e| TrainError::io(&self.root, e))?;
        let tmp = self.root.join(format!("{TMP_PREFIX}{step:06}"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
        if let Err(e) = fill(&tmp) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        sync_dir(&tmp);
        let dest = self.path_of(step);
        if dest.exists() {
            std::fs::remove_dir_all(&dest).map_err(|e| TrainError::io(&dest, e))?;
        }
        std::fs::rename(&tmp, &dest).map_err(|e| TrainError::io(&dest, e))?;
        sync_dir(&self.root);
        self.prune()?;
        Ok(dest)
    }

    /// Completed checkpoints, oldest first, as `(step, path)`.
    pub fn list(&self) -> Result<Vec<(usize, PathBuf)>, TrainError> {
        if !self.root.exists() {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        let entries = std::fs::read_dir(&self.root).map_err(|e| TrainError::io(&self.root, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| TrainError::io(&self.root, e))?;
            let name = entry.file_name();
            let Some(step) = name
                .to_str()
                .and_then(|n| n.strip_prefix(PREFIX))
                .and_then(|s| s.parse::<usize>().ok())
            else {
                continue;
            };
            if entry.path().is_dir() {
                found.push((step, entry.path()));
            }
        }
        found.sort();
        Ok(found)
    }

    /// The newest completed checkpoint.
    pub fn latest(&self) -> Result<Option<(usize, PathBuf)>, TrainError> {
        Ok(self.list()?.pop())
    }

    fn prune(&self) -> Result<(), TrainError> {
        let all = self.list()?;
        let excess = all.len().saturating_sub(self.keep_last);
        for (_, path) in all.into_iter().take(excess) {
            std::fs::remove_dir_all(&path).map_err(|e| TrainError::io(&path, e))?;
        }
        Ok(())
    }
}

/// Flushes a directory's entries to disk (best effort: not every platform can open directories).
fn sync_dir(path: &Path) {
    if let Ok(dir) = std::fs::File::open(path) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_marker(step: usize) -> impl FnOnce(&Path) -> Result<(), TrainError> {
        move |dir| {
            std::fs::write(dir.join("state.json"), format!("{step}"))
                .map_err(|e| TrainError::io(dir, e))
        }
    }

    #[test]
    fn writes_renames_and_keeps_the_last_n() {
        let run = tempfile::tempdir().unwrap();
        let ckpt = CheckpointDir::new(run.path(), 2);
        assert!(ckpt.latest().unwrap().is_none());
        for step in [2, 4, 6] {
            let p = ckpt.write(step, write_marker(step)).unwrap();
            assert_eq!(p, ckpt.path_of(step));
        }
        let steps: Vec<usize> = ckpt.list().unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(steps, vec![4, 6]);
        let (step, path) = ckpt.latest().unwrap().unwrap();
        assert_eq!(step, 6);
        assert_eq!(
            std::fs::read_to_string(path.join("state.json")).unwrap(),
            "6"
        );
        let leftovers: Vec<_> = std::fs::read_dir(run.path().join("checkpoints"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn a_failed_fill_leaves_the_previous_checkpoint() {
        let run = tempfile::tempdir().unwrap();
        let ckpt = CheckpointDir::new(run.path(), 3);
        ckpt.write(1, write_marker(1)).unwrap();
        let err = ckpt.write(2, |dir| {
            std::fs::write(dir.join("half"), "x").unwrap();
            Err(TrainError::Config("disk full".into()))
        });
        assert!(err.is_err());
        assert_eq!(ckpt.latest().unwrap().unwrap().0, 1);
        // A temp dir left by a crash is ignored by `list` and replaced by the next write.
        std::fs::create_dir_all(run.path().join("checkpoints/.tmp-step-000003")).unwrap();
        assert_eq!(ckpt.list().unwrap().len(), 1);
        ckpt.write(3, write_marker(3)).unwrap();
        assert_eq!(ckpt.latest().unwrap().unwrap().0, 3);
    }
}
