//! Which part of a step's work a rank does: a block of each round's prompts, and the rows of
//! the step's global batch it holds.

use std::ops::Range;

use crate::error::CommError;

/// The block of `n` items that rank `rank` of `size` takes: `[rank·n/size, (rank+1)·n/size)`.
/// The blocks of all ranks cover `0..n` in order, their sizes differ by at most one.
pub fn block(n: usize, rank: usize, size: usize) -> Range<usize> {
    let size = size.max(1);
    (rank * n / size)..((rank + 1) * n / size)
}

/// The rows of a global batch (`0..global_rows`) that this rank holds, ascending: local row `i`
/// is global row `rows[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowShard {
    global_rows: usize,
    rows: Vec<usize>,
}

impl RowShard {
    /// All `n` rows (one process).
    pub fn whole(n: usize) -> Self {
        Self {
            global_rows: n,
            rows: (0..n).collect(),
        }
    }

    /// Global rows `rows` (strictly ascending, each `< global_rows`) of a batch of
    /// `global_rows`; `rank` names the caller in the error.
    pub fn new(global_rows: usize, rows: Vec<usize>, rank: usize) -> Result<Self, CommError> {
        let ascending = rows.windows(2).all(|w| w[0] < w[1]);
        if !ascending || rows.last().is_some_and(|&r| r >= global_rows) {
            return Err(CommError::Mismatch {
                rank,
                what: format!("rows {rows:?} are not ascending rows of a batch of {global_rows}"),
            });
        }
        Ok(Self { global_rows, rows })
    }

    /// Rows of the whole batch, over all ranks.
    pub fn global_rows(&self) -> usize {
        self.global_rows
    }

    /// Rows held here.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// No rows held here.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The global index of local row `local`.
    pub fn global(&self, local: usize) -> usize {
        self.rows[local]
    }

    /// The local row of global row `global`, if held here.
    pub fn local(&self, global: usize) -> Option<usize> {
        self.rows.binary_search(&global).ok()
    }

    /// The local rows whose global index lies in `global` (contiguous, as rows ascend).
    pub fn local_range(&self, global: Range<usize>) -> Range<usize> {
        let start = self.rows.partition_point(|&r| r < global.start);
        let end = self.rows.partition_point(|&r| r < global.end);
        start..end.max(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_everything_in_order() {
        assert_eq!(block(3, 0, 2), 0..1);
        assert_eq!(block(3, 1, 2), 1..3);
        assert_eq!(block(1, 0, 2), 0..0);
        assert_eq!(block(1, 1, 2), 0..1);
        let covered: Vec<usize> = (0..4).flat_map(|r| block(10, r, 4)).collect();
        assert_eq!(covered, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn local_rows_of_a_global_range() {
        let shard = RowShard::new(10, vec![1, 2, 5, 9], 0).unwrap();
        assert_eq!(shard.local_range(0..4), 0..2);
        assert_eq!(shard.local_range(3..5), 2..2);
        assert_eq!(shard.local_range(4..10), 2..4);
        assert_eq!(shard.local(5), Some(2));
        assert_eq!(shard.local(4), None);
        assert_eq!(shard.global(3), 9);
        assert_eq!(RowShard::whole(3).local_range(1..3), 1..3);
    }

    #[test]
    fn unordered_or_out_of_range_rows_are_an_error() {
        assert!(RowShard::new(4, vec![2, 1], 1).is_err());
        let err = RowShard::new(4, vec![4], 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rank 1: rows [4] are not ascending rows of a batch of 4"
        );
    }
}
