//! [`ThreadGroup`]: N ranks as N threads of one process, for tests and examples that check
//! a data-parallel job against one process without launching MPI.

use std::sync::{Arc, Barrier, Mutex};

use crate::codec::{decode_f32s, encode_f32s};
use crate::communicator::{check_root, Communicator};
use crate::error::CommError;

/// The shared mailbox of a group: one slot per rank, and a barrier.
struct Shared {
    slots: Mutex<Vec<Vec<u8>>>,
    barrier: Barrier,
}

/// One rank of a [`ThreadGroup`]; move it into its thread.
///
/// A rank that panics or stops calling collectives leaves the others waiting: this transport is
/// for tests, whose harness reports the panic.
pub struct ThreadRank {
    rank: usize,
    size: usize,
    shared: Arc<Shared>,
}

/// Builds the ranks of an in-process group.
pub struct ThreadGroup;

impl ThreadGroup {
    /// `size` ranks (≥ 1), numbered `0..size`.
    pub fn ranks(size: usize) -> Vec<ThreadRank> {
        let size = size.max(1);
        let shared = Arc::new(Shared {
            slots: Mutex::new(vec![Vec::new(); size]),
            barrier: Barrier::new(size),
        });
        (0..size)
            .map(|rank| ThreadRank {
                rank,
                size,
                shared: shared.clone(),
            })
            .collect()
    }
}

impl ThreadRank {
    fn poisoned(&self, op: &'static str) -> CommError {
        CommError::Transport {
            op,
            rank: self.rank,
            message: "another rank panicked".into(),
        }
    }
}

impl Communicator for ThreadRank {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_reduce_sum(&self, values: &mut [f32]) -> Result<(), CommError> {
        let all = self.gather(&encode_f32s(values))?;
        let mut sum = vec![0.0f32; values.len()];
        for (from, bytes) in all.iter().enumerate() {
            let part = decode_f32s(bytes, from, "f32 all-reduce buffer")?;
            if part.len() != values.len() {
                return Err(CommError::Mismatch {
                    rank: self.rank,
                    what: format!(
                        "all-reduce of {} values, rank {from} sent {}",
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

    fn broadcast(&self, root: usize, bytes: &mut Vec<u8>) -> Result<(), CommError> {
        check_root(root, self.rank, self.size)?;
        let mine = if self.rank == root {
            bytes.clone()
        } else {
            Vec::new()
        };
        let mut all = self.gather(&mine)?;
        *bytes = std::mem::take(&mut all[root]);
        Ok(())
    }

    fn barrier(&self) -> Result<(), CommError> {
        self.shared.barrier.wait();
        Ok(())
    }

    fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, CommError> {
        self.shared
            .slots
            .lock()
            .map_err(|_| self.poisoned("gather"))?[self.rank] = bytes.to_vec();
        self.shared.barrier.wait();
        let all = self
            .shared
            .slots
            .lock()
            .map_err(|_| self.poisoned("gather"))?
            .clone();
        // Nobody writes the next round's slot before everybody read this one.
        self.shared.barrier.wait();
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::communicator::{all_reduce_f64, all_reduce_max};

    fn on_ranks<T: Send + 'static>(
        size: usize,
        f: impl Fn(ThreadRank) -> T + Send + Sync + Copy + 'static,
    ) -> Vec<T> {
        let handles: Vec<_> = ThreadGroup::ranks(size)
            .into_iter()
            .map(|rank| std::thread::spawn(move || f(rank)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }

    #[test]
    fn collectives_agree_on_every_rank() {
        let results = on_ranks(3, |comm| {
            let r = comm.rank() as f32;
            let mut grads = vec![r, 10.0 * r];
            comm.all_reduce_sum(&mut grads).unwrap();
            let mut counts = vec![1.0, comm.rank() as f64];
            all_reduce_f64(&comm, &mut counts).unwrap();
            let mut message = vec![comm.rank() as u8; comm.rank() + 1];
            comm.broadcast(2, &mut message).unwrap();
            let gathered = comm.gather(&[comm.rank() as u8]).unwrap();
            comm.barrier().unwrap();
            let max = all_reduce_max(&comm, -(comm.rank() as f64)).unwrap();
            (grads, counts, message, gathered, max)
        });
        for (grads, counts, message, gathered, max) in results {
            assert_eq!(grads, vec![3.0, 30.0]);
            assert_eq!(counts, vec![3.0, 3.0]);
            assert_eq!(message, vec![2, 2, 2]);
            assert_eq!(gathered, vec![vec![0], vec![1], vec![2]]);
            assert_eq!(max, 0.0);
        }
    }

    #[test]
    fn buffers_of_different_lengths_are_an_error() {
        let results = on_ranks(2, |comm| {
            let mut values = vec![1.0f32; comm.rank() + 1];
            comm.all_reduce_sum(&mut values).map_err(|e| e.to_string())
        });
        assert_eq!(
            results[0].as_ref().unwrap_err(),
            "rank 0: all-reduce of 1 values, rank 1 sent 2"
        );
    }
}
