//! The difficulty knobs of the arithmetic task.

use serde::{Deserialize, Serialize};

use crate::error::DataError;

/// One operator of a chain. Serialised as its symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// `a+b`
    #[serde(rename = "+")]
    Add,
    /// `a-b`
    #[serde(rename = "-")]
    Sub,
    /// `a*b`
    #[serde(rename = "*")]
    Mul,
    /// `a/b`, only where `b` divides `a` exactly.
    #[serde(rename = "/")]
    Div,
}

impl Op {
    /// The operator's symbol as written in prompts and solutions.
    pub fn symbol(self) -> char {
        match self {
            Op::Add => '+',
            Op::Sub => '-',
            Op::Mul => '*',
            Op::Div => '/',
        }
    }

    /// `a op b`, or `None` for a division that is not exact (or by zero) or an overflow.
    pub fn apply(self, a: i64, b: i64) -> Option<i64> {
        match self {
            Op::Add => a.checked_add(b),
            Op::Sub => a.checked_sub(b),
            Op::Mul => a.checked_mul(b),
            Op::Div => (b != 0 && a % b == 0).then(|| a / b),
        }
    }
}

/// Knobs of the arithmetic chain task.
///
/// A problem starts from a number in `operand_min..=operand_max` and applies
/// `min_steps..=max_steps` operations, each with an operand in `operand_min..=operand_max`,
/// evaluated left to right; every intermediate result stays in `value_min..=value_max` (the
/// generator only picks operations that keep it there). Harder: more steps, a wider value
/// range (more distinct facts to learn), `*` and `/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArithmeticConfig {
    /// Fewest operations per problem (≥ 1).
    pub min_steps: usize,
    /// Most operations per problem.
    pub max_steps: usize,
    /// Smallest operand (≥ 0).
    pub operand_min: i64,
    /// Largest operand.
    pub operand_max: i64,
    /// Smallest allowed intermediate result.
    pub value_min: i64,
    /// Largest allowed intermediate result; also bounds the tokenizer's number tokens.
    pub value_max: i64,
    /// Operators to draw from (uniformly among those that keep the value in range).
    pub operators: Vec<Op>,
    /// Text before the expression in the user message.
    pub instruction: String,
    /// Share of SFT examples written by a careless teacher who skips the work and guesses:
    /// the completion is only `\boxed{v}` with `v` drawn uniformly from
    /// `value_min..=value_max` (0 = every solution is worked and correct; the default). Real SFT
    /// data is imperfect in the same way; imitating it costs accuracy, and reinforcement learning
    /// from the verifier has to find out that working the chain pays. Only the SFT split is
    /// affected: RL and eval problems carry no solution.
    pub sft_guess_rate: f64,
    /// Per line of a worked SFT solution, the chance that the careless teacher skips a step:
    /// merges this operation and the next into one line, `a+b-c=g`, and guesses `g` (uniform in
    /// `value_min..=value_max`), then carries on from the guess (0 = never; the default). A
    /// skipped step is one token, the second operator where `=` belongs, so a process reward can
    /// point at it; the outcome only says that the answer is wrong. Applies to the worked
    /// solutions only (after `sft_guess_rate` has picked them).
    pub sft_skip_rate: f64,
    /// Independent chains per problem (1 = the plain task; the default). With `parts = n > 1`
    /// the prompt lists n expressions separated by `, `, the worked solution works them one
    /// after another and ends in one `\boxed{a,b,…}` holding every answer in order, and the
    /// ground truth is that list. A response is right only if every part is, so the outcome
    /// label does not say which part went wrong; a process reward can. With `sft_guess_rate`,
    /// each part is guessed on its own: its lines become one line `expression=v`.
    pub parts: usize,
}

impl Default for ArithmeticConfig {
    /// The `easy` preset: measured with `examples/arithmetic_sft_probe.rs`, a 2-layer width-128
    /// model (0.41M parameters) reaches 26.5% greedy accuracy after 120 s of SFT on a loaded
    /// 2-core CPU (`medium`: 4.0%), leaving room for RL.
    fn default() -> Self {
        Self::easy()
    }
}

