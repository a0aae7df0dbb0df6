//! Which ranks a `prime-train` process belongs to: MPI's when `mpirun` (or Slurm's `srun` with
//! PMI/PMIx) started it, else a single process.

use std::sync::Arc;

use prime_distributed::{Communicator, SingleProcess};

use crate::error::TrainError;

/// Environment variables an MPI launcher sets in every rank (OpenMPI, MPICH/Hydra, PMIx).
const MPI_LAUNCH_VARS: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"];

/// The launcher variable set in this process, if any.
fn launched_by_mpi() -> Option<(&'static str, String)> {
    MPI_LAUNCH_VARS
        .iter()
        .find_map(|&name| std::env::var(name).ok().map(|value| (name, value)))
}

/// The communicator of this process: MPI's world when an MPI launcher started it (a build
/// with the `mpi` feature), else [`SingleProcess`]. Started by `mpirun` without the feature is
/// an error: N copies would otherwise each train alone and write the same run directory.
pub fn communicator_from_env() -> Result<Arc<dyn Communicator>, TrainError> {
    match launched_by_mpi() {
        None => Ok(Arc::new(SingleProcess)),
        Some(found) => mpi_world(found),
    }
}

#[cfg(feature = "mpi")]
// MPI's handles are neither `Send` nor `Sync`; the `Arc` only shares the communicator between
// the trainer's parts on the thread that initialized MPI (MPI_THREAD_SINGLE), never across
// threads (`RunOptions` is not `Send` with it inside).
#[allow(clippy::arc_with_non_send_sync)]
fn mpi_world(_found: (&'static str, String)) -> Result<Arc<dyn Communicator>, TrainError> {
    Ok(Arc::new(prime_distributed::MpiCommunicator::init()?))
}

#[cfg(not(feature = "mpi"))]
fn mpi_world((name, value): (&'static str, String)) -> Result<Arc<dyn Communicator>, TrainError> {
    Err(TrainError::Config(format!(
        "started by an MPI launcher ({name}={value}) but prime-train was built without the `mpi` feature; `cargo xtask train --nproc N` builds it with MPI"
    )))
}
