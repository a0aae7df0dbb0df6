//! Property test: on random batches and random options, every built-in estimator agrees with
//! the straightforward loop implementation in `common/mod.rs`, and the invariants of
//! docs/algorithm.md hold (padding 0, whitened mean 0 / variance 1, RLOO outcome baselines summing
//! to zero).

mod common;

use common::{loop_estimate, random_options, Ragged, Rng};
use prime_advantages::{AdvantageError, AdvantageOptions, Registry};

const ESTIMATORS: [&str; 6] = [
    "rloo",
    "grpo",
    "reinforce",
    "reinforce_pp",
    "gae",
    "prm_value",
];

fn close(a: f32, e: f64) -> bool {
    (f64::from(a) - e).abs() <= 1e-5 * e.abs().max(1.0)
}

#[test]
fn fast_matches_loop_on_random_batches() {
    let registry = Registry::with_builtins();
    let mut rng = Rng(0x5eed);
    let (mut compared, mut refused) = (0, 0);
    for case in 0..3000 {
        let name = ESTIMATORS[case % ESTIMATORS.len()];
        let ragged = Ragged::random(&mut rng, case % 7 == 0);
        let options = random_options(&mut rng, name);
        let batch = ragged.to_batch();
        let fast = registry.build(name, &options).unwrap().estimate(&batch);
        let slow = loop_estimate(name, &options, &ragged);
        match (fast, slow) {
            (Ok(fast), Ok((adv, ret))) => {
                compared += 1;
                for i in 0..batch.len() {
                    for (t, (&a, &e)) in fast.advantage_row(i).iter().zip(&adv[i]).enumerate() {
                        assert!(close(a, e), "case {case} {name} {options:?}\nadvantage[{i}][{t}] {a} vs {e}\n{ragged:?}");
                    }
                    for (t, (&g, &e)) in fast.return_row(i).iter().zip(&ret[i]).enumerate() {
                        assert!(close(g, e), "case {case} {name} {options:?}\nreturn[{i}][{t}] {g} vs {e}\n{ragged:?}");
                    }
                    let pad = i * batch.width() + batch.lengths()[i]..(i + 1) * batch.width();
                    assert!(fast.advantages()[pad.clone()].iter().all(|&x| x == 0.0));
                    assert!(fast.returns()[pad].iter().all(|&x| x == 0.0));
                }
            }
            (Err(_), Err(_)) => refused += 1,
            (fast, slow) => {
                panic!("case {case} {name} {options:?}: fast {fast:?} vs loop {slow:?}")
            }
        }
    }
    // most cases must be real comparisons, not agreed refusals
    assert!(compared > 2400, "compared {compared}, refused {refused}");
}

#[test]
fn whitened_advantages_have_mean_zero_and_unit_variance() {
    let registry = Registry::with_builtins();
    let mut rng = Rng(7);
    for case in 0..200 {
        let ragged = Ragged::random(&mut rng, false);
        let name = ["rloo", "reinforce_pp", "gae", "prm_value"][case % 4];
        let mut options = random_options(&mut rng, name);
        options.whiten = Some(true);
        options.gamma_process = options.gamma_outcome;
        let batch = ragged.to_batch();
        let Ok(out) = registry.build(name, &options).unwrap().estimate(&batch) else {
            continue;
        };
        options.whiten = Some(false);
        let raw = registry
            .build(name, &options)
            .unwrap()
            .estimate(&batch)
            .unwrap();
        let (mean, var) = mean_var(&out, batch.len());
        let (_, raw_var) = mean_var(&raw, batch.len());
        assert!(mean.abs() < 1e-5, "case {case}: mean {mean}");
        // var(A) = var(X) / (var(X) + 1e-8) for the raw advantages X: 1 unless X is constant
        let expected = raw_var / (raw_var + 1e-8);
        assert!(
            (var - expected).abs() < 1e-4,
            "case {case}: var {var} vs {expected}"
        );
        assert!(
            raw_var < 1e-6 || (var - 1.0).abs() < 1e-2,
            "case {case}: var {var}"
        );
        assert!((f64::from(out.stats().advantage_mean) - mean).abs() < 1e-5);
    }
}

