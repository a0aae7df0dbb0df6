//! `cargo xtask demo --compare [--seeds S1,S2,…]`: PRIME against outcome-only RLOO from the same
//! SFT start and budget (the paper's Fig. 3 in miniature), one report with every curve.
//!
//! The race: RLOO's final training accuracy is the mean of its last 5 steps; a run "reaches" it at
//! the first step where its 5-step trailing moving average is at least that value. With several
//! RL seeds the race is also run between the per-step means of each method's curves, because one
//! seed's reach step moves by 10 steps or more with the sampling noise alone.
//!
//! Run layout under `runs/compare-<unix time>/`: `prime/` and `rloo/` without `--seeds`;
//! `prime-seed<S>/` and `rloo-seed<S>/` with `--seeds`. The first PRIME run does the SFT warm-up
//! with the first seed; every other run starts from its `init/policy`, so seeds change RL only.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::prime_train::{build_trainer, last_json, run_trainer, DEMO_CONFIG, RLOO_CONFIG};
use crate::workspace::workspace_root;

/// Steps in the trailing moving average and in the "final" accuracy.
const WINDOW: usize = 5;

/// One PRIME/RLOO pair (or the pair of mean curves): RLOO's final training accuracy and the step
/// at which each curve's moving average first reaches it.
#[derive(Debug, Clone, PartialEq)]
pub struct Race {
    pub rloo_final: f64,
    pub rloo_steps: usize,
    pub rloo_steps_to_reach: Option<usize>,
    pub prime_steps_to_reach: Option<usize>,
    pub prime_final: f64,
}

impl Race {
    pub fn run(prime: &[f64], rloo: &[f64]) -> Self {
        let target = tail_mean(rloo, WINDOW);
        Self {
            rloo_final: target,
            rloo_steps: rloo.len(),
            rloo_steps_to_reach: first_step_reaching(rloo, target),
            prime_steps_to_reach: first_step_reaching(prime, target),
            prime_final: tail_mean(prime, WINDOW),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "rloo_final_training_accuracy": self.rloo_final,
            "rloo_steps": self.rloo_steps,
            "rloo_steps_to_reach_it": self.rloo_steps_to_reach,
            "prime_steps_to_reach_it": self.prime_steps_to_reach,
            "prime_final_training_accuracy": self.prime_final,
        })
    }

    /// One line: who reached RLOO's final accuracy when.
    fn describe(&self) -> String {
        let step =
            |s: Option<usize>| s.map_or("not within the budget".into(), |s| format!("at step {s}"));
        format!(
            "RLOO's final training accuracy {:.1}% (mean of its last {WINDOW} steps): PRIME reaches it {}, RLOO itself {} ({WINDOW}-step moving average; PRIME's final {:.1}%)",
            100.0 * self.rloo_final,
            step(self.prime_steps_to_reach),
            step(self.rloo_steps_to_reach),
            100.0 * self.prime_final,
        )
    }
}

/// The command-line options of `demo --compare`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareArgs {
    /// RL seeds; `None` runs one pair with the config's seed.
    pub seeds: Option<Vec<u64>>,
    /// Everything else, forwarded to every `prime-train train`.
    pub rest: Vec<String>,
}

impl CompareArgs {
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut seeds = None;
        let mut rest = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let value = if a == "--seeds" {
                Some(
                    it.next()
                        .ok_or("--seeds needs a list such as 42,43,44")?
                        .clone(),
                )
            } else {
                a.strip_prefix("--seeds=").map(str::to_string)
            };
            match value {
                Some(v) => seeds = Some(parse_seeds(&v)?),
                None => rest.push(a.clone()),
            }
        }
        if seeds.is_some() {
            for a in &rest {
                if a.starts_with("seed=") {
                    return Err(format!("`--set {a}` conflicts with --seeds"));
                }
                if a.starts_with("prm.scratch") {
                    return Err(format!(
                        "`--set {a}`: a scratch PRM is warmed up inside the first run only; \
                         with --seeds give the other runs a PRM through prm.path"
                    ));
                }
            }
        }
        Ok(Self { seeds, rest })
    }
}

