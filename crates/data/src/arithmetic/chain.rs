//! One generated problem: a start value and a chain of operations, with its prompt text and
//! its worked solution.

use serde::{Deserialize, Serialize};

use super::config::{ArithmeticConfig, Op};
use crate::error::DataError;
use crate::rng::SplitMix64;

/// One operation of a chain and the value it produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The operator.
    pub op: Op,
    /// The right-hand operand.
    pub operand: i64,
    /// The value after this step.
    pub result: i64,
}

/// A problem of the arithmetic task: `start op₁ b₁ op₂ b₂ …` evaluated left to right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    /// The first number.
    pub start: i64,
    /// The operations, in order (at least one).
    pub steps: Vec<Step>,
}

/// Attempts before giving up on a configuration that keeps painting itself into a corner
/// (e.g. `operators = ["*"]` with a value range that cannot be kept).
const MAX_ATTEMPTS: usize = 1000;

impl Chain {
    /// Draws a chain from `rng` under `config` (which must be valid).
    ///
    /// Each step picks an operator uniformly among those that have an operand keeping the
    /// value in range, then an operand uniformly among those; a chain that reaches a value no
    /// operator can leave is redrawn.
    pub fn generate(config: &ArithmeticConfig, rng: &mut SplitMix64) -> Result<Chain, DataError> {
        let start_lo = config.operand_min.max(config.value_min);
        let start_hi = config.operand_max.min(config.value_max);
        'attempt: for _ in 0..MAX_ATTEMPTS {
            let n_steps = rng.range_i64(config.min_steps as i64, config.max_steps as i64) as usize;
            let start = rng.range_i64(start_lo, start_hi);
            let mut value = start;
            let mut steps = Vec::with_capacity(n_steps);
            for _ in 0..n_steps {
                let choices: Vec<(Op, Vec<i64>)> = config
                    .operators
                    .iter()
                    .map(|&op| (op, valid_operands(config, op, value)))
                    .filter(|(_, operands)| !operands.is_empty())
                    .collect();
                if choices.is_empty() {
                    continue 'attempt;
                }
                let (op, operands) = &choices[rng.below(choices.len() as u64) as usize];
                let operand = operands[rng.below(operands.len() as u64) as usize];
                // `valid_operands` only returns operands for which `apply` succeeds.
                let Some(result) = op.apply(value, operand) else {
                    continue 'attempt;
                };
                steps.push(Step {
                    op: *op,
                    operand,
                    result,
                });
                value = result;
            }
            return Ok(Chain { start, steps });
        }
        Err(DataError::Config(format!(
            "arithmetic: no valid chain found in {MAX_ATTEMPTS} attempts; widen value_min..=value_max or add + and -"
        )))
    }

    /// The final value: the answer, and the verifier's ground truth as decimal text.
    pub fn answer(&self) -> i64 {
        self.steps.last().map_or(self.start, |s| s.result)
    }

    /// The expression without spaces: `7+3*2-5`.
    pub fn expression(&self) -> String {
        let mut text = self.start.to_string();
        for step in &self.steps {
            text.push(step.op.symbol());
            text.push_str(&step.operand.to_string());
        }
        text
    }

    /// The worked solution: one line `a{op}b=c` per step, then `\boxed{answer}`.
    ///
    /// ```text
    /// 7+3=10
    /// 10*2=20
    /// 20-5=15
    /// \boxed{15}
    /// ```
    pub fn solution(&self) -> String {
        format!("{}\\boxed{{{}}}", self.worked_lines(), self.answer())
    }

    /// The worked lines without the boxed answer, each ending in `\n`: `7+3=10\n10*2=20\n…`.
    pub fn worked_lines(&self) -> String {
        let mut text = String::new();
        let mut value = self.start;
        for step in &self.steps {
            text.push_str(&format!(
                "{value}{}{}={}\n",
                step.op.symbol(),
                step.operand,
                step.result
            ));
            value = step.result;
        }
        text
    }

    /// A careless teacher's worked solution: before each line that has a next operation, with
    /// probability `skip_rate` (drawn from `rng`), the teacher merges the two operations into one
    /// line and guesses its result uniformly in `value_min..=value_max`; later lines carry on
    /// from the guess (a result that leaves the value range, or a division that does not come
    /// out even, is guessed too). The boxed answer is the last line's value.
    ///
    /// ```text
    /// 7+3-5=12        (skipped: guessed)
    /// 12+2=14
    /// \boxed{14}
    /// ```
    pub fn careless_solution(
        &self,
        config: &ArithmeticConfig,
        skip_rate: f64,
        rng: &mut SplitMix64,
    ) -> String {
        let (lines, value) = self.careless_lines(config, skip_rate, rng);
        format!("{lines}\\boxed{{{value}}}")
    }

    /// The careless teacher's lines (as in [`Chain::careless_solution`]) without the boxed
    /// answer, and the value the last line reached.
    pub fn careless_lines(
        &self,
        config: &ArithmeticConfig,
        skip_rate: f64,
        rng: &mut SplitMix64,
    ) -> (String, i64) {
        let guess = |rng: &mut SplitMix64| rng.range_i64(config.value_min, config.value_max);
        let mut text = String::new();
        let mut value = self.start;
        let mut i = 0;
        while i < self.steps.len() {
            let step = self.steps[i];
            let skip = i + 1 < self.steps.len() && rng.chance(skip_rate);
            if skip {
                let next = self.steps[i + 1];
                let guessed = guess(rng);
                text.push_str(&format!(
                    "{value}{}{}{}{}={guessed}\n",
                    step.op.symbol(),
                    step.operand,
                    next.op.symbol(),
                    next.operand
                ));
                value = guessed;
                i += 2;
            } else {
                let result = step
                    .op
                    .apply(value, step.operand)
                    .filter(|r| (config.value_min..=config.value_max).contains(r))
                    .unwrap_or_else(|| guess(rng));
                text.push_str(&format!(
                    "{value}{}{}={result}\n",
                    step.op.symbol(),
                    step.operand
                ));
                value = result;
                i += 1;
            }
        }
        (text, value)
    }
}