/// Mean and unbiased variance of the valid advantages.
fn mean_var(out: &prime_advantages::Advantages, n: usize) -> (f64, f64) {
    let valid: Vec<f64> = (0..n)
        .flat_map(|i| out.advantage_row(i).iter().map(|&x| f64::from(x)))
        .collect();
    let count = valid.len() as f64;
    let mean = valid.iter().sum::<f64>() / count;
    let var = valid.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (count - 1.0);
    (mean, var)
}

#[test]
fn rloo_outcome_baselines_sum_to_zero_in_each_group() {
    let registry = Registry::with_builtins();
    let mut rng = Rng(11);
    let options = AdvantageOptions {
        process_coef: 0.0,
        whiten: Some(false),
        ..AdvantageOptions::default()
    };
    for _ in 0..200 {
        let ragged = Ragged::random(&mut rng, false);
        let batch = ragged.to_batch();
        let out = registry
            .build("rloo", &options)
            .unwrap()
            .estimate(&batch)
            .unwrap();
        for group in batch.groups() {
            // with γ_o = 1 the return at t = 0 is the leave-one-out outcome advantage
            let sum: f64 = group
                .members
                .iter()
                .map(|&i| f64::from(out.return_row(i)[0]))
                .sum();
            assert!(sum.abs() < 1e-5, "group {} sums to {sum}", group.id);
            for &i in group.members {
                let others: Vec<f64> = group
                    .members
                    .iter()
                    .filter(|&&j| j != i)
                    .map(|&j| f64::from(batch.acc()[j]))
                    .collect();
                let loo =
                    f64::from(batch.acc()[i]) - others.iter().sum::<f64>() / others.len() as f64;
                assert!(out.return_row(i).iter().all(|&g| close(g, loo)));
            }
        }
    }
}

#[test]
fn rloo_variants_agree_on_the_return_at_the_first_token() {
    let registry = Registry::with_builtins();
    let mut rng = Rng(13);
    for _ in 0..200 {
        let ragged = Ragged::random(&mut rng, false);
        let batch = ragged.to_batch();
        let mut options = random_options(&mut rng, "rloo");
        options.gamma_process = 1.0;
        options.whiten = Some(false);
        options.rloo_variant = prime_advantages::RlooVariant::Code;
        let code = registry
            .build("rloo", &options)
            .unwrap()
            .estimate(&batch)
            .unwrap();
        options.rloo_variant = prime_advantages::RlooVariant::Paper;
        let paper = registry
            .build("rloo", &options)
            .unwrap()
            .estimate(&batch)
            .unwrap();
        for i in 0..batch.len() {
            assert!(close(
                code.return_row(i)[0],
                f64::from(paper.return_row(i)[0])
            ));
        }
    }
}

#[test]
fn group_of_one_is_an_error_for_group_estimators_only() {
    let registry = Registry::with_builtins();
    let batch =
        prime_advantages::RolloutBatch::new(2, vec![0, 0, 1], vec![2, 2, 1], vec![1.0, 0.0, 1.0])
            .unwrap()
            .with_process(vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.0])
            .unwrap()
            .with_values(vec![0.0; 6])
            .unwrap();
    for name in ESTIMATORS {
        let result = registry
            .build(name, &AdvantageOptions::default())
            .unwrap()
            .estimate(&batch);
        match name {
            "rloo" | "grpo" => assert!(matches!(
                result,
                Err(AdvantageError::GroupTooSmall {
                    group: 1,
                    size: 1,
                    ..
                })
            )),
            _ => assert!(result.is_ok(), "{name}: {result:?}"),
        }
    }
}
