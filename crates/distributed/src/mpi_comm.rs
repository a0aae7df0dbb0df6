//! [`MpiCommunicator`]: one rank per process, started by `mpirun` (or Slurm's `srun`), over the
//! system's MPI library; a watchdog turns a collective that never completes into one line naming
//! the ranks waited for and a non-zero exit, which makes `mpirun` end the whole job.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives as _, Root as _};
use mpi::Count;

use crate::communicator::{check_root, Communicator};
use crate::error::CommError;

/// The environment variable with the seconds a collective may wait for the other ranks before
/// the job is ended (default [`DEFAULT_TIMEOUT_S`]).
pub const TIMEOUT_ENV: &str = "PRIME_COLLECTIVE_TIMEOUT_S";
/// Default seconds a collective may wait: long enough for rank 0 to write a large checkpoint
/// while the others wait in the next step.
pub const DEFAULT_TIMEOUT_S: u64 = 1800;
/// The exit status of a rank whose collective timed out.
pub const EXIT_HUNG: i32 = 75;

/// The collective in progress: its name, number and start.
type Pending = Arc<Mutex<Option<(&'static str, u64, Instant)>>>;

/// This process's rank in `MPI_COMM_WORLD`.
pub struct MpiCommunicator {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    pending: Pending,
    calls: Mutex<u64>,
    // Finalizes MPI when dropped, after everything above.
    _universe: Universe,
}

impl MpiCommunicator {
    /// Initializes MPI (once per process) and starts the hang watchdog with the timeout of
    /// [`TIMEOUT_ENV`].
    pub fn init() -> Result<Self, CommError> {
        let universe = mpi::initialize().ok_or_else(|| {
            CommError::Unavailable("MPI was already initialized in this process".into())
        })?;
        let world = universe.world();
        let rank = usize::try_from(world.rank()).unwrap_or(0);
        let size = usize::try_from(world.size()).unwrap_or(1).max(1);
        let timeout = match std::env::var(TIMEOUT_ENV) {
            Ok(text) => text.trim().parse::<u64>().map_err(|e| {
                CommError::Unavailable(format!("{TIMEOUT_ENV}={text:?} is not whole seconds: {e}"))
            })?,
            Err(_) => DEFAULT_TIMEOUT_S,
        };
        let pending: Pending = Arc::new(Mutex::new(None));
        watchdog(
            pending.clone(),
            rank,
            size,
            Duration::from_secs(timeout.max(1)),
        );
        Ok(Self {
            world,
            rank,
            size,
            pending,
            calls: Mutex::new(0),
            _universe: universe,
        })
    }

    /// Runs collective `op` under the watchdog.
    fn guarded<T>(&self, op: &'static str, f: impl FnOnce() -> T) -> T {
        let number = {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            *calls += 1;
            *calls
        };
        self.set_pending(Some((op, number, Instant::now())));
        let out = f();
        self.set_pending(None);
        out
    }

    fn set_pending(&self, value: Option<(&'static str, u64, Instant)>) {
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = value;
    }

    fn count(&self, op: &'static str, n: usize) -> Result<Count, CommError> {
        Count::try_from(n).map_err(|_| CommError::Transport {
            op,
            rank: self.rank,
            message: format!("{n} elements exceed MPI's count limit"),
        })
    }
}

/// Ends the process with one line when a collective waits longer than `timeout`.
fn watchdog(pending: Pending, rank: usize, size: usize, timeout: Duration) {
    thread::spawn(move || loop {
        thread::sleep(Duration::from_millis(500));
        let stuck = pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .filter(|(_, _, started)| started.elapsed() >= timeout);
        if let Some((op, number, _)) = stuck {
            let others: Vec<String> = (0..size)
                .filter(|&r| r != rank)
                .map(|r| r.to_string())
                .collect();
            let whom = match others.len() {
                1 => format!("rank {}", others[0]),
                _ => format!("one or more of ranks {}", others.join(", ")),
            };
            eprintln!(
                "prime-distributed: rank {rank} of {size}: collective #{number} ({op}) not completed after {} s; waiting for {whom} (hung or dead); ending the job",
                timeout.as_secs()
            );
            std::process::exit(EXIT_HUNG);
        }
    });
}

impl Communicator for MpiCommunicator {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    /// Reduced on rank 0, then broadcast: every rank gets rank 0's bits.
    fn all_reduce_sum(&self, values: &mut [f32]) -> Result<(), CommError> {
        let root = self.world.process_at_rank(0);
        self.guarded("all_reduce_sum", || {
            if self.rank == 0 {
                let mut sum = vec![0.0f32; values.len()];
                root.reduce_into_root(&*values, &mut sum[..], SystemOperation::sum());
                values.copy_from_slice(&sum);
            } else {
                root.reduce_into(&*values, SystemOperation::sum());
            }
            root.broadcast_into(values);
        });
        Ok(())
    }

    fn broadcast(&self, root: usize, bytes: &mut Vec<u8>) -> Result<(), CommError> {
        check_root(root, self.rank, self.size)?;
        let process = self.world.process_at_rank(root as i32);
        self.guarded("broadcast", || {
            let mut len = bytes.len() as u64;
            process.broadcast_into(&mut len);
            bytes.resize(len as usize, 0);
            process.broadcast_into(&mut bytes[..]);
        });
        Ok(())
    }

    fn barrier(&self) -> Result<(), CommError> {
        self.guarded("barrier", || self.world.barrier());
        Ok(())
    }

    fn gather(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, CommError> {
        let mine = self.count("gather", bytes.len())?;
        let mut counts: Vec<Count> = vec![0; self.size];
        self.guarded("gather", || {
            self.world.all_gather_into(&mine, &mut counts[..])
        });
        let mut displs = Vec::with_capacity(self.size);
        let mut total = 0usize;
        for &c in &counts {
            displs.push(self.count("gather", total)?);
            total += usize::try_from(c).unwrap_or(0);
        }
        let mut all = vec![0u8; total];
        {
            let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
            self.guarded("gather", || {
                self.world.all_gather_varcount_into(bytes, &mut partition)
            });
        }
        let mut out = Vec::with_capacity(self.size);
        let mut start = 0usize;
        for &c in &counts {
            let end = start + usize::try_from(c).unwrap_or(0);
            out.push(all[start..end].to_vec());
            start = end;
        }
        Ok(out)
    }
}
