//! A new advantage estimator defined outside `prime-advantages`, registered under a name and
//! picked by a config string — the way a research fork adds one without touching the crate.
//!
//! ```text
//! cargo run --example custom_estimator
//! ```
//!
//! The estimator here is "outcome minus the group median", spread over every token: a
//! baseline that is robust to one outlier in the group.

use prime_advantages::{
    AdvantageError, AdvantageEstimator, AdvantageOptions, Advantages, Registry, RolloutBatch,
};

/// `A_{i,t} = c_o · (acc_i − median_{j ∈ group(i)} acc_j)` on every valid token.
struct MedianBaseline {
    outcome_coef: f64,
}

impl AdvantageEstimator for MedianBaseline {
    fn estimate(&self, batch: &RolloutBatch) -> Result<Advantages, AdvantageError> {
        let width = batch.width();
        let mut returns = vec![0.0f32; batch.len() * width];
        for group in batch.groups() {
            let mut scores: Vec<f32> = group.members.iter().map(|&i| batch.acc()[i]).collect();
            scores.sort_by(f32::total_cmp);
            let k = scores.len();
            let median = if k % 2 == 1 {
                f64::from(scores[k / 2])
            } else {
                (f64::from(scores[k / 2 - 1]) + f64::from(scores[k / 2])) / 2.0
            };
            for &i in group.members {
                let advantage = self.outcome_coef * (f64::from(batch.acc()[i]) - median);
                let row = &mut returns[i * width..i * width + batch.lengths()[i]];
                row.fill(advantage as f32);
            }
        }
        Advantages::from_returns(batch, returns, false)
    }
}

fn main() -> Result<(), AdvantageError> {
    let mut registry = Registry::with_builtins();
    registry.register("median_baseline", |options: &AdvantageOptions| {
        options.validate()?;
        Ok(Box::new(MedianBaseline {
            outcome_coef: options.outcome_coef,
        }) as Box<dyn AdvantageEstimator>)
    })?;
    println!(
        "registered: {}",
        registry.names().collect::<Vec<_>>().join(", ")
    );

    // what a trainer's `[advantage]` config section would select
    let options = AdvantageOptions {
        estimator: "median_baseline".to_string(),
        ..AdvantageOptions::default()
    };
    let estimator = registry.build_from_options(&options)?;

    // one prompt, five responses of different lengths; one lucky outlier
    let batch = RolloutBatch::new(
        4,
        vec![0; 5],
        vec![4, 2, 3, 1, 4],
        vec![0.0, 0.1, 0.2, 0.1, 1.0],
    )?;
    let out = estimator.estimate(&batch)?;
    for i in 0..batch.len() {
        println!(
            "response {i} (acc {:.1}): {:?}",
            batch.acc()[i],
            out.advantage_row(i)
        );
    }
    // median 0.1: the outlier gets +0.9, the two at the median 0
    assert_eq!(out.advantage_row(1), &[0.0, 0.0]);
    assert!((out.advantage_row(4)[0] - 0.9).abs() < 1e-6);
    assert_eq!(out.advantages()[3 * 4 + 1], 0.0); // padding of response 3
    Ok(())
}
