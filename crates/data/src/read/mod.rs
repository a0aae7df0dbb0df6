//! Streaming readers: parquet and JSONL files in the veRL layout or the legacy layout, one
//! [`Problem`] at a time, with every malformed row either an error or a counted skip.
//!
//! ```no_run
//! use prime_data::{OnBadRow, ProblemReader, ReadOptions};
//! let options = ReadOptions { on_bad_row: OnBadRow::Skip, ..ReadOptions::default() };
//! let mut reader = ProblemReader::open("train.parquet".as_ref(), &options)?;
//! for problem in reader.by_ref() {
//!     let problem = problem?;
//!     println!("{} {}", problem.id, problem.reference.ground_truth);
//! }
//! eprintln!("skipped {} bad rows", reader.stats().skipped);
//! # Ok::<(), prime_data::DataError>(())
//! ```

mod arrow_json;
mod jsonl;
mod parquet;
mod row;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use row::Layout;

use crate::error::DataError;
use crate::problem::Problem;
use jsonl::JsonlRows;
use parquet::ParquetRows;
use row::{problem_from_json, RowContext};

/// What to do with a malformed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnBadRow {
    /// Stop with a [`DataError::BadRow`] naming the file, row and field (**default**).
    #[default]
    Error,
    /// Skip the row, count it in [`ReadStats::skipped`] and keep its message in
    /// [`ReadStats::skipped_examples`].
    Skip,
}

impl FromStr for OnBadRow {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "error" => Ok(Self::Error),
            "skip" => Ok(Self::Skip),
            other => Err(DataError::Config(format!(
                "on_bad_row must be `error` or `skip`, not `{other}`"
            ))),
        }
    }
}

/// How to read a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadOptions {
    /// What to do with a malformed row.
    pub on_bad_row: OnBadRow,
    /// Row layout; `auto` decides per row.
    pub layout: Layout,
    /// Parquet rows decoded per record batch: the reader's memory bound.
    pub batch_rows: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            on_bad_row: OnBadRow::Error,
            layout: Layout::Auto,
            batch_rows: 1024,
        }
    }
}

/// How many examples of skipped rows [`ReadStats`] keeps.
pub const MAX_SKIPPED_EXAMPLES: usize = 20;

/// Counts of one read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadStats {
    /// Problems returned.
    pub rows: usize,
    /// Malformed rows skipped (`on_bad_row = skip`).
    pub skipped: usize,
    /// The messages of the first [`MAX_SKIPPED_EXAMPLES`] skipped rows.
    pub skipped_examples: Vec<String>,
}

enum Rows {
    Jsonl(JsonlRows),
    Parquet(ParquetRows),
}

/// The format of a data file, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.parquet`
    Parquet,
    /// `.jsonl`, `.json` (JSON Lines)
    Jsonl,
}

impl Format {
    /// The format of `path` from its extension.
    pub fn of(path: &Path) -> Result<Self, DataError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("parquet") => Ok(Self::Parquet),
            Some("jsonl" | "json" | "ndjson") => Ok(Self::Jsonl),
            _ => Err(DataError::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// An iterator of the problems of one file.
///
/// Yields `Ok(problem)` per valid row. A malformed row is skipped and counted
/// (`on_bad_row = skip`) or yielded as `Err(BadRow)` after which the iterator ends
/// (`on_bad_row = error`). File-level errors (unreadable file, missing column) always end it.
pub struct ProblemReader {
    path: PathBuf,
    rows: Rows,
    options: ReadOptions,
    stats: ReadStats,
    finished: bool,
}

impl ProblemReader {
    /// Opens `path` (format from the extension). Parquet schemas are checked here, so a file
    /// missing a required column fails before any row is read.
    pub fn open(path: &Path, options: &ReadOptions) -> Result<Self, DataError> {
        let rows = match Format::of(path)? {
            Format::Parquet => Rows::Parquet(ParquetRows::open(path, options.batch_rows)?),
            Format::Jsonl => Rows::Jsonl(JsonlRows::open(path)?),
        };
        Ok(Self {
            path: path.to_path_buf(),
            rows,
            options: options.clone(),
            stats: ReadStats::default(),
            finished: false,
        })
    }

    /// Counts so far (final once the iterator has ended).
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// Rows in the file when known without reading it (parquet footer), else `None`.
    pub fn total_rows(&self) -> Option<usize> {
        match &self.rows {
            Rows::Parquet(rows) => Some(rows.total_rows()),
            Rows::Jsonl(_) => None,
        }
    }

    fn next_raw(&mut self) -> Option<Result<(usize, serde_json::Value), DataError>> {
        match &mut self.rows {
            Rows::Jsonl(rows) => rows.next_row(),
            Rows::Parquet(rows) => rows.next_row(),
        }
    }
}

impl Iterator for ProblemReader {
    type Item = Result<Problem, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.finished {
            let Some(raw) = self.next_raw() else {
                self.finished = true;
                return None;
            };
            let parsed = raw.and_then(|(row, value)| {
                let ctx = RowContext {
                    path: &self.path,
                    row,
                };
                problem_from_json(&value, self.options.layout, ctx)
            });
            match parsed {
                Ok(problem) => {
                    self.stats.rows += 1;
                    return Some(Ok(problem));
                }
                Err(err @ DataError::BadRow { .. })
                    if self.options.on_bad_row == OnBadRow::Skip =>
                {
                    self.stats.skipped += 1;
                    if self.stats.skipped_examples.len() < MAX_SKIPPED_EXAMPLES {
                        self.stats.skipped_examples.push(err.to_string());
                    }
                }
                Err(err) => {
                    self.finished = true;
                    return Some(Err(err));
                }
            }
        }
        None
    }
}

/// Reads every problem of `path` into memory.
pub fn read_problems(
    path: &Path,
    options: &ReadOptions,
) -> Result<(Vec<Problem>, ReadStats), DataError> {
    let mut reader = ProblemReader::open(path, options)?;
    let problems = reader.by_ref().collect::<Result<Vec<_>, _>>()?;
    Ok((problems, reader.stats().clone()))
}
