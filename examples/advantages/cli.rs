//! Command-line options of the `advantages` example: `<name> [--flag value]…` onto
//! [`AdvantageOptions`].

use std::fmt;

use prime_advantages::AdvantageOptions;

/// Usage text of the example.
pub const USAGE: &str = "\
usage: advantages <name> [options] < batch.json > advantages.json
  <name>                rloo | grpo | reinforce | reinforce_pp | gae | prm_value
  --gamma-process G     γ of the process returns (default 1)
  --gamma-outcome G     γ of the outcome returns; γ of gae and prm_value (default 1)
  --process-coef C      weight of the process source, 0 = off (default 1)
  --outcome-coef C      weight of the outcome source (default 1)
  --variant V           rloo baseline: code | paper (default code)
  --norm N              process normalisation: batch_norm | none (default batch_norm)
  --granularity G       token | whole (default token)
  --whiten B            true | false (default: true for rloo, reinforce_pp, gae, prm_value)
  --lambda L            GAE λ (default 1)
  --scale S             grpo std scaling: group | batch | none (default group)
Flags also accept --flag=value.";

/// The flags, in the order of [`USAGE`].
pub const FLAGS: &[&str] = &[
    "--gamma-process",
    "--gamma-outcome",
    "--process-coef",
    "--outcome-coef",
    "--variant",
    "--norm",
    "--granularity",
    "--whiten",
    "--lambda",
    "--scale",
];

/// A command line that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// No estimator name was given.
    MissingEstimator,
    /// An argument that is not a known flag.
    UnknownFlag {
        /// The argument as given.
        flag: String,
    },
    /// A flag without its value.
    MissingValue(String),
    /// A value that does not parse.
    BadValue {
        /// The flag.
        flag: String,
        /// The value given.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::MissingEstimator => write!(f, "missing estimator name\n{USAGE}"),
            CliError::UnknownFlag { flag } => {
                write!(
                    f,
                    "unknown option `{flag}`; valid options: {}",
                    FLAGS.join(" ")
                )
            }
            CliError::MissingValue(flag) => write!(f, "option `{flag}` needs a value"),
            CliError::BadValue {
                flag,
                value,
                reason,
            } => write!(f, "option `{flag}`: cannot use `{value}`: {reason}"),
        }
    }
}

impl std::error::Error for CliError {}

/// Parses `<name> [--flag value | --flag=value]…` (program name excluded) into options with
/// `estimator = name` and the docs/algorithm.md defaults elsewhere. Value ranges are checked when
/// the estimator is built ([`AdvantageOptions::validate`]).
pub fn parse_args<I, S>(args: I) -> Result<AdvantageOptions, CliError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut args = args.into_iter().map(Into::into);
    let estimator = args.next().ok_or(CliError::MissingEstimator)?;
    if estimator.starts_with("--") {
        return Err(CliError::MissingEstimator);
    }
    let mut options = AdvantageOptions {
        estimator,
        ..AdvantageOptions::default()
    };
    while let Some(arg) = args.next() {
        let (flag, value) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), value.to_string()),
            _ => {
                if !FLAGS.contains(&arg.as_str()) {
                    return Err(CliError::UnknownFlag { flag: arg });
                }
                let value = args
                    .next()
                    .ok_or_else(|| CliError::MissingValue(arg.clone()))?;
                (arg, value)
            }
        };
        apply(&mut options, &flag, &value)?;
    }
    Ok(options)
}

fn apply(options: &mut AdvantageOptions, flag: &str, value: &str) -> Result<(), CliError> {
    let bad = |reason: String| CliError::BadValue {
        flag: flag.to_string(),
        value: value.to_string(),
        reason,
    };
    let number = || value.parse::<f64>().map_err(|e| bad(e.to_string()));
    match flag {
        "--gamma-process" => options.gamma_process = number()?,
        "--gamma-outcome" => options.gamma_outcome = number()?,
        "--process-coef" => options.process_coef = number()?,
        "--outcome-coef" => options.outcome_coef = number()?,
        "--lambda" => options.lambda = number()?,
        "--variant" => options.rloo_variant = value.parse().map_err(|e| bad(format!("{e}")))?,
        "--norm" => options.norm = value.parse().map_err(|e| bad(format!("{e}")))?,
        "--granularity" => options.granularity = value.parse().map_err(|e| bad(format!("{e}")))?,
        "--scale" => options.scale = value.parse().map_err(|e| bad(format!("{e}")))?,
        "--whiten" => {
            options.whiten = Some(
                value
                    .parse::<bool>()
                    .map_err(|_| bad("expected true or false".to_string()))?,
            )
        }
        _ => {
            return Err(CliError::UnknownFlag {
                flag: flag.to_string(),
            })
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prime_advantages::{Granularity, GrpoScale, RewardNorm, RlooVariant};

    #[test]
    fn defaults_without_flags() {
        let o = parse_args(["rloo"]).unwrap();
        assert_eq!(o, AdvantageOptions::default());
    }

    #[test]
    fn every_flag_is_applied() {
        let o = parse_args([
            "grpo",
            "--gamma-process",
            "0.9",
            "--gamma-outcome=0.8",
            "--process-coef",
            "0.5",
            "--outcome-coef",
            "2",
            "--variant",
            "paper",
            "--norm",
            "none",
            "--granularity",
            "whole",
            "--whiten",
            "true",
            "--lambda",
            "0.95",
            "--scale",
            "none",
        ])
        .unwrap();
        let expected = AdvantageOptions {
            estimator: "grpo".into(),
            gamma_process: 0.9,
            gamma_outcome: 0.8,
            process_coef: 0.5,
            outcome_coef: 2.0,
            rloo_variant: RlooVariant::Paper,
            norm: RewardNorm::None,
            granularity: Granularity::Whole,
            whiten: Some(true),
            lambda: 0.95,
            scale: GrpoScale::None,
        };
        assert_eq!(o, expected);
    }

    #[test]
    fn errors_are_specific() {
        assert_eq!(
            parse_args(Vec::<String>::new()),
            Err(CliError::MissingEstimator)
        );
        assert_eq!(
            parse_args(["rloo", "--gama", "1"]),
            Err(CliError::UnknownFlag {
                flag: "--gama".into()
            })
        );
        assert_eq!(
            parse_args(["rloo", "--lambda"]),
            Err(CliError::MissingValue("--lambda".into()))
        );
        let err = parse_args(["rloo", "--whiten", "yes"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "option `--whiten`: cannot use `yes`: expected true or false"
        );
        let err = parse_args(["rloo", "--norm=l1"]).unwrap_err();
        assert!(err.to_string().contains("batch_norm, none"), "{err}");
    }
}
