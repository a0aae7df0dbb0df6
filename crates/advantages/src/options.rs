//! [`AdvantageOptions`]: one typed options struct for every estimator, docs/algorithm.md defaults.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::AdvantageError;

/// Options of every built-in estimator (docs/algorithm.md §6, §8, §9); each estimator reads the
/// fields it needs and ignores the rest.
///
/// Deserialises from a TOML / JSON table with the field names below; missing fields take the
/// docs/algorithm.md defaults and unknown fields are rejected (a typo is an error, not a silent
/// default):
///
/// ```toml
/// [advantage]
/// estimator = "rloo"        # rloo | grpo | reinforce | reinforce_pp | gae | prm_value | a registered name
/// gamma_process = 1.0       # γ of the process-reward returns
/// gamma_outcome = 1.0       # γ of the outcome-reward returns (and of gae / prm_value)
/// process_coef = 1.0        # c_p
/// outcome_coef = 1.0        # c_o
/// rloo_variant = "code"     # code (reference code) | paper (Eq. 5)
/// norm = "batch_norm"       # batch_norm | none: process-reward normalisation
/// granularity = "token"     # token | whole: process reward per token or summed on the last token
/// # whiten = true           # omitted: the estimator's default (see the crate docs)
/// lambda = 1.0              # GAE λ
/// scale = "group"           # grpo: group | batch | none (Dr.GRPO)
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdvantageOptions {
    /// Registry name of the estimator. Default `rloo`.
    pub estimator: String,
    /// Discount γ_p of the process-reward returns. Default 1.
    pub gamma_process: f64,
    /// Discount γ_o of the outcome-reward returns; also the γ of `gae` and `prm_value`. Default 1.
    pub gamma_outcome: f64,
    /// Weight c_p of the process source. 0 turns it off (outcome-only). Default 1.
    pub process_coef: f64,
    /// Weight c_o of the outcome source. Default 1.
    pub outcome_coef: f64,
    /// RLOO baseline of the process source. Default [`RlooVariant::Code`].
    pub rloo_variant: RlooVariant,
    /// Process-reward normalisation. Default [`RewardNorm::BatchNorm`].
    pub norm: RewardNorm,
    /// Process-reward granularity. Default [`Granularity::Token`].
    pub granularity: Granularity,
    /// Masked whitening over the batch; `None` = the estimator's own default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whiten: Option<bool>,
    /// GAE λ. Default 1 (the paper's PPO runs).
    pub lambda: f64,
    /// GRPO standard-deviation scaling. Default [`GrpoScale::Group`].
    pub scale: GrpoScale,
}

impl Default for AdvantageOptions {
    fn default() -> Self {
        Self {
            estimator: "rloo".to_string(),
            gamma_process: 1.0,
            gamma_outcome: 1.0,
            process_coef: 1.0,
            outcome_coef: 1.0,
            rloo_variant: RlooVariant::Code,
            norm: RewardNorm::BatchNorm,
            granularity: Granularity::Token,
            whiten: None,
            lambda: 1.0,
            scale: GrpoScale::Group,
        }
    }
}

impl AdvantageOptions {
    /// Checks ranges: γ and λ in `[0, 1]`, coefficients finite.
    pub fn validate(&self) -> Result<(), AdvantageError> {
        let unit = [
            ("gamma_process", self.gamma_process),
            ("gamma_outcome", self.gamma_outcome),
            ("lambda", self.lambda),
        ];
        for (field, value) in unit {
            if !(0.0..=1.0).contains(&value) {
                return Err(AdvantageError::InvalidOption {
                    field,
                    reason: format!("{value} is not in [0, 1]"),
                });
            }
        }
        for (field, value) in [
            ("process_coef", self.process_coef),
            ("outcome_coef", self.outcome_coef),
        ] {
            if !value.is_finite() {
                return Err(AdvantageError::InvalidOption {
                    field,
                    reason: format!("{value} is not finite"),
                });
            }
        }
        Ok(())
    }

    /// `whiten`, or `default` when unset.
    pub fn whiten_or(&self, default: bool) -> bool {
        self.whiten.unwrap_or(default)
    }
}

