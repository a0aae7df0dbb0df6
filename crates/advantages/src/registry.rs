//! [`Registry`]: estimators by name, so a config string picks one and a fork can add its own.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::error::AdvantageError;
use crate::estimator::AdvantageEstimator;
use crate::estimators::{Gae, Grpo, PrmValue, Reinforce, ReinforcePlusPlus, Rloo};
use crate::options::AdvantageOptions;

/// Builds an estimator from the options; registered under a name in a [`Registry`].
pub type Constructor = Box<
    dyn Fn(&AdvantageOptions) -> Result<Box<dyn AdvantageEstimator>, AdvantageError> + Send + Sync,
>;

/// Estimator constructors keyed by name.
///
/// ```
/// use prime_advantages::{AdvantageOptions, Registry};
/// let registry = Registry::with_builtins();
/// let options = AdvantageOptions { estimator: "grpo".into(), ..Default::default() };
/// let estimator = registry.build(&options.estimator, &options)?;
/// let err = registry.build("rlo", &options).err().unwrap();
/// assert!(err.to_string().contains("valid names: gae, grpo, prm_value, reinforce, reinforce_pp, rloo"));
/// # let _ = estimator;
/// # Ok::<(), prime_advantages::AdvantageError>(())
/// ```
#[derive(Default)]
pub struct Registry {
    constructors: BTreeMap<String, Constructor>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry holding every [`BuiltinEstimator`] under its name.
    pub fn with_builtins() -> Self {
        let mut registry = Self::new();
        for &builtin in BuiltinEstimator::ALL {
            registry.constructors.insert(
                builtin.name().to_string(),
                Box::new(move |o| builtin.build(o)),
            );
        }
        registry
    }

    /// Registers `constructor` under `name`; errors if the name is taken.
    pub fn register<F>(&mut self, name: &str, constructor: F) -> Result<(), AdvantageError>
    where
        F: Fn(&AdvantageOptions) -> Result<Box<dyn AdvantageEstimator>, AdvantageError>
            + Send
            + Sync
            + 'static,
    {
        if self.constructors.contains_key(name) {
            return Err(AdvantageError::DuplicateEstimator {
                name: name.to_string(),
            });
        }
        self.constructors
            .insert(name.to_string(), Box::new(constructor));
        Ok(())
    }

    /// Builds the estimator registered under `name`; an unknown name lists the valid ones.
    pub fn build(
        &self,
        name: &str,
        options: &AdvantageOptions,
    ) -> Result<Box<dyn AdvantageEstimator>, AdvantageError> {
        match self.constructors.get(name) {
            Some(constructor) => constructor(options),
            None => Err(AdvantageError::UnknownEstimator {
                name: name.to_string(),
                valid: self.names().collect::<Vec<_>>().join(", "),
            }),
        }
    }

    /// Builds the estimator named by `options.estimator`.
    pub fn build_from_options(
        &self,
        options: &AdvantageOptions,
    ) -> Result<Box<dyn AdvantageEstimator>, AdvantageError> {
        self.build(&options.estimator, options)
    }

    /// Registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.constructors.keys().map(String::as_str)
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("names", &self.names().collect::<Vec<_>>())
            .finish()
    }
}

/// The estimators this crate ships, by name (`FromStr` lists the valid names on error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinEstimator {
    /// `rloo`: RLOO per reward source, summed, whitened (PRIME default; outcome-only without process).
    Rloo,
    /// `grpo`: group-normalised rewards (Eq. 7), `scale = group | batch | none`.
    Grpo,
    /// `reinforce`: plain discounted returns (Eq. 8).
    Reinforce,
    /// `reinforce_pp`: REINFORCE++, discounted returns whitened over the batch.
    ReinforcePlusPlus,
    /// `gae`: GAE with a learned value head.
    Gae,
    /// `prm_value`: the implicit PRM as the value, `A = acc − Σ_{s<t} r^p_s`.
    PrmValue,
}

