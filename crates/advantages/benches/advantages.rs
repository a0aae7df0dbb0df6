//! Every built-in estimator on a full-scale PRIME batch: 1024 responses (256 prompts × 4)
//! padded to 3072 tokens, with process rewards and values.
//!
//! `CARGO_TARGET_DIR=/work/target-advantages cargo bench -p prime-advantages`

use criterion::{criterion_group, criterion_main, Criterion};
use prime_advantages::{AdvantageOptions, Registry, RolloutBatch};

const RESPONSES: usize = 1024;
const GROUP: usize = 4;
const WIDTH: usize = 3072;

/// SplitMix64: a tiny deterministic generator, enough for benchmark data.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn full_scale_batch() -> RolloutBatch {
    let mut rng = SplitMix(2502_01456);
    let group = (0..RESPONSES).map(|i| i / GROUP).collect();
    // lengths uniform in [256, 3072], one in eight truncated at the width
    let lengths = (0..RESPONSES)
        .map(|_| {
            if rng.next_u64() % 8 == 0 {
                WIDTH
            } else {
                256 + (rng.next_u64() as usize % (WIDTH - 256))
            }
        })
        .collect();
    let acc = (0..RESPONSES)
        .map(|_| if rng.unit() < 0.5 { 1.0 } else { 0.0 })
        .collect();
    let process = (0..RESPONSES * WIDTH)
        .map(|_| 0.05 * (rng.unit() - 0.5))
        .collect();
    let values = (0..RESPONSES * WIDTH).map(|_| rng.unit()).collect();
    RolloutBatch::new(WIDTH, group, lengths, acc)
        .and_then(|b| b.with_process(process))
        .and_then(|b| b.with_values(values))
        .expect("benchmark batch is valid")
}

fn estimators(c: &mut Criterion) {
    let batch = full_scale_batch();
    let registry = Registry::with_builtins();
    let mut cases: Vec<(String, AdvantageOptions)> = registry
        .names()
        .map(|name| {
            let options = AdvantageOptions {
                estimator: name.to_string(),
                ..AdvantageOptions::default()
            };
            (name.to_string(), options)
        })
        .collect();
    cases.push((
        "rloo_outcome_only".to_string(),
        AdvantageOptions {
            process_coef: 0.0,
            ..AdvantageOptions::default()
        },
    ));
    let mut group = c.benchmark_group("1024x3072");
    group.sample_size(20);
    for (label, options) in cases {
        let estimator = registry
            .build_from_options(&options)
            .expect("built-in estimator");
        group.bench_function(label.as_str(), |b| {
            b.iter(|| estimator.estimate(&batch).expect("estimate"))
        });
    }
    group.finish();
    c.bench_function("validate_1024x3072", |b| {
        b.iter_batched(
            || batch.clone().into_data(),
            |data| RolloutBatch::try_from(data).expect("valid"),
            criterion::BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, estimators);
criterion_main!(benches);