/// Operands of `op` that keep `value op b` in range. `*` and `/` skip the no-op operand 1.
fn valid_operands(config: &ArithmeticConfig, op: Op, value: i64) -> Vec<i64> {
    let lowest = match op {
        Op::Mul | Op::Div => config.operand_min.max(2),
        Op::Add | Op::Sub => config.operand_min,
    };
    (lowest..=config.operand_max)
        .filter(|&b| {
            op.apply(value, b)
                .is_some_and(|r| (config.value_min..=config.value_max).contains(&r))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solution_and_expression_by_hand() {
        let chain = Chain {
            start: 7,
            steps: vec![
                Step {
                    op: Op::Add,
                    operand: 3,
                    result: 10,
                },
                Step {
                    op: Op::Mul,
                    operand: 2,
                    result: 20,
                },
                Step {
                    op: Op::Sub,
                    operand: 5,
                    result: 15,
                },
            ],
        };
        assert_eq!(chain.expression(), "7+3*2-5");
        assert_eq!(chain.solution(), "7+3=10\n10*2=20\n20-5=15\n\\boxed{15}");
        assert_eq!(chain.answer(), 15);
    }

    #[test]
    fn generated_chains_respect_every_knob() {
        let config = ArithmeticConfig::hard();
        let mut rng = SplitMix64::new(11);
        for _ in 0..500 {
            let chain = Chain::generate(&config, &mut rng).unwrap();
            assert!((config.min_steps..=config.max_steps).contains(&chain.steps.len()));
            let mut value = chain.start;
            for step in &chain.steps {
                assert!(config.operators.contains(&step.op));
                assert!((config.operand_min..=config.operand_max).contains(&step.operand));
                let expected = step.op.apply(value, step.operand).unwrap();
                assert_eq!(step.result, expected);
                assert!((config.value_min..=config.value_max).contains(&step.result));
                value = step.result;
            }
        }
    }

    #[test]
    fn an_impossible_configuration_is_an_error_not_a_hang() {
        let config = ArithmeticConfig {
            operators: vec![Op::Mul],
            operand_min: 5,
            operand_max: 9,
            value_min: 0,
            value_max: 9,
            ..ArithmeticConfig::easy()
        };
        let err = Chain::generate(&config, &mut SplitMix64::new(1)).unwrap_err();
        assert!(err.to_string().contains("no valid chain"), "{err}");
    }

    fn seven_plus_three_minus_five_plus_two() -> Chain {
        let step = |op, operand, result| Step {
            op,
            operand,
            result,
        };
        Chain {
            start: 7,
            steps: vec![
                step(Op::Add, 3, 10),
                step(Op::Sub, 5, 5),
                step(Op::Add, 2, 7),
            ],
        }
    }

    #[test]
    fn a_careless_teacher_who_never_skips_writes_the_worked_solution() {
        let chain = seven_plus_three_minus_five_plus_two();
        let config = ArithmeticConfig::easy();
        let text = chain.careless_solution(&config, 0.0, &mut SplitMix64::new(3));
        assert_eq!(text, "7+3=10\n10-5=5\n5+2=7\n\\boxed{7}");
    }

    #[test]
    fn a_skipped_step_merges_two_operations_and_the_chain_carries_on_from_the_guess() {
        let chain = seven_plus_three_minus_five_plus_two();
        let config = ArithmeticConfig::easy(); // values 0..=30
        for seed in 0..50 {
            let text = chain.careless_solution(&config, 1.0, &mut SplitMix64::new(seed));
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 3, "{text}");
            // Steps 1 and 2 merged; step 3 has no partner left, so it is worked.
            let guess: i64 = lines[0].strip_prefix("7+3-5=").unwrap().parse().unwrap();
            assert!((0..=30).contains(&guess), "{text}");
            let (lhs, rhs) = lines[1].split_once('=').unwrap();
            assert_eq!(lhs, format!("{guess}+2"), "{text}");
            let last: i64 = rhs.parse().unwrap();
            if guess + 2 <= 30 {
                assert_eq!(last, guess + 2, "{text}");
            } else {
                assert!((0..=30).contains(&last), "out of range is guessed: {text}");
            }
            assert_eq!(lines[2], format!("\\boxed{{{last}}}"));
        }
    }
}
