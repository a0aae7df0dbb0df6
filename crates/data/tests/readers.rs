//! The readers against held-out fixtures written by `tools/make_data_fixtures.py` (pyarrow),
//! whose `.expected.json` files say, independently of this crate, which rows are valid, their
//! ids and ground truths, and the row and field of every malformed row.

use std::collections::BTreeMap;
use std::path::PathBuf;

use prime_data::{read_problems, DataError, OnBadRow, ProblemReader, ReadOptions};
use serde::Deserialize;

#[derive(Deserialize)]
struct Expected {
    rows: usize,
    skipped: usize,
    by_ability: BTreeMap<String, usize>,
    problems: Vec<ExpectedProblem>,
    bad_rows: Vec<ExpectedBad>,
}

#[derive(Deserialize)]
struct ExpectedProblem {
    id: String,
    data_source: String,
    ability: String,
    ground_truth: String,
    n_messages: usize,
}

#[derive(Deserialize)]
struct ExpectedBad {
    row: usize,
    field: String,
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
        .join(name)
}

fn expected(name: &str) -> Expected {
    let text = std::fs::read_to_string(fixture(&format!("{name}.expected.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn skip() -> ReadOptions {
    ReadOptions {
        on_bad_row: OnBadRow::Skip,
        ..ReadOptions::default()
    }
}

/// Reads `name` skipping bad rows and checks everything the fixture script expects.
fn check_skip(name: &str, options: ReadOptions) {
    let want = expected(name);
    let (problems, stats) = read_problems(&fixture(name), &options).unwrap();
    assert_eq!(stats.rows, want.rows, "{name}: rows");
    assert_eq!(stats.skipped, want.skipped, "{name}: skipped");
    assert_eq!(problems.len(), want.problems.len());
    let mut by_ability = BTreeMap::new();
    for (got, want) in problems.iter().zip(&want.problems) {
        assert_eq!(got.id, want.id);
        assert_eq!(got.data_source, want.data_source);
        assert_eq!(got.ability, want.ability);
        assert_eq!(got.reference.ground_truth, want.ground_truth, "{}", got.id);
        assert_eq!(got.reference.ability, want.ability);
        assert_eq!(got.reference.data_source, want.data_source);
        assert_eq!(got.messages.len(), want.n_messages, "{}", got.id);
        *by_ability.entry(got.ability.clone()).or_insert(0) += 1;
    }
    assert_eq!(by_ability, want.by_ability);
    // Every malformed row is reported by row and field, in file order.
    assert_eq!(stats.skipped_examples.len(), want.bad_rows.len());
    for (message, bad) in stats.skipped_examples.iter().zip(&want.bad_rows) {
        let needle = format!("row {}, field `{}`", bad.row, bad.field);
        assert!(message.contains(&needle), "{message:?} lacks {needle:?}");
        assert!(message.contains(name), "{message:?} names no file");
    }
}

/// With `on_bad_row = error` the first malformed row ends the read with its row and field.
fn check_error(name: &str) {
    let want = expected(name);
    let first = &want.bad_rows[0];
    let mut reader = ProblemReader::open(&fixture(name), &ReadOptions::default()).unwrap();
    let mut good = 0;
    let err = loop {
        match reader.next() {
            Some(Ok(_)) => good += 1,
            Some(Err(err)) => break err,
            None => panic!("{name}: no error"),
        }
    };
    match &err {
        DataError::BadRow {
            row, field, path, ..
        } => {
            assert_eq!((*row, field.as_str()), (first.row, first.field.as_str()));
            assert!(path.ends_with(name));
        }
        other => panic!("{name}: expected BadRow, got {other:?}"),
    }
    assert_eq!(
        good,
        first.row - want.bad_rows.iter().filter(|b| b.row < first.row).count()
    );
    assert!(reader.next().is_none(), "the reader ends after an error");
}

#[test]
fn heldout_parquet_counts_ground_truths_and_bad_rows() {
    check_skip("heldout_verl.parquet", skip());
    check_error("heldout_verl.parquet");
}

#[test]
fn heldout_parquet_reads_the_same_in_tiny_record_batches() {
    // 3-row record batches cross the file's 4-row row groups: streaming must not lose rows.
    let options = ReadOptions {
        batch_rows: 3,
        ..skip()
    };
    check_skip("heldout_verl.parquet", options);
}

#[test]
fn parquet_row_count_comes_from_the_footer() {
    let reader = ProblemReader::open(&fixture("heldout_verl.parquet"), &skip()).unwrap();
    let want = expected("heldout_verl.parquet");
    assert_eq!(reader.total_rows(), Some(want.rows + want.skipped));
}

#[test]
fn heldout_verl_jsonl_counts_ground_truths_and_bad_rows() {
    check_skip("heldout_verl.jsonl", skip());
    check_error("heldout_verl.jsonl");
}

#[test]
fn heldout_legacy_jsonl_counts_ground_truths_and_bad_rows() {
    check_skip("heldout_legacy.jsonl", skip());
    check_error("heldout_legacy.jsonl");
}

#[test]
fn unusable_ground_truths_are_bad_rows_naming_the_field() {
    // Code tests that do not parse (not JSON, unequal lengths, no `inputs`, a non-string
    // `fn_name`, no tests) and empty math answers: counted as skipped, or the first ends the read.
    check_skip("bad_ground_truths.parquet", skip());
    check_error("bad_ground_truths.parquet");
    let mut reader = ProblemReader::open(
        &fixture("bad_ground_truths.parquet"),
        &ReadOptions::default(),
    )
    .unwrap();
    let err = reader.find_map(Result::err).expect("the first bad row");
    let message = err.to_string();
    assert!(
        message.contains("bad_ground_truths.parquet: row 1, field `reward_model.ground_truth`")
            && message.contains("not JSON"),
        "{message}"
    );
}

#[test]
fn a_missing_column_is_a_schema_error_naming_it() {
    for options in [ReadOptions::default(), skip()] {
        let err = ProblemReader::open(&fixture("missing_reward_model.parquet"), &options)
            .err()
            .unwrap();
        match err {
            DataError::Schema { field, .. } => assert_eq!(field, "reward_model"),
            other => panic!("expected Schema, got {other:?}"),
        }
    }
}

#[test]
fn a_column_of_the_wrong_type_is_a_schema_error_naming_it() {
    let err = ProblemReader::open(&fixture("prompt_as_text.parquet"), &skip())
        .err()
        .unwrap();
    match &err {
        DataError::Schema { field, reason, .. } => {
            assert_eq!(field, "prompt");
            assert!(reason.contains("list"), "{reason}");
        }
        other => panic!("expected Schema, got {other:?}"),
    }
    assert!(err.to_string().contains("prompt_as_text.parquet"));
}

#[test]
fn unknown_extension_and_missing_file_are_typed_errors() {
    let err = ProblemReader::open("data.csv".as_ref(), &ReadOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, DataError::UnknownFormat { .. }));
    let err = ProblemReader::open("/nonexistent/x.jsonl".as_ref(), &ReadOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, DataError::Io { .. }));
}
