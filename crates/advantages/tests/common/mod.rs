//! Shared by the integration tests: a seeded generator of random batches and options, and a
//! straightforward loop implementation of docs/algorithm.md §9 written independently of the
//! crate's fast kernels (f64, ragged rows, explicit double sums, no shared code).

#![allow(dead_code)]

use prime_advantages::{
    AdvantageOptions, Granularity, GrpoScale, RewardNorm, RlooVariant, RolloutBatch,
};

/// SplitMix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform integer in `lo..=hi`.
    pub fn int(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.int(0, items.len() - 1)]
    }
}

/// A batch as ragged rows, the way the loop implementation reads it.
#[derive(Debug, Clone)]
pub struct Ragged {
    pub group: Vec<usize>,
    pub lengths: Vec<usize>,
    pub acc: Vec<f32>,
    pub process: Option<Vec<Vec<f32>>>,
    pub values: Option<Vec<Vec<f32>>>,
}

impl Ragged {
    /// Random groups (sizes 2..=5, or 1..=5 with `allow_singletons`), interleaved group ids,
    /// random lengths with some truncated at the width, scores in [0, 1].
    pub fn random(rng: &mut Rng, allow_singletons: bool) -> Self {
        let groups = rng.int(1, 4);
        let width = rng.int(1, 12);
        let mut group = Vec::new();
        for g in 0..groups {
            let size = rng.int(if allow_singletons { 1 } else { 2 }, 5);
            group.extend(std::iter::repeat_n(g * 7 + 3, size));
        }
        // shuffle so members of a group are not contiguous
        for i in (1..group.len()).rev() {
            let j = rng.int(0, i);
            group.swap(i, j);
        }
        let n = group.len();
        let lengths: Vec<usize> = (0..n)
            .map(|_| {
                if rng.unit() < 0.25 {
                    width
                } else {
                    rng.int(1, width)
                }
            })
            .collect();
        let acc = (0..n)
            .map(|_| match rng.int(0, 3) {
                0 => 0.0,
                1 => 1.0,
                _ => rng.unit() as f32,
            })
            .collect();
        let row = |rng: &mut Rng, len: usize, lo: f64, hi: f64| -> Vec<f32> {
            (0..len)
                .map(|_| (lo + (hi - lo) * rng.unit()) as f32)
                .collect()
        };
        let process =
            (rng.unit() < 0.8).then(|| lengths.iter().map(|&l| row(rng, l, -1.0, 1.0)).collect());
        let values =
            (rng.unit() < 0.8).then(|| lengths.iter().map(|&l| row(rng, l, 0.0, 1.0)).collect());
        Self {
            group,
            lengths,
            acc,
            process,
            values,
        }
    }

    /// The crate's batch, with NaN in every padding slot (which must never be read).
    pub fn to_batch(&self) -> RolloutBatch {
        let width = *self.lengths.iter().max().expect("non-empty");
        let pad = |rows: &Vec<Vec<f32>>| -> Vec<f32> {
            let mut flat = vec![f32::NAN; rows.len() * width];
            for (i, r) in rows.iter().enumerate() {
                flat[i * width..i * width + r.len()].copy_from_slice(r);
            }
            flat
        };
        let mut batch = RolloutBatch::new(
            width,
            self.group.clone(),
            self.lengths.clone(),
            self.acc.clone(),
        )
        .expect("valid batch");
        if let Some(p) = &self.process {
            batch = batch.with_process(pad(p)).expect("valid process");
        }
        if let Some(v) = &self.values {
            batch = batch.with_values(pad(v)).expect("valid values");
        }
        batch
    }
}

/// Random options over every field.
pub fn random_options(rng: &mut Rng, estimator: &str) -> AdvantageOptions {
    let gammas = [1.0, 1.0, 0.9, 0.5, 0.0];
    let gamma_outcome = rng.pick(&gammas);
    let gamma_process = if estimator == "gae" && rng.unit() < 0.8 {
        gamma_outcome
    } else {
        rng.pick(&gammas)
    };
    AdvantageOptions {
        estimator: estimator.to_string(),
        gamma_process,
        gamma_outcome,
        process_coef: rng.pick(&[1.0, 1.0, 0.0, 0.5, 2.0]),
        outcome_coef: rng.pick(&[1.0, 1.0, 0.0, 3.0]),
        rloo_variant: rng.pick(&[RlooVariant::Code, RlooVariant::Paper]),
        norm: rng.pick(&[RewardNorm::BatchNorm, RewardNorm::None]),
        granularity: rng.pick(&[Granularity::Token, Granularity::Whole]),
        whiten: rng.pick(&[None, Some(true), Some(false)]),
        lambda: rng.pick(&[1.0, 0.95, 0.5, 0.0]),
        scale: rng.pick(&[GrpoScale::Group, GrpoScale::Batch, GrpoScale::None]),
    }
}

