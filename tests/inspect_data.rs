//! `examples/inspect_data` on a parquet file with malformed code rows (issue 23): with
//! `--on-bad-row error` the first one ends the run with a message naming the file, row and field;
//! with `skip` every one is counted and reported on stderr.
//!
//! The fixture, `crates/data/tests/data/bad_ground_truths.parquet`, is written by
//! `tools/make_data_fixtures.py`; its `.expected.json` lists the bad rows.

#[allow(dead_code)] // `main`, which the example binary uses
#[path = "../examples/inspect_data.rs"]
mod inspect_data;

use clap::Parser;
use serde_json::Value;

const FIXTURE: &str = "crates/data/tests/data/bad_ground_truths.parquet";

/// stdout lines, stderr text, and the error that ended the run.
fn inspect(on_bad_row: &str) -> (Vec<Value>, String, Result<(), String>) {
    let path = format!("{}/{FIXTURE}", env!("CARGO_MANIFEST_DIR"));
    let args =
        inspect_data::Args::try_parse_from(["inspect_data", &path, "--on-bad-row", on_bad_row])
            .expect("valid arguments");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = inspect_data::run(args, &mut out, &mut err);
    let lines = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    (lines, String::from_utf8(err).unwrap(), result)
}

fn expected_bad_rows() -> Vec<(u64, String)> {
    let path = format!("{}/{FIXTURE}.expected.json", env!("CARGO_MANIFEST_DIR"));
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    expected["bad_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bad| {
            let row = bad["row"].as_u64().unwrap();
            (row, bad["field"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn error_mode_stops_at_the_malformed_code_row() {
    let (lines, _, result) = inspect("error");
    let message = result.expect_err("a malformed row ends the run");
    let (row, field) = &expected_bad_rows()[0];
    assert!(
        message.contains(&format!(
            "bad_ground_truths.parquet: row {row}, field `{field}`"
        )),
        "{message}"
    );
    assert!(message.contains("code tests"), "{message}");
    // The rows before it were printed; no summary line.
    assert_eq!(lines.len(), *row as usize);
    assert!(lines.iter().all(|line| line.get("id").is_some()));
}

#[test]
fn skip_mode_counts_every_malformed_row() {
    let (lines, stderr, result) = inspect("skip");
    result.expect("skip mode reads the whole file");
    let bad = expected_bad_rows();
    let summary = lines.last().expect("a summary line");
    assert_eq!(summary["skipped"], bad.len());
    assert_eq!(summary["rows"], lines.len() - 1);
    let skipped: Vec<&str> = stderr.lines().collect();
    assert_eq!(skipped.len(), bad.len(), "{stderr}");
    for (line, (row, field)) in skipped.iter().zip(&bad) {
        assert!(
            line.contains(&format!("row {row}, field `{field}`")),
            "{line}"
        );
    }
}
