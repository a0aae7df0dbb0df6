//! The step's rows across ranks: which global rows a rank holds, and every row's data gathered
//! in global order where the whole batch is needed (the advantage estimator's groups, scores,
//! lengths and process rewards).

use prime_distributed::codec::{decode_f64s, encode_f64s};
use prime_distributed::{all_reduce_f64, CommError, Communicator, RowShard};

use crate::error::TrainError;

/// The rows of the step's global batch that `globals` (ascending global indices of this rank's
/// rows) name, with the batch's size summed over ranks.
pub(crate) fn shard_of(
    comm: &dyn Communicator,
    globals: Vec<usize>,
) -> Result<RowShard, TrainError> {
    let mut total = [globals.len() as f64];
    all_reduce_f64(comm, &mut total)?;
    Ok(RowShard::new(total[0] as usize, globals, comm.rank())?)
}

/// One row of the global batch as the advantage estimator needs it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GlobalRow {
    /// Its group in the step.
    pub group: usize,
    /// Outcome score.
    pub score: f64,
    /// Response tokens.
    pub length: usize,
    /// Per-token process rewards (empty without a PRM).
    pub rewards: Vec<f32>,
}

/// Every rank's `(global index, row)` pairs, on every rank, in global order; the indices must
/// cover `0..n` exactly once over all ranks.
pub(crate) fn gather_rows(
    comm: &dyn Communicator,
    rows: impl Iterator<Item = (usize, GlobalRow)>,
) -> Result<Vec<GlobalRow>, TrainError> {
    let mut flat = Vec::new();
    for (global, row) in rows {
        flat.extend([
            global as f64,
            row.group as f64,
            row.score,
            row.length as f64,
            row.rewards.len() as f64,
        ]);
        flat.extend(row.rewards.iter().map(|&r| f64::from(r)));
    }
    let mut slots: Vec<Option<GlobalRow>> = Vec::new();
    for (from, bytes) in comm.gather(&encode_f64s(&flat))?.iter().enumerate() {
        let values = decode_f64s(bytes, from, "batch rows")?;
        let mut cursor = values.as_slice();
        while !cursor.is_empty() {
            let bad = |reason: &str| CommError::Decode {
                from,
                what: "batch rows",
                reason: reason.to_string(),
            };
            if cursor.len() < 5 {
                return Err(bad("a truncated row").into());
            }
            let n = cursor[4] as usize;
            if cursor.len() < 5 + n {
                return Err(bad("truncated rewards").into());
            }
            let global = cursor[0] as usize;
            if slots.len() <= global {
                slots.resize(global + 1, None);
            }
            if slots[global].is_some() {
                return Err(bad(&format!("row {global} sent twice")).into());
            }
            slots[global] = Some(GlobalRow {
                group: cursor[1] as usize,
                score: cursor[2],
                length: cursor[3] as usize,
                rewards: cursor[5..5 + n].iter().map(|&r| r as f32).collect(),
            });
            cursor = &cursor[5 + n..];
        }
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            row.ok_or_else(|| {
                TrainError::from(CommError::Mismatch {
                    rank: comm.rank(),
                    what: format!("no rank sent row {i} of the batch"),
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prime_distributed::{SingleProcess, ThreadGroup};

    fn row(group: usize, rewards: &[f32]) -> GlobalRow {
        GlobalRow {
            group,
            score: 0.5,
            length: rewards.len(),
            rewards: rewards.to_vec(),
        }
    }

    #[test]
    fn rows_come_back_in_global_order_on_every_rank() {
        let handles: Vec<_> = ThreadGroup::ranks(2)
            .into_iter()
            .map(|comm| {
                std::thread::spawn(move || {
                    // Rank 0 holds rows 1 and 2, rank 1 rows 0 and 3.
                    let mine = match comm.rank() {
                        0 => vec![(1, row(1, &[0.1])), (2, row(1, &[]))],
                        _ => vec![(0, row(0, &[1.0, 2.0])), (3, row(2, &[-3.0]))],
                    };
                    let shard = shard_of(&comm, mine.iter().map(|(g, _)| *g).collect());
                    (
                        gather_rows(&comm, mine.into_iter()).unwrap(),
                        shard.unwrap().global_rows(),
                    )
                })
            })
            .collect();
        for h in handles {
            let (rows, total) = h.join().unwrap();
            assert_eq!(total, 4);
            assert_eq!(
                rows,
                vec![
                    row(0, &[1.0, 2.0]),
                    row(1, &[0.1]),
                    row(1, &[]),
                    row(2, &[-3.0])
                ]
            );
        }
    }

    #[test]
    fn a_missing_row_is_an_error() {
        let err = gather_rows(&SingleProcess, [(1, row(0, &[]))].into_iter()).unwrap_err();
        assert!(err.to_string().contains("no rank sent row 0"), "{err}");
    }
}
