//! Agreement of the math verifier with the committed corpus labelled by Hugging Face
//! math-verify and by the corpus generator's common-sense label
//! (`tools/math_verify_corpus.py`, `tests/data/math/README.md`).
//!
//! Goal (issue 4): ≥ 99% agreement on the rows where math-verify and the expected label agree,
//! and no verdict slower than one second.

use std::time::{Duration, Instant};

use prime_verifiers::{MathVerifier, Reference, Status, Verifier};
use serde::Deserialize;

#[derive(Deserialize)]
struct Row {
    id: usize,
    split: String,
    category: String,
    ground_truth: String,
    response: String,
    expected: bool,
    math_verify: bool,
}

fn corpus() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/math/corpus.jsonl");
    let text = std::fs::read_to_string(path).expect("read the committed corpus");
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("corpus line {}: {e}", i + 1))
        })
        .collect()
}

#[test]
fn agrees_with_math_verify_where_the_labellers_agree() {
    let rows = corpus();
    assert!(rows.len() >= 300, "corpus has {} rows", rows.len());
    let verifier = MathVerifier::default();
    let mut slowest = Duration::ZERO;
    let (mut both_agree, mut ours_agree) = (0usize, 0usize);
    let (mut with_mv, mut with_expected) = (0usize, 0usize);
    let mut misses = Vec::new();
    for row in &rows {
        let reference = Reference {
            ability: "math".into(),
            data_source: String::new(),
            ground_truth: row.ground_truth.clone(),
        };
        let start = Instant::now();
        let verdict = verifier.verify(&row.response, &reference);
        slowest = slowest.max(start.elapsed());
        let ours = verdict.status == Status::Correct;
        with_mv += usize::from(ours == row.math_verify);
        with_expected += usize::from(ours == row.expected);
        if row.expected == row.math_verify {
            both_agree += 1;
            if ours == row.expected {
                ours_agree += 1;
            } else {
                misses.push(format!(
                    "#{} [{}/{}] truth {:?} response …{:?}: ours {:?} ({}), labels {}",
                    row.id,
                    row.split,
                    row.category,
                    row.ground_truth,
                    row.response
                        .chars()
                        .rev()
                        .take(60)
                        .collect::<String>()
                        .chars()
                        .rev()
                        .collect::<String>(),
                    verdict.status,
                    verdict.reason,
                    row.expected
                ));
            }
        }
    }
    let rate = ours_agree as f64 / both_agree as f64;
    println!(
        "rows {}, labellers agree on {both_agree}; ours agrees on {ours_agree} ({:.2}%); with math-verify overall {with_mv}/{}, with expected overall {with_expected}/{}; slowest verdict {slowest:?}",
        rows.len(),
        100.0 * rate,
        rows.len(),
        rows.len()
    );
    for miss in &misses {
        println!("  miss {miss}");
    }
    assert!(
        rate >= 0.99,
        "agreement {:.2}% < 99%:\n{}",
        100.0 * rate,
        misses.join("\n")
    );
    assert!(
        slowest < Duration::from_secs(1),
        "slowest verdict took {slowest:?}"
    );
}

#[test]
fn heldout_split_alone_meets_the_goal() {
    let rows: Vec<Row> = corpus()
        .into_iter()
        .filter(|r| r.split == "heldout")
        .collect();
    assert!(rows.len() >= 150);
    let verifier = MathVerifier::default();
    let (mut n, mut ok) = (0usize, 0usize);
    for row in rows.iter().filter(|r| r.expected == r.math_verify) {
        let reference = Reference {
            ability: "math".into(),
            data_source: String::new(),
            ground_truth: row.ground_truth.clone(),
        };
        let ours = verifier.verify(&row.response, &reference).status == Status::Correct;
        n += 1;
        ok += usize::from(ours == row.expected);
    }
    println!("heldout: {ok}/{n}");
    assert!(ok as f64 >= 0.99 * n as f64, "heldout agreement {ok}/{n}");
}
