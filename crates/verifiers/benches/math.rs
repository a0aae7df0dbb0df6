//! Math verdicts per second over the committed agreement corpus
//! (`tests/data/math/corpus.jsonl`), single-threaded, extraction included.
//!
//! `tools/math_verify_bench.py` runs this bench and math-verify over the same rows and reports
//! the throughput ratio.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prime_verifiers::{MathVerifier, Reference, Verifier};

fn corpus(include_pathological: bool) -> Vec<(String, Reference)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/math/corpus.jsonl");
    let text = std::fs::read_to_string(path).expect("read the corpus");
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|row| include_pathological || row["category"] != "pathological")
        .map(|row| {
            let reference = Reference {
                ability: "math".into(),
                data_source: String::new(),
                ground_truth: row["ground_truth"].as_str().unwrap_or_default().to_string(),
            };
            (
                row["response"].as_str().unwrap_or_default().to_string(),
                reference,
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let verifier = MathVerifier::default();
    let mut group = c.benchmark_group("math");
    for (name, include) in [("corpus", true), ("corpus_no_pathological", false)] {
        let rows = corpus(include);
        group.throughput(Throughput::Elements(rows.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                rows.iter()
                    .map(|(response, reference)| verifier.verify(response, reference).score)
                    .sum::<f64>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