fn parse_seeds(list: &str) -> Result<Vec<u64>, String> {
    let seeds = list
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .map_err(|e| format!("--seeds {list}: `{s}` is not a seed ({e})"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut unique = seeds.clone();
    unique.sort_unstable();
    unique.dedup();
    if unique.len() != seeds.len() {
        return Err(format!("--seeds {list}: a seed is repeated"));
    }
    Ok(seeds)
}

/// Runs the comparison and prints the races, the report path and one JSON line (last).
pub fn compare(args: &CompareArgs) -> Result<(), String> {
    let bin = build_trainer(false)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let root = PathBuf::from("runs").join(format!("compare-{stamp}"));
    let seeds: Vec<Option<u64>> = match &args.seeds {
        Some(s) => s.iter().copied().map(Some).collect(),
        None => vec![None],
    };
    let dir = |method: &str, seed: Option<u64>| match seed {
        Some(s) => root.join(format!("{method}-seed{s}")),
        None => root.join(method),
    };
    let seed_args = |seed: Option<u64>| match seed {
        Some(s) => vec!["--set".to_string(), format!("seed={s}")],
        None => vec![],
    };
    // Every run but the first starts from the first run's SFT model: same weights and data.
    let init = dir("prime", seeds[0]).join("init").join("policy");
    let from_init = [
        "--set".to_string(),
        format!("model.path=\"{}\"", init.display()),
        "--set".to_string(),
        "sft.enabled=false".to_string(),
    ];

    let mut pairs = Vec::new();
    let runs = 2 * seeds.len();
    for (i, &seed) in seeds.iter().enumerate() {
        let label = seed.map_or(String::new(), |s| format!(", seed {s}"));
        eprintln!("compare: run {} of {runs}: PRIME{label}", 2 * i + 1);
        let mut prime = train_args(DEMO_CONFIG, &dir("prime", seed));
        if i > 0 {
            prime.extend(from_init.iter().cloned());
        }
        prime.extend(seed_args(seed));
        prime.extend(args.rest.iter().cloned());
        let prime_summary = last_json(&run_trainer(&bin, &prime)?)?;

        eprintln!(
            "compare: run {} of {runs}: outcome-only RLOO{label}",
            2 * i + 2
        );
        let mut rloo = train_args(RLOO_CONFIG, &dir("rloo", seed));
        rloo.extend(from_init.iter().cloned());
        rloo.extend(seed_args(seed));
        rloo.extend(args.rest.iter().cloned());
        let rloo_summary = last_json(&run_trainer(&bin, &rloo)?)?;
        pairs.push((seed, prime_summary, rloo_summary));
    }

    let report = root.join("report.html");
    let mut report_args: Vec<String> = vec![
        "report".into(),
        "--out".into(),
        report.display().to_string(),
        "--title".into(),
        "PRIME vs outcome-only RLOO (same SFT start and budget)".into(),
    ];
    for &seed in &seeds {
        let suffix = seed.map_or(String::new(), |s| format!(" seed {s}"));
        report_args.push("--run".into());
        report_args.push(format!("PRIME{suffix}={}", dir("prime", seed).display()));
        report_args.push("--run".into());
        report_args.push(format!(
            "RLOO outcome-only{suffix}={}",
            dir("rloo", seed).display()
        ));
    }
    run_trainer(&bin, &report_args)?;

    let mut prime_curves = Vec::new();
    let mut rloo_curves = Vec::new();
    let mut per_seed = Vec::new();
    for (seed, prime_summary, rloo_summary) in pairs {
        let prime = training_accuracy(&workspace_root().join(dir("prime", seed)))?;
        let rloo = training_accuracy(&workspace_root().join(dir("rloo", seed)))?;
        let race = Race::run(&prime, &rloo);
        let label = seed.map_or(String::new(), |s| format!("seed {s}: "));
        println!("{label}{}", race.describe());
        let mut entry = race.to_json();
        entry["seed"] = json!(seed);
        entry["prime"] = prime_summary;
        entry["rloo"] = rloo_summary;
        per_seed.push(entry);
        prime_curves.push(prime);
        rloo_curves.push(rloo);
    }
    println!("report: {}", report.display());

    let line = if seeds.len() > 1 {
        let race = Race::run(&mean_curve(&prime_curves), &mean_curve(&rloo_curves));
        println!("mean over {} seeds: {}", seeds.len(), race.describe());
        json!({ "per_seed": per_seed, "mean_curves": race.to_json(), "report": report.display().to_string() })
    } else {
        let mut only = per_seed.remove(0);
        only["report"] = json!(report.display().to_string());
        only
    };
    println!("{line}");
    Ok(())
}

fn train_args(config: &str, run_dir: &Path) -> Vec<String> {
    vec![
        "train".into(),
        "--config".into(),
        config.into(),
        "--run-dir".into(),
        run_dir.display().to_string(),
    ]
}

/// The `accuracy` of every step in `run_dir/metrics.jsonl`.
fn training_accuracy(run_dir: &Path) -> Result<Vec<f64>, String> {
    let path = run_dir.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("accuracy").and_then(|a| a.as_f64()))
        .collect())
}

