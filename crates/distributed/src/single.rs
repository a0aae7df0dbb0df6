//! [`SingleProcess`]: the one-rank job every run is by default.

use crate::communicator::Communicator;
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
        match root {
            0 => Ok(()),
            _ => Err(CommError::Mismatch {
                rank: 0,
                what: format!("broadcast from rank {root} in a job of 1 rank"),
            }),
        }
    }

    fn barrier(&self) -> Result<(), CommError> {
        Ok(())
    }

    fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, CommError> {
        Ok(vec![bytes.to_vec()])
    }
}
