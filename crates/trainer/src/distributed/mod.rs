//! Data parallelism of the PRIME step (docs/algorithm.md §16): each rank samples a block of
//! every round's prompts; the group summaries are exchanged so every rank runs the same accuracy
//! filter; a kept group stays on the rank that sampled it; whole-batch quantities (advantages' inputs, token counts, metrics) are gathered
//! or summed; gradients are summed per mini-batch ([`prime_distributed::all_reduce_gradients`]).
//! With one rank every collective returns its input and the step is the one-process step.

mod batch;
mod launch;
mod reduce;
mod round;
mod scratch;

pub(crate) use batch::{gather_rows, shard_of, GlobalRow};
pub use launch::communicator_from_env;
pub(crate) use reduce::{agree, reduce_tally, same_on_every_rank};
pub(crate) use round::{kept_groups, sample_round, BatchRow};
pub(crate) use scratch::RankScratch;