/// Step-wise mean of several curves, as long as the shortest.
fn mean_curve(curves: &[Vec<f64>]) -> Vec<f64> {
    let len = curves.iter().map(Vec::len).min().unwrap_or(0);
    (0..len)
        .map(|i| curves.iter().map(|c| c[i]).sum::<f64>() / curves.len() as f64)
        .collect()
}

fn tail_mean(xs: &[f64], n: usize) -> f64 {
    let tail = &xs[xs.len().saturating_sub(n)..];
    tail.iter().sum::<f64>() / tail.len().max(1) as f64
}

/// Trailing moving average: entry i is the mean of `xs[i+1−w ..= i]` (fewer at the start).
fn moving_average(xs: &[f64], w: usize) -> Vec<f64> {
    (0..xs.len()).map(|i| tail_mean(&xs[..=i], w)).collect()
}

/// The 1-based step at which the trailing moving average of `acc` first reaches `target`.
fn first_step_reaching(acc: &[f64], target: f64) -> Option<usize> {
    moving_average(acc, WINDOW)
        .iter()
        .position(|&a| a >= target)
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn averages() {
        assert_eq!(tail_mean(&[1.0, 2.0, 3.0, 4.0], 2), 3.5);
        assert_eq!(moving_average(&[0.0, 2.0, 4.0], 2), vec![0.0, 1.0, 3.0]);
        assert_eq!(tail_mean(&[], 3), 0.0);
    }

    #[test]
    fn first_step_reaching_uses_the_five_step_average() {
        // Moving averages: 0.1, 0.3, 0.4, 0.45, 0.5, 0.6 (steps 1..6).
        let acc = [0.1, 0.5, 0.6, 0.6, 0.7, 0.6];
        assert_eq!(first_step_reaching(&acc, 0.44), Some(4));
        assert_eq!(first_step_reaching(&acc, 0.55), Some(6));
        assert_eq!(first_step_reaching(&acc, 0.9), None);
    }

    #[test]
    fn mean_curve_is_stepwise_and_as_long_as_the_shortest() {
        let m = mean_curve(&[vec![0.1, 0.3, 0.5], vec![0.3, 0.5]]);
        assert_eq!(m.len(), 2);
        assert!((m[0] - 0.2).abs() < 1e-12 && (m[1] - 0.4).abs() < 1e-12);
        assert!(mean_curve(&[]).is_empty());
    }

    #[test]
    fn a_race_by_hand() {
        // RLOO: final = mean(0.4, 0.4, 0.5, 0.6, 0.5) = 0.48; its moving average
        // 0.2, 0.3, 0.333, 0.375, 0.42, 0.48 reaches it at step 6.
        let rloo = [0.2, 0.4, 0.4, 0.5, 0.6, 0.5];
        // PRIME's moving average: 0.3, 0.45, 0.533 → step 3; final mean(0.6, 0.7, 0.6, 0.6, 0.6).
        let prime = [0.3, 0.6, 0.7, 0.6, 0.6, 0.6];
        let race = Race::run(&prime, &rloo);
        assert!((race.rloo_final - 0.48).abs() < 1e-12, "{race:?}");
        assert_eq!(race.rloo_steps, 6);
        assert_eq!(race.prime_steps_to_reach, Some(3));
        assert_eq!(race.rloo_steps_to_reach, Some(6));
        assert!((race.prime_final - 0.62).abs() < 1e-12);
        let never = Race::run(&[0.1; 6], &rloo);
        assert_eq!(never.prime_steps_to_reach, None);
        assert!(never.describe().contains("not within the budget"));
    }

    #[test]
    fn seeds_are_parsed_and_checked() {
        let a =
            CompareArgs::parse(&strings(&["--seeds", "42,43, 44", "--set", "steps=5"])).unwrap();
        assert_eq!(a.seeds, Some(vec![42, 43, 44]));
        assert_eq!(a.rest, strings(&["--set", "steps=5"]));
        let b = CompareArgs::parse(&strings(&["--seeds=7"])).unwrap();
        assert_eq!(b.seeds, Some(vec![7]));
        assert_eq!(CompareArgs::parse(&[]).unwrap().seeds, None);
        for bad in [
            &["--seeds"][..],
            &["--seeds", "42,x"],
            &["--seeds", "42,42"],
            &["--seeds", "1,2", "--set", "seed=3"],
            &["--seeds", "1,2", "--set", "prm.scratch.hidden_size=256"],
        ] {
            assert!(CompareArgs::parse(&strings(bad)).is_err(), "{bad:?}");
        }
        // Without --seeds the config's own seed may be overridden.
        assert!(CompareArgs::parse(&strings(&["--set", "seed=3"])).is_ok());
    }
}
