//! [`Extensions`]: what a program that depends on `prime-trainer` plugs in — its own advantage
//! estimators (by name, picked by `[advantage] estimator`) and verifiers (by `data_source` or
//! `ability`, picked by each problem's reference) — without touching the trainer. (A model
//! family is not an extension: it is a variant of [`prime_models::ModelFamily`], or the model
//! type of a [`crate::Trainer`] a program opens itself.)
//!
//! ```no_run
//! use prime_trainer::{Extensions, RunOptions, TrainConfig};
//! use prime_verifiers::MathVerifier;
//! let extensions = Extensions::builtin().with_verifier("my_olympiad_set", MathVerifier::default());
//! let config = TrainConfig::load("configs/demo.toml".as_ref(), &[])?;
//! let options = RunOptions { extensions, ..RunOptions::default() };
//! let summary = prime_trainer::train(config, "runs/mine".as_ref(), options)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use prime_advantages::{AdvantageError, AdvantageEstimator, AdvantageOptions, Registry};
use prime_data::Problem;
use prime_verifiers::{Router, RunnerConfig, Verifier, VerifyRunner};

use crate::config::TrainConfig;
use crate::error::{ConfigError, TrainError};

/// The estimators and verifiers a run can use.
pub struct Extensions {
    estimators: Registry,
    verifiers: Router,
}

impl Default for Extensions {
    fn default() -> Self {
        Self::builtin()
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extensions")
            .field("estimators", &self.estimators.names().collect::<Vec<_>>())
            .field("verifiers", &self.verifiers.names())
            .finish()
    }
}

impl Extensions {
    /// The built-in estimators (`rloo`, `grpo`, …) and verifiers (`math`, `code`, the
    /// built-in tasks).
    pub fn builtin() -> Self {
        Self {
            estimators: Registry::with_builtins(),
            verifiers: Router::default(),
        }
    }

    /// Adds the estimator built by `constructor` under `name` (what `[advantage] estimator`
    /// names). Errors if the name is taken.
    pub fn with_estimator<F>(mut self, name: &str, constructor: F) -> Result<Self, AdvantageError>
    where
        F: Fn(&AdvantageOptions) -> Result<Box<dyn AdvantageEstimator>, AdvantageError>
            + Send
            + Sync
            + 'static,
    {
        self.estimators.register(name, constructor)?;
        Ok(self)
    }

    /// Routes problems whose `data_source` (or, failing that, `ability`) is `name` to
    /// `verifier`, replacing a built-in one of that name.
    pub fn with_verifier(mut self, name: &str, verifier: impl Verifier + 'static) -> Self {
        self.verifiers.register(name, Box::new(verifier));
        self
    }

    /// The registered estimator names, sorted.
    pub fn estimator_names(&self) -> Vec<&str> {
        self.estimators.names().collect()
    }

    /// The registered verifier names, sorted.
    pub fn verifier_names(&self) -> Vec<&str> {
        self.verifiers.names()
    }

    /// Checks the config's choices that name an extension: `advantage.estimator` must be
    /// registered.
    pub fn check(&self, config: &TrainConfig) -> Result<(), ConfigError> {
        let name = &config.advantage.estimator;
        if !self.estimators.names().any(|n| n == name) {
            return Err(ConfigError::Invalid {
                key: "advantage.estimator".into(),
                message: format!(
                    "`{name}` is not registered (registered: {})",
                    self.estimator_names().join(", ")
                ),
            });
        }
        Ok(())
    }

    /// Checks that every problem routes to a registered verifier, naming the first that
    /// does not.
    pub fn check_problems<'a>(
        &self,
        problems: impl IntoIterator<Item = &'a Problem>,
    ) -> Result<(), TrainError> {
        for problem in problems {
            if self.verifiers.route(&problem.reference).is_none() {
                return Err(TrainError::Data(format!(
                    "problem {}: no verifier for data_source `{}` or ability `{}` (registered: {})",
                    problem.id,
                    problem.reference.data_source,
                    problem.reference.ability,
                    self.verifier_names().join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The estimator `[advantage]` selects.
    pub(crate) fn estimator(
        &self,
        options: &AdvantageOptions,
    ) -> Result<Box<dyn AdvantageEstimator>, TrainError> {
        self.estimators
            .build_from_options(options)
            .map_err(|e| TrainError::Advantage(e.to_string()))
    }

    /// The parallel verifier over the registered verifiers.
    pub(crate) fn verify_runner(&self) -> VerifyRunner {
        VerifyRunner::new(Arc::new(self.verifiers.clone()), RunnerConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prime_verifiers::{Reference, Verdict};

    struct AlwaysRight;

    impl Verifier for AlwaysRight {
        fn verify(&self, _: &str, _: &Reference) -> Verdict {
            Verdict::new(1.0, prime_verifiers::Status::Correct, "")
        }
    }

    #[test]
    fn an_unregistered_estimator_is_named_with_the_registered_ones() {
        let mut config = TrainConfig::default();
        config.advantage.estimator = "median".into();
        let error = Extensions::builtin()
            .check(&config)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("advantage.estimator")
                && error.contains("`median`")
                && error.contains("grpo")
                && error.contains("rloo"),
            "{error}"
        );
    }

    #[test]
    fn a_registered_estimator_passes_the_check() {
        let mut config = TrainConfig::default();
        config.advantage.estimator = "median".into();
        let extensions = Extensions::builtin()
            .with_estimator("median", |o| Registry::with_builtins().build("rloo", o))
            .unwrap();
        extensions.check(&config).unwrap();
        assert!(extensions.estimator_names().contains(&"median"));
        let taken = Extensions::builtin()
            .with_estimator("rloo", |o| Registry::with_builtins().build("rloo", o));
        assert!(taken.is_err());
    }

    #[test]
    fn problems_without_a_verifier_are_named() {
        let problem = |source: &str| Problem {
            id: format!("p-{source}"),
            data_source: source.into(),
            ability: "puzzles".into(),
            messages: Vec::new(),
            reference: Reference {
                ability: "puzzles".into(),
                data_source: source.into(),
                ground_truth: "1".into(),
            },
            extra: Default::default(),
        };
        let builtin = Extensions::builtin();
        let error = builtin
            .check_problems(&[problem("math"), problem("sudoku")])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("p-sudoku") && error.contains("`sudoku`"),
            "{error}"
        );
        let extended = Extensions::builtin().with_verifier("sudoku", AlwaysRight);
        extended.check_problems(&[problem("sudoku")]).unwrap();
        assert!(extended.verifier_names().contains(&"sudoku"));
    }
}