/// Per-response rows of f64.
pub type Rows = Vec<Vec<f64>>;

/// The loop implementation: `(advantages, returns)` per valid token, or the reason it refuses.
pub fn loop_estimate(
    name: &str,
    o: &AdvantageOptions,
    b: &Ragged,
) -> Result<(Rows, Rows), &'static str> {
    let n = b.lengths.len();
    let last = |i: usize| b.lengths[i] - 1;
    let zeros = || -> Rows { b.lengths.iter().map(|&l| vec![0.0; l]).collect() };
    // process rewards after granularity and normalisation, if the source is on
    let process: Option<Rows> = match &b.process {
        Some(p) if o.process_coef != 0.0 => {
            let mut r: Rows = p
                .iter()
                .map(|row| row.iter().map(|&x| f64::from(x)).collect())
                .collect();
            if o.granularity == Granularity::Whole {
                for (i, row) in r.iter_mut().enumerate() {
                    let total: f64 = row.iter().sum();
                    row.iter_mut().for_each(|x| *x = 0.0);
                    row[last(i)] = total;
                }
            }
            if o.norm == RewardNorm::BatchNorm {
                let mut largest: f64 = 0.0;
                for row in &r {
                    for t in 0..row.len() {
                        largest = largest.max(row[t..].iter().sum::<f64>().abs());
                    }
                }
                for row in r.iter_mut() {
                    row.iter_mut().for_each(|x| *x /= largest + 1e-6);
                }
            }
            Some(r)
        }
        _ => None,
    };
    if name == "prm_value" && b.process.is_none() {
        return Err("prm_value needs process");
    }
    if name == "gae" && b.values.is_none() {
        return Err("gae needs values");
    }
    if name == "gae" && process.is_some() && o.gamma_process != o.gamma_outcome {
        return Err("gae needs one gamma");
    }
    // outcome as a reward on the last token
    let mut outcome = zeros();
    for i in 0..n {
        outcome[i][last(i)] = f64::from(b.acc[i]);
    }
    let members =
        |i: usize| -> Vec<usize> { (0..n).filter(|&j| b.group[j] == b.group[i]).collect() };
    let group_of_one = (0..n).any(|i| members(i).len() < 2);
    let discounted = |r: &Rows, gamma: f64| -> Rows {
        r.iter()
            .map(|row| {
                (0..row.len())
                    .map(|t| {
                        (t..row.len())
                            .map(|s| gamma.powi((s - t) as i32) * row[s])
                            .sum()
                    })
                    .collect()
            })
            .collect()
    };
    let add = |a: &Rows, ca: f64, c: &Rows, cc: f64| -> Rows {
        a.iter()
            .zip(c)
            .map(|(x, y)| x.iter().zip(y).map(|(p, q)| ca * p + cc * q).collect())
            .collect()
    };
    let gae = |rewards: &Rows, values: &Rows, gamma: f64, lambda: f64| -> (Rows, Rows) {
        let mut adv = zeros();
        let mut ret = zeros();
        for i in 0..n {
            let l = b.lengths[i];
            let v = |t: usize| if t < l { values[i][t] } else { 0.0 };
            let delta: Vec<f64> = (0..l)
                .map(|t| rewards[i][t] + gamma * v(t + 1) - v(t))
                .collect();
            for t in 0..l {
                adv[i][t] = (t..l)
                    .map(|s| (gamma * lambda).powi((s - t) as i32) * delta[s])
                    .sum();
                ret[i][t] = adv[i][t] + v(t);
            }
        }
        (adv, ret)
    };
    let empty = zeros();
    let p = process.as_ref().unwrap_or(&empty);
    let (adv, ret, whiten_default) = match name {
        "rloo" => {
            if group_of_one {
                return Err("group of one");
            }
            let loo = |r: &Rows, on: &dyn Fn(usize, usize) -> bool| -> Rows {
                let mean = |j: usize| {
                    let picked: Vec<f64> = (0..b.lengths[j])
                        .filter(|&t| on(j, t))
                        .map(|t| r[j][t])
                        .collect();
                    picked.iter().sum::<f64>() / picked.len() as f64
                };
                let mut out = zeros();
                for i in 0..n {
                    let m = members(i);
                    let k = m.len() as f64;
                    let s: f64 = m.iter().map(|&j| mean(j)).sum();
                    for t in 0..b.lengths[i] {
                        if on(i, t) {
                            out[i][t] = match o.rloo_variant {
                                RlooVariant::Code => k / (k - 1.0) * r[i][t] - s / (k - 1.0),
                                RlooVariant::Paper => r[i][t] - (s - mean(i)) / (k - 1.0),
                            };
                        }
                    }
                }
                out
            };
            let gp = discounted(&loo(p, &|_, _| true), o.gamma_process);
            let go = discounted(
                &loo(&outcome, &|j, t| t == b.lengths[j] - 1),
                o.gamma_outcome,
            );
            let g = add(
                &gp,
                if process.is_some() {
                    o.process_coef
                } else {
                    0.0
                },
                &go,
                o.outcome_coef,
            );
            (g.clone(), g, true)
        }
        "grpo" => {
            if group_of_one {
                return Err("group of one");
            }
            let stats = |xs: &[f64]| {
                let m = xs.iter().sum::<f64>() / xs.len() as f64;
                let var =
                    xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() as f64 - 1.0);
                (m, var.sqrt())
            };
            let mu: Vec<f64> = (0..n)
                .map(|j| p[j].iter().sum::<f64>() / b.lengths[j] as f64)
                .collect();
            let accs: Vec<f64> = b.acc.iter().map(|&a| f64::from(a)).collect();
            let sigma = |group_std: f64, all: &[f64]| match o.scale {
                GrpoScale::Group => group_std + 1e-6,
                GrpoScale::Batch => stats(all).1 + 1e-6,
                GrpoScale::None => 1.0,
            };
            let mut rp = zeros();
            let mut ro = zeros();
            for i in 0..n {
                let m = members(i);
                let (am, asd) = stats(&m.iter().map(|&j| accs[j]).collect::<Vec<_>>());
                let (mm, msd) = stats(&m.iter().map(|&j| mu[j]).collect::<Vec<_>>());
                ro[i][last(i)] = (accs[i] - am) / sigma(asd, &accs);
                for t in 0..b.lengths[i] {
                    rp[i][t] = (p[i][t] - mm) / sigma(msd, &mu);
                }
            }
            let pc = if process.is_some() {
                o.process_coef
            } else {
                0.0
            };
            let g = add(
                &discounted(&rp, o.gamma_process),
                pc,
                &discounted(&ro, o.gamma_outcome),
                o.outcome_coef,
            );
            (g.clone(), g, false)
        }
        "reinforce" | "reinforce_pp" => {
            let g = add(
                &discounted(p, o.gamma_process),
                o.process_coef,
                &discounted(&outcome, o.gamma_outcome),
                o.outcome_coef,
            );
            (g.clone(), g, name == "reinforce_pp")
        }
        "gae" => {
            let rewards = add(p, o.process_coef, &outcome, o.outcome_coef);
            let values: Rows = b
                .values
                .as_ref()
                .expect("checked")
                .iter()
                .map(|row| row.iter().map(|&x| f64::from(x)).collect())
                .collect();
            let (a, r) = gae(&rewards, &values, o.gamma_outcome, o.lambda);
            (a, r, true)
        }
        "prm_value" => {
            let values: Rows = (0..n)
                .map(|i| {
                    (0..b.lengths[i])
                        .map(|t| o.process_coef * p[i][..t].iter().sum::<f64>())
                        .collect()
                })
                .collect();
            let rewards = add(&outcome, o.outcome_coef, &zeros(), 0.0);
            let (a, r) = gae(&rewards, &values, o.gamma_outcome, o.lambda);
            (a, r, true)
        }
        _ => return Err("unknown estimator"),
    };
    if !o.whiten.unwrap_or(whiten_default) {
        return Ok((adv, ret));
    }
    let flat: Vec<f64> = adv.iter().flatten().copied().collect();
    if flat.len() < 2 {
        return Err("too few tokens to whiten");
    }
    let mean = flat.iter().sum::<f64>() / flat.len() as f64;
    let var = flat.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (flat.len() as f64 - 1.0);
    let white = adv
        .iter()
        .map(|row| {
            row.iter()
                .map(|x| (x - mean) / (var + 1e-8).sqrt())
                .collect()
        })
        .collect();
    Ok((white, ret))
}
