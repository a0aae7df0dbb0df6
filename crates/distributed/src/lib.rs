#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod codec;
mod communicator;
mod error;
mod grads;
#[cfg(feature = "mpi")]
mod mpi_comm;
mod shard;
mod single;
mod threads;

pub use communicator::{all_reduce_f64, all_reduce_max, Communicator};
pub use error::CommError;
pub use grads::all_reduce_gradients;
#[cfg(feature = "mpi")]
pub use mpi_comm::MpiCommunicator;
pub use shard::{block, RowShard};
pub use single::SingleProcess;
pub use threads::{ThreadGroup, ThreadRank};