/// Defines a small option enum with serde names, `FromStr` listing the valid names, and `Display`.
macro_rules! option_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every accepted name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The serde / command-line name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = AdvantageError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(AdvantageError::InvalidOption {
                        field: $field,
                        reason: format!("`{s}` is not one of {}", Self::NAMES.join(", ")),
                    }),
                }
            }
        }
    };
}

option_enum! {
    /// RLOO baseline of the process source (docs/algorithm.md §9). The outcome source has one
    /// rewarded token, where both variants are exact leave-one-out.
    RlooVariant, "rloo_variant" {
        /// Reference code (**default**): `r̃_{i,t} = K/(K−1)·r_{i,t} − S/(K−1)`, `S = Σ_j μ_j`.
        Code = "code",
        /// Paper Eq. 5: `r̃_{i,t} = r_{i,t} − mean_{j≠i} μ_j`.
        Paper = "paper",
    }
}

option_enum! {
    /// Process-reward normalisation (docs/algorithm.md §8).
    RewardNorm, "norm" {
        /// **Default**: divide every `r^p` by `max_{i,t} |Σ_{s≥t} r^p_{i,s}| + 1e-6`.
        BatchNorm = "batch_norm",
        /// Leave the process rewards as they are.
        None = "none",
    }
}

option_enum! {
    /// Where the process reward sits (docs/algorithm.md §6).
    Granularity, "granularity" {
        /// **Default**: a reward on every valid token.
        Token = "token",
        /// All of `Σ_t r^p_{i,t}` on the last valid token.
        Whole = "whole",
    }
}

option_enum! {
    /// GRPO's division of the group-centred rewards (Eq. 7).
    GrpoScale, "scale" {
        /// **Default**: by the group's unbiased std + 1e-6.
        Group = "group",
        /// By the whole batch's unbiased std + 1e-6.
        Batch = "batch",
        /// No division (Dr.GRPO).
        None = "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_spec_defaults() {
        let o = AdvantageOptions::default();
        assert_eq!(o.estimator, "rloo");
        assert_eq!((o.gamma_process, o.gamma_outcome), (1.0, 1.0));
        assert_eq!((o.process_coef, o.outcome_coef), (1.0, 1.0));
        assert_eq!(o.rloo_variant, RlooVariant::Code);
        assert_eq!(o.norm, RewardNorm::BatchNorm);
        assert_eq!(o.granularity, Granularity::Token);
        assert_eq!(o.whiten, None);
        assert_eq!(o.lambda, 1.0);
        assert_eq!(o.scale, GrpoScale::Group);
        assert!(o.validate().is_ok());
    }

    #[test]
    fn partial_table_fills_defaults_and_unknown_keys_fail() {
        let o: AdvantageOptions =
            serde_json::from_str(r#"{"estimator":"grpo","scale":"none","whiten":true}"#).unwrap();
        assert_eq!(o.estimator, "grpo");
        assert_eq!(o.scale, GrpoScale::None);
        assert_eq!(o.whiten, Some(true));
        assert_eq!(o.gamma_process, 1.0);
        let err = serde_json::from_str::<AdvantageOptions>(r#"{"gama_process":0.9}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `gama_process`"),
            "{err}"
        );
        let err = serde_json::from_str::<AdvantageOptions>(r#"{"norm":"l2"}"#).unwrap_err();
        assert!(err.to_string().contains("batch_norm"), "{err}");
    }

    #[test]
    fn validate_rejects_out_of_range() {
        let o = AdvantageOptions {
            gamma_outcome: 1.5,
            ..Default::default()
        };
        assert!(matches!(
            o.validate(),
            Err(AdvantageError::InvalidOption {
                field: "gamma_outcome",
                ..
            })
        ));
        let o = AdvantageOptions {
            process_coef: f64::NAN,
            ..Default::default()
        };
        assert!(o.validate().is_err());
    }

    #[test]
    fn enums_parse_and_list_valid_names() {
        assert_eq!("paper".parse::<RlooVariant>().unwrap(), RlooVariant::Paper);
        assert_eq!("whole".parse::<Granularity>().unwrap(), Granularity::Whole);
        let err = "median".parse::<GrpoScale>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid option `scale`: `median` is not one of group, batch, none"
        );
        assert_eq!(RewardNorm::BatchNorm.to_string(), "batch_norm");
    }
}
