//! JSON Lines: one row per line, read line by line (memory bounded by the longest line).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::DataError;

/// Rows of a JSONL file as `(row index, JSON value)`; the row index is the 0-based line index.
/// Blank lines carry no row and are passed over.
pub(crate) struct JsonlRows {
    path: PathBuf,
    reader: BufReader<File>,
    line: usize,
    buffer: Vec<u8>,
}

impl JsonlRows {
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|err| DataError::io(path, err))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 20, file),
            line: 0,
            buffer: Vec::new(),
        })
    }

    /// The next row; `Err(BadRow)` for a line that is not UTF-8 or not JSON, `Err(Io)` when the
    /// file cannot be read further.
    pub fn next_row(&mut self) -> Option<Result<(usize, Value), DataError>> {
        loop {
            self.buffer.clear();
            let row = self.line;
            match self.reader.read_until(b'\n', &mut self.buffer) {
                Ok(0) => return None,
                Ok(_) => self.line += 1,
                Err(err) => return Some(Err(DataError::io(&self.path, err))),
            }
            let bad = |reason: String| DataError::BadRow {
                path: self.path.clone(),
                row,
                field: "(json)".into(),
                reason,
            };
            let text = match std::str::from_utf8(&self.buffer) {
                Ok(text) => text,
                Err(err) => return Some(Err(bad(format!("line is not UTF-8: {err}")))),
            };
            if text.trim().is_empty() {
                continue;
            }
            return Some(
                serde_json::from_str(text)
                    .map(|value| (row, value))
                    .map_err(|err| bad(format!("invalid JSON: {err}"))),
            );
        }
    }
}