impl ArithmeticConfig {
    /// 2–3 steps of `+`/`-` with operands 1–9 and values 0–30 (the default).
    pub fn easy() -> Self {
        Self {
            min_steps: 2,
            max_steps: 3,
            operand_min: 1,
            operand_max: 9,
            value_min: 0,
            value_max: 30,
            operators: vec![Op::Add, Op::Sub],
            instruction: DEFAULT_INSTRUCTION.into(),
            sft_guess_rate: 0.0,
            sft_skip_rate: 0.0,
            parts: 1,
        }
    }

    /// 2–4 steps of `+`/`-`/`*` with operands 1–9 and values 0–60.
    pub fn medium() -> Self {
        Self {
            min_steps: 2,
            max_steps: 4,
            operand_min: 1,
            operand_max: 9,
            value_min: 0,
            value_max: 60,
            operators: vec![Op::Add, Op::Sub, Op::Mul],
            instruction: DEFAULT_INSTRUCTION.into(),
            sft_guess_rate: 0.0,
            sft_skip_rate: 0.0,
            parts: 1,
        }
    }

    /// 3–5 steps of `+`/`-`/`*`/`/` with operands 1–12 and values 0–150.
    pub fn hard() -> Self {
        Self {
            min_steps: 3,
            max_steps: 5,
            operand_min: 1,
            operand_max: 12,
            value_min: 0,
            value_max: 150,
            operators: vec![Op::Add, Op::Sub, Op::Mul, Op::Div],
            instruction: DEFAULT_INSTRUCTION.into(),
            sft_guess_rate: 0.0,
            sft_skip_rate: 0.0,
            parts: 1,
        }
    }

    /// A preset by name: `easy`, `medium` or `hard`.
    pub fn preset(name: &str) -> Result<Self, DataError> {
        match name {
            "easy" => Ok(Self::easy()),
            "medium" => Ok(Self::medium()),
            "hard" => Ok(Self::hard()),
            other => Err(DataError::Config(format!(
                "unknown arithmetic preset `{other}` (expected easy, medium or hard)"
            ))),
        }
    }

    /// Checks the knobs can generate problems.
    pub fn validate(&self) -> Result<(), DataError> {
        let fail = |message: String| Err(DataError::Config(format!("arithmetic: {message}")));
        if self.min_steps == 0 || self.min_steps > self.max_steps {
            return fail(format!(
                "need 1 <= min_steps <= max_steps, got {}..={}",
                self.min_steps, self.max_steps
            ));
        }
        if self.operand_min < 0 || self.operand_min > self.operand_max {
            return fail(format!(
                "need 0 <= operand_min <= operand_max, got {}..={}",
                self.operand_min, self.operand_max
            ));
        }
        if self.value_min > self.value_max {
            return fail(format!(
                "need value_min <= value_max, got {}..={}",
                self.value_min, self.value_max
            ));
        }
        if self.operand_max < self.value_min || self.operand_min > self.value_max {
            return fail("no starting operand lies in value_min..=value_max".into());
        }
        if self.value_min.abs().max(self.value_max.abs()) > MAX_NUMBER_TOKEN {
            return fail(format!(
                "values beyond ±{MAX_NUMBER_TOKEN} would need more number tokens than the tokenizer holds"
            ));
        }
        if self.operators.is_empty() {
            return fail("operators is empty".into());
        }
        if !(0.0..=1.0).contains(&self.sft_guess_rate) {
            return fail(format!(
                "need 0 <= sft_guess_rate <= 1, got {}",
                self.sft_guess_rate
            ));
        }
        if !(0.0..=1.0).contains(&self.sft_skip_rate) {
            return fail(format!(
                "need 0 <= sft_skip_rate <= 1, got {}",
                self.sft_skip_rate
            ));
        }
        if !(1..=MAX_PARTS).contains(&self.parts) {
            return fail(format!(
                "need 1 <= parts <= {MAX_PARTS}, got {}",
                self.parts
            ));
        }
        Ok(())
    }

    /// The largest absolute number that appears in problems and solutions.
    pub fn max_abs_number(&self) -> i64 {
        self.value_min
            .abs()
            .max(self.value_max.abs())
            .max(self.operand_max)
    }
}

/// Most independent chains one problem may hold.
pub const MAX_PARTS: usize = 8;

/// Default text before the expression.
pub const DEFAULT_INSTRUCTION: &str = "Compute from left to right: ";

/// The largest magnitude the task's tokenizer gives a token of its own.
pub const MAX_NUMBER_TOKEN: i64 = 999;
