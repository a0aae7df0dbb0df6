//! [`Communicator`]: the four collectives data-parallel training needs, on raw buffers.

use crate::codec::{decode_f64s, encode_f64s};
use crate::error::CommError;

/// The collectives between the ranks of a data-parallel job (`size` processes, or threads,
/// numbered `0..size`). Every rank must call the same collectives in the same order with
/// buffers of matching shape; a rank that calls none of them blocks the others (the MPI
/// transport turns a long wait into an error naming the rank: see `MpiCommunicator`).
///
/// Sums are computed in one place and sent to everybody, so every rank receives bit-identical
/// results (and the optimizer steps that follow keep the replicas bit-identical).
pub trait Communicator {
    /// This process's rank, `0..size`.
    fn rank(&self) -> usize;

    /// The number of ranks.
    fn size(&self) -> usize;

    /// Element-wise sum over ranks of `values` (`[n]`, the same `n` on every rank), in place.
    fn all_reduce_sum(&self, values: &mut [f32]) -> Result<(), CommError>;

    /// Rank `root`'s `bytes` on every rank (other ranks' contents are replaced, any length).
    fn broadcast(&self, root: usize, bytes: &mut Vec<u8>) -> Result<(), CommError>;

    /// Returns once every rank called it.
    fn barrier(&self) -> Result<(), CommError>;

    /// Every rank's `bytes` (lengths may differ), in rank order, on every rank (an all-gather).
    fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, CommError>;

    /// Rank 0 is the one that writes files.
    fn is_root(&self) -> bool {
        self.rank() == 0
    }
}

/// A broadcast's `root` must be a rank of the job (`rank` names the caller in the error).
pub(crate) fn check_root(root: usize, rank: usize, size: usize) -> Result<(), CommError> {
    if root < size {
        return Ok(());
    }
    Err(CommError::Mismatch {
        rank,
        what: format!("broadcast from rank {root} in a job of {size} ranks"),
    })
}

/// Element-wise sum over ranks of `f64` values (counts, metric sums), added in rank order so
/// every rank gets the same bits. `[n]` → `[n]`.
pub fn all_reduce_f64(comm: &dyn Communicator, values: &mut [f64]) -> Result<(), CommError> {
    if comm.size() == 1 {
        return Ok(());
    }
    let all = comm.gather(&encode_f64s(values))?;
    let mut sum = vec![0.0f64; values.len()];
    for (from, bytes) in all.iter().enumerate() {
        let part = decode_f64s(bytes, from, "f64 all-reduce buffer")?;
        if part.len() != values.len() {
            return Err(CommError::Mismatch {
                rank: comm.rank(),
                what: format!(
                    "f64 all-reduce of {} values, rank {from} sent {}",
                    values.len(),
                    part.len()
                ),
            });
        }
        for (s, v) in sum.iter_mut().zip(part) {
            *s += v;
        }
    }
    values.copy_from_slice(&sum);
    Ok(())
}

/// The maximum over ranks of `value`.
pub fn all_reduce_max(comm: &dyn Communicator, value: f64) -> Result<f64, CommError> {
    if comm.size() == 1 {
        return Ok(value);
    }
    let all = comm.gather(&encode_f64s(&[value]))?;
    let mut max = f64::NEG_INFINITY;
    for (from, bytes) in all.iter().enumerate() {
        for v in decode_f64s(bytes, from, "f64 maximum")? {
            max = max.max(v);
        }
    }
    Ok(max)
}
