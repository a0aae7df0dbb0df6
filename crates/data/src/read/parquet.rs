//! Parquet in the veRL layout (or the legacy layout), streamed record batch by record batch:
//! memory holds one batch of `batch_rows` rows of the projected columns, whatever the file size.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Schema};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use serde_json::{Map, Value};

use super::arrow_json::value_at;
use crate::error::DataError;

/// Top-level columns a row may use; any other column is not read.
const KNOWN_COLUMNS: [&str; 10] = [
    "id",
    "data_source",
    "prompt",
    "ability",
    "reward_model",
    "extra_info",
    "task",
    "source",
    "instruction",
    "reference",
];

/// Rows of a parquet file as `(row index, JSON object of the known columns)`.
pub(crate) struct ParquetRows {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    batch: Option<RecordBatch>,
    /// Position inside `batch`.
    position: usize,
    /// Index of the next row in the file.
    row: usize,
    /// Rows in the file (from the footer).
    total_rows: usize,
}

impl ParquetRows {
    /// Opens `path`, checks the schema has the columns of one layout, and reads `batch_rows`
    /// rows at a time.
    pub fn open(path: &Path, batch_rows: usize) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|err| DataError::io(path, err))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|err| DataError::parquet(path, err))?;
        check_schema(path, builder.schema())?;
        let indices: Vec<usize> = builder
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, field)| KNOWN_COLUMNS.contains(&field.name().as_str()))
            .map(|(i, _)| i)
            .collect();
        let total_rows = builder.metadata().file_metadata().num_rows().max(0) as usize;
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(batch_rows.max(1))
            .build()
            .map_err(|err| DataError::parquet(path, err))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            batch: None,
            position: 0,
            row: 0,
            total_rows,
        })
    }

    /// Rows in the file, from its footer.
    pub fn total_rows(&self) -> usize {
        self.total_rows
    }

    /// The next row; `Err(BadRow)` for a cell that cannot be converted, `Err(Parquet)` when the
    /// file cannot be decoded further.
    pub fn next_row(&mut self) -> Option<Result<(usize, Value), DataError>> {
        loop {
            if let Some(batch) = &self.batch {
                if self.position < batch.num_rows() {
                    let (position, row) = (self.position, self.row);
                    self.position += 1;
                    self.row += 1;
                    return Some(row_object(batch, position).map(|v| (row, v)).map_err(
                        |(field, reason)| DataError::BadRow {
                            path: self.path.clone(),
                            row,
                            field,
                            reason,
                        },
                    ));
                }
            }
            match self.reader.next()? {
                Ok(batch) => {
                    self.batch = Some(batch);
                    self.position = 0;
                }
                Err(err) => return Some(Err(DataError::parquet(&self.path, err))),
            }
        }
    }
}

fn row_object(batch: &RecordBatch, position: usize) -> Result<Value, (String, String)> {
    let schema = batch.schema();
    let mut object = Map::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let value = value_at(column.as_ref(), position).map_err(|r| (field.name().clone(), r))?;
        object.insert(field.name().clone(), value);
    }
    Ok(Value::Object(object))
}

/// A file-level check: the columns of the veRL layout (`prompt` present) or the legacy layout
/// (`instruction` present) exist with usable types. Row-level problems are left to the rows.
fn check_schema(path: &Path, schema: &Schema) -> Result<(), DataError> {
    let error = |field: &str, reason: String| DataError::Schema {
        path: path.to_path_buf(),
        field: field.to_string(),
        reason,
    };
    let find = |name: &str| schema.fields().iter().find(|f| f.name() == name);
    let require = |name: &str| find(name).ok_or_else(|| error(name, "missing".into()));
    let text_like = |name: &str| -> Result<(), DataError> {
        let field = require(name)?;
        match field.data_type() {
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Dictionary(_, _) => Ok(()),
            other => Err(error(
                name,
                format!("expected a string column, found {other}"),
            )),
        }
    };
    let chat_like = |name: &str, allow_text: bool| -> Result<(), DataError> {
        let field = require(name)?;
        match field.data_type() {
            DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
                match item.data_type() {
                    DataType::Struct(children)
                        if ["role", "content"]
                            .iter()
                            .all(|c| children.iter().any(|f| f.name() == c)) =>
                    {
                        Ok(())
                    }
                    other => Err(error(
                        name,
                        format!(
                            "expected a list of {{role, content}} structs, found a list of {other}"
                        ),
                    )),
                }
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View if allow_text => Ok(()),
            other => Err(error(
                name,
                format!("expected a list of {{role, content}} structs, found {other}"),
            )),
        }
    };
    if find("prompt").is_some() {
        text_like("data_source")?;
        text_like("ability")?;
        chat_like("prompt", false)?;
        let reward_model = require("reward_model")?;
        match reward_model.data_type() {
            DataType::Struct(children) if children.iter().any(|f| f.name() == "ground_truth") => {
                Ok(())
            }
            DataType::Struct(_) => Err(error("reward_model.ground_truth", "missing".into())),
            other => Err(error(
                "reward_model",
                format!("expected a struct {{style, ground_truth}}, found {other}"),
            )),
        }
    } else if find("instruction").is_some() {
        text_like("task")?;
        text_like("source")?;
        chat_like("instruction", true)?;
        require("reference").map(|_| ())
    } else {
        Err(error(
            "prompt",
            "missing (neither `prompt` (veRL layout) nor `instruction` (legacy layout) present)"
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::ArrayRef;

    #[test]
    fn dictionary_and_null_cells_convert() {
        use arrow_array::types::Int32Type;
        use arrow_array::{DictionaryArray, StringArray};
        let dict: DictionaryArray<Int32Type> = vec![Some("math"), None, Some("code"), Some("math")]
            .into_iter()
            .collect();
        let array: ArrayRef = std::sync::Arc::new(dict);
        assert_eq!(value_at(array.as_ref(), 0).unwrap(), Value::from("math"));
        assert_eq!(value_at(array.as_ref(), 1).unwrap(), Value::Null);
        assert_eq!(value_at(array.as_ref(), 2).unwrap(), Value::from("code"));
        let strings: ArrayRef = std::sync::Arc::new(StringArray::from(vec![Some("a"), None]));
        assert_eq!(value_at(strings.as_ref(), 1).unwrap(), Value::Null);
    }
}
