//! [`SingleProcess`]: the one-rank job every run is by default.

use crate::communicator::{check_root, Communicator};
use crate::error::CommError;

/// Rank 0 of 1: every collective returns its input.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleProcess;

impl Communicator for SingleProcess {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn all_reduce_sum(&self, _values: &mut [f32]) -> Result<(), CommError> {
        Ok(())
    }

    fn broadcast(&self, root: usize, _bytes: &mut Vec<u8>) -> Result<(), CommError> {
        check_root(root, 0, 1)
    }

    fn barrier(&self) -> Result<(), CommError> {
        Ok(())
    }

    fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, CommError> {
        Ok(vec![bytes.to_vec()])
    }
}