impl BuiltinEstimator {
    /// Every built-in estimator.
    pub const ALL: &'static [BuiltinEstimator] = &[
        Self::Rloo,
        Self::Grpo,
        Self::Reinforce,
        Self::ReinforcePlusPlus,
        Self::Gae,
        Self::PrmValue,
    ];

    /// The registry / config name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rloo => "rloo",
            Self::Grpo => "grpo",
            Self::Reinforce => "reinforce",
            Self::ReinforcePlusPlus => "reinforce_pp",
            Self::Gae => "gae",
            Self::PrmValue => "prm_value",
        }
    }

    /// Builds this estimator from the options (validated first).
    pub fn build(
        self,
        options: &AdvantageOptions,
    ) -> Result<Box<dyn AdvantageEstimator>, AdvantageError> {
        Ok(match self {
            Self::Rloo => Box::new(Rloo::new(options)?),
            Self::Grpo => Box::new(Grpo::new(options)?),
            Self::Reinforce => Box::new(Reinforce::new(options)?),
            Self::ReinforcePlusPlus => Box::new(ReinforcePlusPlus::new(options)?),
            Self::Gae => Box::new(Gae::new(options)?),
            Self::PrmValue => Box::new(PrmValue::new(options)?),
        })
    }
}

impl fmt::Display for BuiltinEstimator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BuiltinEstimator {
    type Err = AdvantageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|b| b.name() == s)
            .ok_or_else(|| AdvantageError::UnknownEstimator {
                name: s.to_string(),
                valid: Self::ALL
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Advantages, RolloutBatch};

    struct Zero;

    impl AdvantageEstimator for Zero {
        fn estimate(&self, batch: &RolloutBatch) -> Result<Advantages, AdvantageError> {
            Advantages::from_returns(batch, vec![0.0; batch.len() * batch.width()], false)
        }
    }

    #[test]
    fn builtins_parse_and_build() {
        let registry = Registry::with_builtins();
        let names: Vec<&str> = registry.names().collect();
        assert_eq!(
            names,
            [
                "gae",
                "grpo",
                "prm_value",
                "reinforce",
                "reinforce_pp",
                "rloo"
            ]
        );
        for &b in BuiltinEstimator::ALL {
            assert_eq!(b.name().parse::<BuiltinEstimator>().unwrap(), b);
            assert!(registry
                .build(b.name(), &AdvantageOptions::default())
                .is_ok());
        }
        let err = "ppo".parse::<BuiltinEstimator>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown advantage estimator `ppo`; valid names: rloo, grpo, reinforce, reinforce_pp, gae, prm_value"
        );
    }

    #[test]
    fn a_fork_registers_its_own_estimator() {
        let mut registry = Registry::with_builtins();
        registry
            .register(
                "zero",
                |_| Ok(Box::new(Zero) as Box<dyn AdvantageEstimator>),
            )
            .unwrap();
        let batch = RolloutBatch::new(2, vec![0, 0], vec![2, 1], vec![1.0, 0.0]).unwrap();
        let options = AdvantageOptions {
            estimator: "zero".into(),
            ..Default::default()
        };
        let a = registry
            .build_from_options(&options)
            .unwrap()
            .estimate(&batch)
            .unwrap();
        assert_eq!(a.advantages(), &[0.0; 4]);
        let err = registry
            .register(
                "rloo",
                |_| Ok(Box::new(Zero) as Box<dyn AdvantageEstimator>),
            )
            .unwrap_err();
        assert_eq!(
            err,
            AdvantageError::DuplicateEstimator {
                name: "rloo".into()
            }
        );
    }

    #[test]
    fn invalid_options_fail_at_build() {
        let options = AdvantageOptions {
            lambda: -0.1,
            ..Default::default()
        };
        let err = Registry::with_builtins()
            .build("gae", &options)
            .err()
            .unwrap();
        assert!(matches!(
            err,
            AdvantageError::InvalidOption {
                field: "lambda",
                ..
            }
        ));
    }
}
