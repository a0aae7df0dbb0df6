//! Throughput of the data path: rows/s reading parquet in the Eurus-2-RL-Data layout, and
//! prompts/s through chat template + tokeniser.
//!
//! `cargo bench -p prime-data --bench data`. Set `PRIME_BENCH_TOKENIZER_DIR` to a model
//! directory (e.g. one holding Qwen's `tokenizer.json`) to tokenise with it instead of the
//! arithmetic task's tokenizer.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prime_data::arithmetic::{save_arithmetic_tokenizer, ArithmeticConfig, ArithmeticTask, Split};
use prime_data::prompts::{PromptDataset, PromptOptions};
use prime_data::{read_problems, write_parquet, OnBadRow, Problem, ReadOptions};
use prime_models::{ChatMessage, Tokenizer};

const ROWS: usize = 20_000;

/// Rows shaped like Eurus-2-RL-Data math rows: a ~400-character system prompt and a question.
fn eurus_like_rows(task: &ArithmeticTask) -> Vec<Problem> {
    let system =
        "When tackling complex reasoning tasks, you have access to the following actions. \
        Use them as needed to progress through your thought process. [ASSESS] [ADVANCE] [VERIFY] \
        [SIMPLIFY] [SYNTHESIZE] [PIVOT] [OUTPUT] You should strictly follow the format below: \
        [ACTION NAME] # Your action step 1 # Your action step 2 # Your action step 3 ... \
        Next action: [NEXT ACTION NAME]";
    task.problems(Split::Rl, 1, 0, ROWS)
        .expect("generate")
        .into_iter()
        .map(|mut p| {
            p.messages.insert(0, ChatMessage::system(system));
            p.extra = serde_json::json!({"split": "train", "index": p.extra["index"]});
            p
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = ArithmeticConfig::default();
    let task = ArithmeticTask::new(config.clone()).expect("task");
    let rows = eurus_like_rows(&task);
    let path = dir.path().join("bench.parquet");
    write_parquet(&path, &rows, 4096).expect("write");

    let mut group = c.benchmark_group("data");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("read_parquet_rows", |b| {
        let options = ReadOptions {
            on_bad_row: OnBadRow::Error,
            ..ReadOptions::default()
        };
        b.iter(|| black_box(read_problems(&path, &options).expect("read").0.len()))
    });

    let tokenizer_dir = match std::env::var_os("PRIME_BENCH_TOKENIZER_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let own = dir.path().join("tokenizer");
            save_arithmetic_tokenizer(&own, &config).expect("save tokenizer");
            own
        }
    };
    let tokenizer = Tokenizer::from_dir(&tokenizer_dir).expect("tokenizer");
    let options = PromptOptions::default();
    group.bench_function("tokenise_prompts", |b| {
        b.iter(|| {
            let dataset =
                PromptDataset::new(rows.iter().cloned(), &tokenizer, &options).expect("tokenise");
            black_box(dataset.len())
        })
    });
    group.finish();
}

criterion_group!(data, benches);
criterion_main!(data);
