//! Writing problems in the layouts the readers accept, so users (and tests) see the format:
//! JSONL (veRL or legacy layout) and parquet (veRL layout, nested columns as in
//! Eurus-2-RL-Data).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, ListArray, RecordBatch, StringArray, StructArray};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field, Fields, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::{json, Value};

use crate::error::DataError;
use crate::problem::Problem;
use crate::read::Layout;

/// Writes `problems` as JSON Lines in `layout` (`Auto` writes veRL).
///
/// veRL rows: `{"id", "data_source", "prompt": [{"role", "content"}], "ability",
/// "reward_model": {"style": "rule", "ground_truth"}, "extra_info"}`.
/// Legacy rows: `{"id", "task", "source", "instruction": [{"role", "content"}], "reference"}`
/// plus the keys of an object `extra`.
pub fn write_jsonl(path: &Path, problems: &[Problem], layout: Layout) -> Result<(), DataError> {
    let file = File::create(path).map_err(|err| DataError::io(path, err))?;
    let mut out = BufWriter::new(file);
    for problem in problems {
        let row = match layout {
            Layout::Legacy => legacy_row(problem),
            Layout::Verl | Layout::Auto => verl_row(problem),
        };
        serde_json::to_writer(&mut out, &row)
            .map_err(|err| DataError::io(path, std::io::Error::other(err)))?;
        out.write_all(b"\n")
            .map_err(|err| DataError::io(path, err))?;
    }
    out.flush().map_err(|err| DataError::io(path, err))
}

fn verl_row(problem: &Problem) -> Value {
    json!({
        "id": problem.id,
        "data_source": problem.data_source,
        "prompt": problem.messages,
        "ability": problem.ability,
        "reward_model": {"style": "rule", "ground_truth": problem.reference.ground_truth},
        "extra_info": problem.extra,
    })
}

fn legacy_row(problem: &Problem) -> Value {
    let mut row = match &problem.extra {
        Value::Object(extra) => extra.clone(),
        _ => serde_json::Map::new(),
    };
    row.insert("id".into(), json!(problem.id));
    row.insert("task".into(), json!(problem.ability));
    row.insert("source".into(), json!(problem.data_source));
    row.insert("instruction".into(), json!(problem.messages));
    row.insert("reference".into(), json!(problem.reference.ground_truth));
    Value::Object(row)
}

/// The parquet schema written: Eurus-2-RL-Data's columns plus `id`.
///
/// `prompt: list<struct<content: string, role: string>>`,
/// `reward_model: struct<ground_truth: string, style: string>`,
/// `extra_info: struct<index: int64, split: string>` (null when `extra` has neither key; other
/// keys of `extra` are not written — use JSONL to keep them).
pub fn verl_schema() -> Schema {
    Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("data_source", DataType::Utf8, false),
        Field::new(
            "prompt",
            DataType::List(Arc::new(Field::new("item", message_type(), true))),
            false,
        ),
        Field::new("ability", DataType::Utf8, false),
        Field::new("reward_model", DataType::Struct(reward_fields()), false),
        Field::new("extra_info", DataType::Struct(extra_fields()), true),
    ])
}

fn message_fields() -> Fields {
    Fields::from(vec![
        Field::new("content", DataType::Utf8, true),
        Field::new("role", DataType::Utf8, true),
    ])
}

fn message_type() -> DataType {
    DataType::Struct(message_fields())
}

fn reward_fields() -> Fields {
    Fields::from(vec![
        Field::new("ground_truth", DataType::Utf8, true),
        Field::new("style", DataType::Utf8, true),
    ])
}

fn extra_fields() -> Fields {
    Fields::from(vec![
        Field::new("index", DataType::Int64, true),
        Field::new("split", DataType::Utf8, true),
    ])
}

/// Writes `problems` as snappy-compressed parquet in the veRL layout ([`verl_schema`]), with
/// at most `row_group_rows` rows per row group.
pub fn write_parquet(
    path: &Path,
    problems: &[Problem],
    row_group_rows: usize,
) -> Result<(), DataError> {
    let schema = Arc::new(verl_schema());
    let file = File::create(path).map_err(|err| DataError::io(path, err))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))
        .map_err(|err| DataError::parquet(path, err))?;
    for chunk in problems.chunks(row_group_rows.max(1)) {
        let batch =
            record_batch(schema.clone(), chunk).map_err(|err| DataError::parquet(path, err))?;
        writer
            .write(&batch)
            .map_err(|err| DataError::parquet(path, err))?;
    }
    writer
        .close()
        .map_err(|err| DataError::parquet(path, err))?;
    Ok(())
}

fn strings<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    // `from_iter_values` needs an exact size hint, which flattening iterators lack.
    Arc::new(StringArray::from_iter_values(values.collect::<Vec<_>>()))
}

fn record_batch(
    schema: Arc<Schema>,
    problems: &[Problem],
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let messages = problems.iter().flat_map(|p| &p.messages);
    let contents = strings(messages.clone().map(|m| m.content.as_str()));
    let roles = strings(messages.map(|m| m.role.as_str()));
    let message_structs = StructArray::try_new(message_fields(), vec![contents, roles], None)?;
    let offsets = OffsetBuffer::<i32>::from_lengths(problems.iter().map(|p| p.messages.len()));
    let prompt = ListArray::try_new(
        Arc::new(Field::new("item", message_type(), true)),
        offsets,
        Arc::new(message_structs),
        None,
    )?;

    let reward_model = StructArray::try_new(
        reward_fields(),
        vec![
            strings(problems.iter().map(|p| p.reference.ground_truth.as_str())),
            strings(problems.iter().map(|_| "rule")),
        ],
        None,
    )?;

    let index: Int64Array = problems
        .iter()
        .map(|p| p.extra.get("index").and_then(Value::as_i64))
        .collect();
    let split: StringArray = problems
        .iter()
        .map(|p| p.extra.get("split").and_then(Value::as_str))
        .collect();
    let present = NullBuffer::from_iter(
        problems
            .iter()
            .map(|p| p.extra.get("index").is_some() || p.extra.get("split").is_some()),
    );
    let extra_info = StructArray::try_new(
        extra_fields(),
        vec![Arc::new(index), Arc::new(split)],
        Some(present),
    )?;

    RecordBatch::try_new(
        schema,
        vec![
            strings(problems.iter().map(|p| p.id.as_str())),
            strings(problems.iter().map(|p| p.data_source.as_str())),
            Arc::new(prompt),
            strings(problems.iter().map(|p| p.ability.as_str())),
            Arc::new(reward_model),
            Arc::new(extra_info),
        ],
    )
}
