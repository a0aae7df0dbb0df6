//! One PRIME step of a tiny model on the CPU backend, whole and phase by phase.
//!
//! ```text
//! cargo xtask bench step                  # the same as: cargo bench -p prime --bench step
//! cargo bench -p prime --bench step -- rollout   # one bench (criterion's name filter)
//! ```
//!
//! The run is `configs/smoke.toml` (the 1-layer, hidden-32 Qwen2 from scratch and the built-in
//! arithmetic task) with a larger rollout, 8 prompts × 4 samples of at most 16 tokens, PPO and
//! PRM mini-batches of 16; the accuracy filter stays off so every group is kept. The trainer is
//! opened in a temporary directory and warmed up with two [`Trainer::run_step`] calls (the first
//! runs the SFT warm-up, the RL start model and the step-0 evaluation). Criterion group `step`
//! then measures:
//!
//! - `whole_step`: [`Trainer::run_step`], one RL step with its metrics line;
//! - one bench per phase, in the order the step runs them, each on inputs prepared outside the
//!   timed closure from one rollout of the warmed trainer: `rollout` (sample, verify, filter),
//!   `old_log_probs` (`log π_θold` of the batch), `implicit_rewards` (the PRM's rewards and its
//!   update), `advantages` (the estimator, on a copy of the old log-probs it consumes) and
//!   `policy_update` (the PPO-clip update).
//!
//! The PRM and the policy change on every timed call, as they do in training. After criterion's
//! report the bench prints each phase's median over the calls it timed and its share of
//! `whole_step`'s median, all from this one run; what the phases leave of the step is the step's
//! bookkeeping (metrics, logs). Sample sizes are small so the whole bench takes about a minute.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode};
use prime::models::backend::CpuAutodiffBackend as B;
use prime::models::Qwen2ForCausalLm;
use prime::trainer::{RunOptions, TrainConfig, Trainer};

type StepTrainer = Trainer<B, Qwen2ForCausalLm<B>>;

/// `configs/smoke.toml` with a larger rollout than its 3 prompts × 2 samples.
const OVERRIDES: [&str; 9] = [
    // As in a long run, responses are recorded for the report on one step in a hundred only.
    "steps=1000",
    "filter.accuracy=false",
    "rollout.batch_size=8",
    "rollout.n_samples=4",
    "rollout.max_response_len=16",
    "rollout.micro_batch_size=8",
    "ppo.mini_batch_size=16",
    "ppo.micro_batch_size=8",
    "prm.mini_batch_size=16",
];

/// RL steps run before measuring: the first also runs SFT and the step-0 evaluation.
const WARM_UP_STEPS: usize = 2;

/// The benches in the order the table prints them; `whole_step` is the reference.
const PHASES: [&str; 5] = [
    "rollout",
    "old_log_probs",
    "implicit_rewards",
    "advantages",
    "policy_update",
];

fn open(run_dir: &Path) -> StepTrainer {
    let smoke = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/smoke.toml");
    let overrides: Vec<String> = OVERRIDES.iter().map(|s| s.to_string()).collect();
    let config = TrainConfig::load(&smoke, &overrides).expect("bench config");
    Trainer::open(config, run_dir, RunOptions::default(), Default::default()).expect("open")
}

/// Runs `f`, appending its wall time to `times`.
fn timed<T>(times: &mut Vec<Duration>, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    times.push(start.elapsed());
    out
}

