//! Every built-in estimator on a full-scale PRIME batch: 1024 responses (256 prompts × 4)
//! padded to 3072 tokens, with process rewards and values.
//!
//! `cargo bench -p prime-advantages`
//!
//! Two groups: `1024x3072` is wall-clock time; `1024x3072_cpu` is the CPU time of the
//! benchmarking thread (Linux), which stays meaningful on a machine shared with other jobs.
//! Each call allocates its two 12.6 MB outputs; glibc serves allocations that large with fresh
//! `mmap`s, so part of the time is page faults. To see the compute alone (a warm allocator),
//! run with `MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TRIM_THRESHOLD_=4000000000`.

use std::time::Duration;

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

/// CPU time consumed by the calling thread.
#[cfg(target_os = "linux")]
fn thread_cpu_time() -> Duration {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut time = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid, writable timespec (two 64-bit fields on 64-bit Linux).
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut time) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

/// Elsewhere: wall-clock time since the first call.
#[cfg(not(target_os = "linux"))]
fn thread_cpu_time() -> Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
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
    let built: Vec<_> = cases
        .iter()
        .map(|(label, options)| {
            let estimator = registry
                .build_from_options(options)
                .expect("built-in estimator");
            (label.as_str(), estimator)
        })
        .collect();
    let mut group = c.benchmark_group("1024x3072");
    group.sample_size(20);
    for (label, estimator) in &built {
        group.bench_function(*label, |b| {
            b.iter(|| estimator.estimate(&batch).expect("estimate"))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("1024x3072_cpu");
    group.sample_size(20);
    for (label, estimator) in &built {
        group.bench_function(*label, |b| {
            b.iter_custom(|iters| {
                let start = thread_cpu_time();
                for _ in 0..iters {
                    std::hint::black_box(estimator.estimate(&batch).expect("estimate"));
                }
                thread_cpu_time() - start
            })
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
