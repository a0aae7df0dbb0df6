//! Write → read round trips of every format the crate writes.

use prime_data::arithmetic::{ArithmeticConfig, ArithmeticTask, Split};
use prime_data::{read_problems, write_jsonl, write_parquet, Layout, Problem, ReadOptions};
use prime_models::ChatMessage;
use prime_verifiers::Reference;
use serde_json::json;

fn handmade() -> Vec<Problem> {
    let code_truth = json!({"inputs": ["1 2\n"], "outputs": ["3\n"], "fn_name": "add"}).to_string();
    vec![
        Problem {
            id: "train-0".into(),
            data_source: "numina_olympiads".into(),
            ability: "math".into(),
            messages: vec![
                ChatMessage::system("Think step by step.\n"),
                ChatMessage::user("Find $x$ if $2x=\\frac{1}{2}$. Unicode: π ≤ ∞"),
            ],
            reference: Reference {
                ability: "math".into(),
                data_source: "numina_olympiads".into(),
                ground_truth: "\\frac{1}{4}".into(),
            },
            extra: json!({"split": "train", "index": 0}),
        },
        Problem {
            id: "apps-7".into(),
            data_source: "apps".into(),
            ability: "code".into(),
            messages: vec![ChatMessage::user("Add two numbers.\n```python\n```")],
            reference: Reference {
                ability: "code".into(),
                data_source: "apps".into(),
                ground_truth: code_truth,
            },
            extra: serde_json::Value::Null,
        },
    ]
}

/// Arithmetic problems plus the handmade ones; `keep_solution` false drops the extra keys
/// parquet does not store.
fn problems(keep_solution: bool) -> Vec<Problem> {
    let task = ArithmeticTask::new(ArithmeticConfig::default()).unwrap();
    let mut all = task.problems(Split::Rl, 3, 0, 23).unwrap();
    if !keep_solution {
        for p in &mut all {
            p.extra = json!({"split": p.extra["split"], "index": p.extra["index"]});
        }
    }
    all.extend(handmade());
    all
}

#[test]
fn parquet_round_trip_across_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.parquet");
    let written = problems(false);
    write_parquet(&path, &written, 7).unwrap();
    for batch_rows in [1, 5, 1024] {
        let options = ReadOptions {
            batch_rows,
            ..ReadOptions::default()
        };
        let (read, stats) = read_problems(&path, &options).unwrap();
        assert_eq!(stats.skipped, 0);
        assert_eq!(read, written);
    }
}

#[test]
fn verl_jsonl_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let written = problems(true);
    write_jsonl(&path, &written, Layout::Verl).unwrap();
    let (read, _) = read_problems(&path, &ReadOptions::default()).unwrap();
    assert_eq!(read, written);
}

#[test]
fn legacy_jsonl_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let written = handmade();
    write_jsonl(&path, &written, Layout::Legacy).unwrap();
    let first_line = std::fs::read_to_string(&path).unwrap();
    let row: serde_json::Value = serde_json::from_str(first_line.lines().next().unwrap()).unwrap();
    for key in ["id", "task", "source", "instruction", "reference"] {
        assert!(row.get(key).is_some(), "legacy row lacks {key}");
    }
    let options = ReadOptions {
        layout: Layout::Legacy,
        ..ReadOptions::default()
    };
    let (read, _) = read_problems(&path, &options).unwrap();
    assert_eq!(read, written);
}

#[test]
fn arithmetic_export_writes_readable_files() {
    let dir = tempfile::tempdir().unwrap();
    let task = ArithmeticTask::new(ArithmeticConfig::default()).unwrap();
    for name in ["eval.jsonl", "eval.parquet"] {
        let path = dir.path().join(name);
        task.export(&path, Split::Eval, 9, 12).unwrap();
        let (read, _) = read_problems(&path, &ReadOptions::default()).unwrap();
        let want = task.problems(Split::Eval, 9, 0, 12).unwrap();
        assert_eq!(read.len(), 12);
        for (got, want) in read.iter().zip(&want) {
            assert_eq!(got.id, want.id);
            assert_eq!(got.messages, want.messages);
            assert_eq!(got.reference, want.reference);
        }
    }
}
