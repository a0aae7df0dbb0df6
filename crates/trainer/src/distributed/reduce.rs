//! Sums over ranks of what each rank counted, so the step's metrics and decisions are the whole
//! batch's.

use prime_distributed::codec::{decode_u64s, encode_u64s};
use prime_distributed::{all_reduce_f64, all_reduce_max, CommError, Communicator};

use crate::error::TrainError;
use crate::rollout::RolloutTally;

/// Whether `local` holds on any rank (a non-finite value somewhere skips the step everywhere).
pub(crate) fn agree(comm: &dyn Communicator, local: bool) -> Result<bool, TrainError> {
    let mut any = [f64::from(u8::from(local))];
    all_reduce_f64(comm, &mut any)?;
    Ok(any[0] > 0.0)
}

/// The round's sampling and verification counts summed over ranks; the seconds are the
/// slowest rank's.
pub(crate) fn reduce_tally(
    comm: &dyn Communicator,
    tally: &mut RolloutTally,
) -> Result<(), TrainError> {
    let c = &mut tally.counts;
    let mut sums = [
        tally.tokens as f64,
        c.correct as f64,
        c.wrong as f64,
        c.no_answer as f64,
        c.timeout as f64,
        c.error as f64,
        tally.undecodable as f64,
        tally.score_sum,
        tally.responses as f64,
    ];
    all_reduce_f64(comm, &mut sums)?;
    let n = |i: usize| sums[i] as usize;
    (
        tally.tokens,
        c.correct,
        c.wrong,
        c.no_answer,
        c.timeout,
        c.error,
    ) = (n(0), n(1), n(2), n(3), n(4), n(5));
    (tally.undecodable, tally.score_sum, tally.responses) = (n(6), sums[7], n(8));
    tally.rollout_seconds = all_reduce_max(comm, tally.rollout_seconds)?;
    tally.verify_seconds = all_reduce_max(comm, tally.verify_seconds)?;
    Ok(())
}

/// Checks that `value` (`what`: the checkpoint a resume starts from, …) is the same on every
/// rank; the error names a rank that differs.
pub(crate) fn same_on_every_rank(
    comm: &dyn Communicator,
    value: u64,
    what: &str,
) -> Result<(), TrainError> {
    for (from, bytes) in comm.gather(&encode_u64s(&[value]))?.iter().enumerate() {
        let theirs = decode_u64s(bytes, from, "a value to agree on")?;
        if theirs != [value] {
            return Err(CommError::Mismatch {
                rank: comm.rank(),
                what: format!("{what} is {value} here but {theirs:?} on rank {from}"),
            }
            .into());
        }
    }
    Ok(())
}