/// The calls each bench timed, by bench name.
type Timings = Vec<(&'static str, Vec<Duration>)>;

fn bench_step(c: &mut Criterion, trainer: &mut StepTrainer) -> Timings {
    let mut lr = 0.0;
    for _ in 0..WARM_UP_STEPS {
        let metrics = trainer.run_step().expect("warm-up step");
        assert!(
            !metrics.skipped,
            "warm-up step {} was skipped",
            metrics.step
        );
        lr = metrics.lr;
    }
    // The phases run as step WARM_UP_STEPS + 1 would (the step number only seeds sampling and
    // the PPO order).
    let step = WARM_UP_STEPS + 1;
    let rollouts = trainer.rollout(step).expect("rollout");
    let rows = rollouts.rows();
    assert!(!rows.is_empty(), "the filter is off: every group is kept");
    let old = trainer.old_log_probs(rows).expect("old log-probs");
    let prm = trainer
        .implicit_rewards(rows, &old)
        .expect("implicit rewards");
    let train_rows = trainer
        .advantages(rows, old.clone(), prm.as_ref())
        .expect("advantages");

    let mut group = c.benchmark_group("step");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    let mut timings: Timings = Vec::new();

    let mut times = Vec::new();
    let mut skipped = 0usize;
    group.bench_function("whole_step", |b| {
        b.iter(|| {
            let metrics = timed(&mut times, || trainer.run_step().expect("step"));
            skipped += usize::from(metrics.skipped);
            metrics
        })
    });
    if skipped > 0 {
        eprintln!("warning: {skipped} of the timed steps were skipped (non-finite values)");
    }
    timings.push(("whole_step", std::mem::take(&mut times)));

    group.bench_function("rollout", |b| {
        b.iter(|| timed(&mut times, || trainer.rollout(step).expect("rollout")))
    });
    timings.push(("rollout", std::mem::take(&mut times)));

    group.bench_function("old_log_probs", |b| {
        b.iter(|| {
            timed(&mut times, || {
                trainer.old_log_probs(rows).expect("log-probs")
            })
        })
    });
    timings.push(("old_log_probs", std::mem::take(&mut times)));

    group.bench_function("implicit_rewards", |b| {
        b.iter(|| {
            timed(&mut times, || {
                trainer
                    .implicit_rewards(rows, &old)
                    .expect("implicit rewards")
            })
        })
    });
    timings.push(("implicit_rewards", std::mem::take(&mut times)));

    group.bench_function("advantages", |b| {
        b.iter_batched(
            || old.clone(),
            |old| {
                timed(&mut times, || {
                    trainer
                        .advantages(rows, old, prm.as_ref())
                        .expect("advantages")
                })
            },
            BatchSize::PerIteration,
        )
    });
    timings.push(("advantages", std::mem::take(&mut times)));

    group.bench_function("policy_update", |b| {
        b.iter(|| {
            let stats = timed(&mut times, || {
                trainer
                    .policy_update(step, lr, &train_rows)
                    .expect("policy update")
            });
            assert_eq!(stats.skipped_minibatches, 0, "non-finite policy update");
            stats
        })
    });
    timings.push(("policy_update", std::mem::take(&mut times)));

    group.finish();
    timings
}

fn median_ms(times: &[Duration]) -> Option<f64> {
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    ms.get(ms.len() / 2).copied()
}

/// Each phase's median and its share of the whole step's median (benches a name filter left
/// out are not listed).
fn print_shares(timings: &Timings) {
    let times = |name: &str| timings.iter().find(|(n, _)| *n == name).map(|(_, t)| t);
    let median = |name: &str| times(name).and_then(|t| median_ms(t));
    let whole = median("whole_step");
    println!("\none PRIME step, medians over every call timed above, this run:");
    println!(
        "{:<18} {:>7} {:>11} {:>8}",
        "bench", "calls", "median ms", "share"
    );
    let share = |ms: f64| match whole {
        Some(w) => format!("{:>7.1}%", 100.0 * ms / w),
        None => format!("{:>8}", "-"),
    };
    let mut sum = 0.0;
    let mut all = true;
    for name in PHASES {
        let calls = times(name).map_or(0, Vec::len);
        match median(name) {
            Some(ms) => {
                sum += ms;
                println!("{name:<18} {calls:>7} {ms:>11.3} {}", share(ms));
            }
            None => all = false,
        }
    }
    if all {
        println!(
            "{:<18} {:>7} {sum:>11.3} {}",
            "sum of phases",
            "",
            share(sum)
        );
    }
    if let Some(w) = whole {
        let calls = times("whole_step").map_or(0, Vec::len);
        println!("{:<18} {calls:>7} {w:>11.3} {:>7.1}%", "whole_step", 100.0);
    }
}

fn main() {
    let run_dir = tempfile::tempdir().expect("temporary run directory");
    let mut trainer = open(run_dir.path());
    let mut criterion = Criterion::default().configure_from_args();
    let timings = bench_step(&mut criterion, &mut trainer);
    criterion.final_summary();
    print_shares(&timings);
}
