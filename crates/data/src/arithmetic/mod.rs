//! The built-in `arithmetic` task: chains of 2–5 operations on small integers, evaluated left
//! to right, with a worked solution of one step per line ending in `\boxed{answer}`.
//!
//! Made for the embedded demo: no files needed, generated from a seed, short enough for a tiny
//! model on a CPU (prompt ≈ 25 tokens, solution ≤ ~35 tokens with the task's tokenizer), and
//! built so that mistakes happen *inside* the reasoning: each line is one fact `a{op}b=c` to
//! recall, a wrong intermediate result propagates to the boxed answer, and per-token process
//! rewards can point at the line that went wrong. With `parts > 1` a problem holds several
//! independent chains and one boxed list of their answers, so the outcome label no longer says
//! which part went wrong.
//!
//! # Verifier hook
//!
//! Problems carry `ability = "arithmetic"` ([`ARITHMETIC_ABILITY`]) and
//! `data_source = "arithmetic_chain"` ([`ARITHMETIC_DATA_SOURCE`]); the ground truth is the
//! exact answer as decimal text (`"15"`, `"-12"`). prime-verifiers' synthetic verifier compares
//! it with the content of the response's last `\boxed{}`.
//!
//! ```
//! use prime_data::arithmetic::{ArithmeticConfig, ArithmeticTask, Split};
//! let task = ArithmeticTask::new(ArithmeticConfig::default())?;
//! let example = &task.sft_examples(7, 0, 1)?[0];
//! assert!(example.completion.ends_with(&format!("\\boxed{{{}}}", example.problem.reference.ground_truth)));
//! let rl = task.problems(Split::Rl, 7, 0, 4)?;
//! assert_eq!(rl[0].ability, "arithmetic");
//! # Ok::<(), prime_data::DataError>(())
//! ```

mod chain;
mod config;
mod tokenizer;

use std::path::Path;

use prime_models::ChatMessage;
use prime_verifiers::Reference;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use chain::{Chain, Step};
pub use config::{ArithmeticConfig, Op, DEFAULT_INSTRUCTION, MAX_NUMBER_TOKEN, MAX_PARTS};
pub use tokenizer::{arithmetic_tokenizer, save_arithmetic_tokenizer, ArithmeticTokens};

use crate::error::DataError;
use crate::problem::Problem;
use crate::read::{Format, Layout};
use crate::rng::SplitMix64;
use crate::write::{write_jsonl, write_parquet};

/// `ability` of the task's problems (and of their [`Reference`]).
pub const ARITHMETIC_ABILITY: &str = "arithmetic";
/// `data_source` of the task's problems.
pub const ARITHMETIC_DATA_SOURCE: &str = "arithmetic_chain";

/// RNG stream of the per-example guess draws of the SFT split.
const GUESS_STREAM: u64 = 0x5407_C0DE_0000_0000;
/// RNG stream of the per-line skip draws of the SFT split.
const SKIP_STREAM: u64 = 0x5C1B_57E9_0000_0000;

/// Which part of the task a problem belongs to. Each split is its own random stream, so the
/// splits of one seed are independent draws and adding problems to one split never changes
/// another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Supervised warm-up: problems with worked solutions.
    Sft,
    /// RL training prompts (prompt + answer only).
    Rl,
    /// Held-out evaluation prompts.
    Eval,
}

impl Split {
    /// The split's name as written in `extra_info.split`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Sft => "sft",
            Split::Rl => "rl",
            Split::Eval => "eval",
        }
    }

    fn stream(self) -> u64 {
        match self {
            Split::Sft => 0x5F7,
            Split::Rl => 0x41,
            Split::Eval => 0xE7A1,
        }
    }
}

/// A supervised example: the problem and the assistant's worked solution (without the
/// end-of-sequence token, which the trainer appends).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftExample {
    /// The problem (prompt and answer).
    pub problem: Problem,
    /// The worked solution, one step per line, ending in `\boxed{answer}`.
    pub completion: String,
}

/// The arithmetic task under one configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ArithmeticTask {
    config: ArithmeticConfig,
}

impl ArithmeticTask {
    /// The task with validated knobs.
    pub fn new(config: ArithmeticConfig) -> Result<Self, DataError> {
        config.validate()?;
        Ok(Self { config })
    }

    /// The knobs.
    pub fn config(&self) -> &ArithmeticConfig {
        &self.config
    }

    /// Chain number `index` of `split` under `seed`: a pure function of the four, so problems
    /// can be generated in any order or in parallel. With `parts > 1` this is the problem's
    /// first part.
    pub fn chain(&self, split: Split, seed: u64, index: u64) -> Result<Chain, DataError> {
        Ok(self.chains(split, seed, index)?.swap_remove(0))
    }

    /// The `parts` chains of problem `index` of `split` under `seed`, drawn one after another
    /// from the problem's stream (so the first is the same chain for every `parts`).
    pub fn chains(&self, split: Split, seed: u64, index: u64) -> Result<Vec<Chain>, DataError> {
        let mut rng = SplitMix64::for_stream(seed ^ split.stream().rotate_left(40), index);
        (0..self.config.parts)
            .map(|_| Chain::generate(&self.config, &mut rng))
            .collect()
    }

    /// The problem for its chains: a single user message `"{instruction}{expressions}"` (the
    /// parts' expressions joined by `, `), ground truth the answers joined by `,`,
    /// `extra = {split, index, solution}`.
    pub fn problem(&self, chains: &[Chain], split: Split, index: u64) -> Problem {
        let expressions: Vec<String> = chains.iter().map(Chain::expression).collect();
        let answers: Vec<String> = chains.iter().map(|c| c.answer().to_string()).collect();
        let answer = answers.join(",");
        let worked: String = chains.iter().map(Chain::worked_lines).collect();
        let solution = format!("{worked}\\boxed{{{answer}}}");
        Problem {
            id: format!("arithmetic-{}-{index}", split.name()),
            data_source: ARITHMETIC_DATA_SOURCE.into(),
            ability: ARITHMETIC_ABILITY.into(),
            messages: vec![ChatMessage::user(format!(
                "{}{}",
                self.config.instruction,
                expressions.join(", ")
            ))],
            reference: Reference {
                ability: ARITHMETIC_ABILITY.into(),
                data_source: ARITHMETIC_DATA_SOURCE.into(),
                ground_truth: answer,
            },
            extra: json!({"split": split.name(), "index": index, "solution": solution}),
        }
    }

    /// Problems `first..first + count` of `split` under `seed`.
    pub fn problems(
        &self,
        split: Split,
        seed: u64,
        first: u64,
        count: usize,
    ) -> Result<Vec<Problem>, DataError> {
        (first..first + count as u64)
            .map(|index| Ok(self.problem(&self.chains(split, seed, index)?, split, index)))
            .collect()
    }

    /// Supervised examples `first..first + count` of the SFT split under `seed`. A share
    /// `sft_guess_rate` of them (drawn per example from `seed` and its index) gets a guess,
    /// `\boxed{v}` with `v` uniform in the value range, instead of the worked solution; with
    /// `parts > 1` the draw is per part, and a guessed part is one line `expression=v`. With
    /// `sft_skip_rate > 0` the worked solutions skip steps ([`Chain::careless_solution`]).
    pub fn sft_examples(
        &self,
        seed: u64,
        first: u64,
        count: usize,
    ) -> Result<Vec<SftExample>, DataError> {
        (first..first + count as u64)
            .map(|index| {
                let chains = self.chains(Split::Sft, seed, index)?;
                let guesses = self.guesses(seed, index);
                let completion = if let [Some(v)] = guesses.as_slice() {
                    format!("\\boxed{{{v}}}")
                } else {
                    let mut skip_rng = SplitMix64::for_stream(seed ^ SKIP_STREAM, index);
                    let mut text = String::new();
                    let mut answers = Vec::with_capacity(chains.len());
                    for (chain, guess) in chains.iter().zip(&guesses) {
                        let (lines, value) = match guess {
                            Some(v) => (format!("{}={v}\n", chain.expression()), *v),
                            None => chain.careless_lines(
                                &self.config,
                                self.config.sft_skip_rate,
                                &mut skip_rng,
                            ),
                        };
                        text.push_str(&lines);
                        answers.push(value.to_string());
                    }
                    format!("{text}\\boxed{{{}}}", answers.join(","))
                };
                Ok(SftExample {
                    problem: self.problem(&chains, Split::Sft, index),
                    completion,
                })
            })
            .collect()
    }

    /// The careless teacher's guess for each part of SFT example `index` under `seed`: `None`
    /// where the part gets its worked lines.
    fn guesses(&self, seed: u64, index: u64) -> Vec<Option<i64>> {
        let config = &self.config;
        if config.sft_guess_rate <= 0.0 {
            return vec![None; config.parts];
        }
        let mut rng = SplitMix64::for_stream(seed ^ GUESS_STREAM, index);
        (0..config.parts)
            .map(|_| {
                rng.chance(config.sft_guess_rate)
                    .then(|| rng.range_i64(config.value_min, config.value_max))
            })
            .collect()
    }

    /// Writes `count` problems of `split` to `path` (`.jsonl` or `.parquet`, veRL layout), so
    /// users see the format the readers take. JSONL keeps `extra_info.solution`; parquet keeps
    /// `extra_info.{split, index}`.
    pub fn export(
        &self,
        path: &Path,
        split: Split,
        seed: u64,
        count: usize,
    ) -> Result<(), DataError> {
        let problems = self.problems(split, seed, 0, count)?;
        match Format::of(path)? {
            Format::Jsonl => write_jsonl(path, &problems, Layout::Verl),
            Format::Parquet => write_parquet(path, &problems, 4096),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guess_rate_replaces_that_share_of_worked_solutions() {
        let guesses = |rate: f64| {
            let config = ArithmeticConfig {
                sft_guess_rate: rate,
                ..ArithmeticConfig::default()
            };
            let (lo, hi) = (config.value_min, config.value_max);
            let task = ArithmeticTask::new(config).unwrap();
            let examples = task.sft_examples(7, 0, 2000).unwrap();
            let mut guessed = 0;
            for e in &examples {
                if e.completion.contains('=') {
                    let boxed = format!("\\boxed{{{}}}", e.problem.reference.ground_truth);
                    assert!(e.completion.ends_with(&boxed), "{}", e.completion);
                } else {
                    let v: i64 = e.completion["\\boxed{".len()..e.completion.len() - 1]
                        .parse()
                        .unwrap();
                    assert!((lo..=hi).contains(&v), "{}", e.completion);
                    guessed += 1;
                }
            }
            guessed
        };
        assert_eq!(guesses(0.0), 0);
        assert_eq!(guesses(1.0), 2000);
        let half = guesses(0.5);
        // Binomial(2000, 0.5): ±4.5 standard deviations.
        assert!((900..=1100).contains(&half), "{half} guesses of 2000");
        // The problems themselves do not change with the rate.
        let task = |rate| {
            ArithmeticTask::new(ArithmeticConfig {
                sft_guess_rate: rate,
                ..ArithmeticConfig::default()
            })
            .unwrap()
        };
        let a = task(0.0).sft_examples(7, 0, 50).unwrap();
        let b = task(0.5).sft_examples(7, 0, 50).unwrap();
        assert!(a.iter().zip(&b).all(|(x, y)| x.problem == y.problem));
    }

    #[test]
    fn skip_rate_merges_that_share_of_the_lines_that_have_a_next_operation() {
        let merged_share = |rate: f64| {
            let task = ArithmeticTask::new(ArithmeticConfig {
                sft_skip_rate: rate,
                max_steps: 2,
                min_steps: 2,
                ..ArithmeticConfig::default()
            })
            .unwrap();
            let examples = task.sft_examples(7, 0, 2000).unwrap();
            // Two operations: the first line either holds both (skipped) or one.
            let merged = examples
                .iter()
                .filter(|e| {
                    let first = e.completion.lines().next().unwrap();
                    first.matches(['+', '-']).count() == 2
                })
                .count();
            merged as f64 / 2000.0
        };
        assert_eq!(merged_share(0.0), 0.0);
        assert_eq!(merged_share(1.0), 1.0);
        let share = merged_share(0.3);
        // Binomial(2000, 0.3): sd 0.0102; ±4.5 sd.
        assert!((0.254..=0.346).contains(&share), "{share}");
    }

    #[test]
    fn skip_rate_outside_zero_one_is_rejected() {
        let config = ArithmeticConfig {
            sft_skip_rate: -0.1,
            ..ArithmeticConfig::default()
        };
        let err = ArithmeticTask::new(config).unwrap_err().to_string();
        assert!(err.contains("sft_skip_rate"), "{err}");
    }

    #[test]
    fn guess_rate_outside_zero_one_is_rejected() {
        let config = ArithmeticConfig {
            sft_guess_rate: 1.5,
            ..ArithmeticConfig::default()
        };
        let err = ArithmeticTask::new(config).unwrap_err().to_string();
        assert!(err.contains("sft_guess_rate"), "{err}");
    }

    #[test]
    fn generation_is_deterministic_per_seed_and_split() {
        let task = ArithmeticTask::new(ArithmeticConfig::default()).unwrap();
        let a = task.problems(Split::Rl, 42, 0, 50).unwrap();
        let b = task.problems(Split::Rl, 42, 0, 50).unwrap();
        assert_eq!(a, b);
        // Random access: problem 30 alone is the same as in the batch.
        assert_eq!(task.problems(Split::Rl, 42, 30, 1).unwrap()[0], a[30]);
        let other_seed = task.problems(Split::Rl, 43, 0, 50).unwrap();
        let other_split = task.problems(Split::Eval, 42, 0, 50).unwrap();
        let same = |x: &[Problem], y: &[Problem]| {
            x.iter()
                .zip(y)
                .filter(|(p, q)| p.messages == q.messages)
                .count()
        };
        assert!(same(&a, &other_seed) < 10);
        assert!(same(&a, &other_split) < 10);
    }

    #[test]
    fn fixed_seed_gives_a_pinned_problem() {
        // Pins the generator's stream: a change here silently changes every demo run.
        let task = ArithmeticTask::new(ArithmeticConfig::default()).unwrap();
        let example = &task.sft_examples(1, 0, 1).unwrap()[0];
        let solution = &example.completion;
        let first_line = solution.lines().next().unwrap();
        let expression = example.problem.messages[0]
            .content
            .strip_prefix(DEFAULT_INSTRUCTION)
            .unwrap();
        assert!(expression.starts_with(first_line.split('=').next().unwrap()));
        assert_eq!(expression, PINNED_EXPRESSION);
        assert_eq!(example.problem.reference.ground_truth, PINNED_ANSWER);
    }

    /// Seed 1, SFT problem 0 of the default preset; 9+6=15, +1=16, +6=22 by hand.
    const PINNED_EXPRESSION: &str = "9+6+1+6";
    const PINNED_ANSWER: &str = "22";

    #[test]
    fn solutions_end_with_the_boxed_ground_truth_and_recompute() {
        let task = ArithmeticTask::new(ArithmeticConfig::hard()).unwrap();
        for example in task.sft_examples(5, 0, 200).unwrap() {
            let truth = &example.problem.reference.ground_truth;
            let lines: Vec<&str> = example.completion.lines().collect();
            assert_eq!(lines.last().unwrap(), &format!("\\boxed{{{truth}}}"));
            // Recompute each line independently of the generator.
            let mut previous: Option<i64> = None;
            for line in &lines[..lines.len() - 1] {
                let (lhs, rhs) = line.split_once('=').unwrap();
                let split_at = lhs[1..].find(['+', '-', '*', '/']).unwrap() + 1;
                let a: i64 = lhs[..split_at].parse().unwrap();
                let b: i64 = lhs[split_at + 1..].parse().unwrap();
                let c: i64 = rhs.parse().unwrap();
                let expected = match &lhs[split_at..=split_at] {
                    "+" => a + b,
                    "-" => a - b,
                    "*" => a * b,
                    _ => {
                        assert_eq!(a % b, 0);
                        a / b
                    }
                };
                assert_eq!(c, expected, "{line}");
                if let Some(p) = previous {
                    assert_eq!(a, p, "each line starts from the previous result");
                }
                previous = Some(c);
            }
            assert_eq!(previous.unwrap().to_string(), *truth);
        }
    }

    #[test]
    fn a_problem_of_three_parts_lists_the_parts_and_boxes_every_answer() {
        let config = ArithmeticConfig {
            parts: 3,
            ..ArithmeticConfig::default()
        };
        let task = ArithmeticTask::new(config).unwrap();
        let single = ArithmeticTask::new(ArithmeticConfig::default()).unwrap();
        for index in 0..100 {
            let chains = task.chains(Split::Rl, 9, index).unwrap();
            assert_eq!(chains.len(), 3);
            // The first part is the one-part problem's chain.
            assert_eq!(chains[0], single.chain(Split::Rl, 9, index).unwrap());
            let problem = task.problem(&chains, Split::Rl, index);
            let expressions: Vec<String> = chains.iter().map(Chain::expression).collect();
            assert_eq!(
                problem.messages[0].content,
                format!("{DEFAULT_INSTRUCTION}{}", expressions.join(", "))
            );
            let answers: Vec<String> = chains.iter().map(|c| c.answer().to_string()).collect();
            assert_eq!(problem.reference.ground_truth, answers.join(","));
        }
        // Seed 1, SFT problem 0: the first part is the pinned chain, worked by hand below.
        let example = &task.sft_examples(1, 0, 1).unwrap()[0];
        let lines: Vec<&str> = example.completion.lines().collect();
        assert_eq!(&lines[..3], ["9+6=15", "15+1=16", "16+6=22"]);
        let boxed = lines.last().unwrap();
        assert!(boxed.starts_with("\\boxed{22,"), "{boxed}");
        assert_eq!(
            *boxed,
            format!("\\boxed{{{}}}", example.problem.reference.ground_truth)
        );
        assert_eq!(
            example.problem.extra["solution"].as_str().unwrap(),
            example.completion
        );
    }

    #[test]
    fn with_parts_each_part_is_guessed_on_its_own() {
        let task = ArithmeticTask::new(ArithmeticConfig {
            parts: 2,
            sft_guess_rate: 0.5,
            ..ArithmeticConfig::default()
        })
        .unwrap();
        let (mut guessed, mut both) = (0, 0);
        let examples = task.sft_examples(3, 0, 1000).unwrap();
        for example in &examples {
            let chains = task
                .chains(
                    Split::Sft,
                    3,
                    example.problem.extra["index"].as_u64().unwrap(),
                )
                .unwrap();
            let mut rest = example.completion.as_str();
            let mut values = Vec::new();
            let mut guessed_here = 0;
            for chain in &chains {
                let worked = chain.worked_lines();
                if let Some(after) = rest.strip_prefix(worked.as_str()) {
                    rest = after;
                    values.push(chain.answer());
                } else {
                    let prefix = format!("{}=", chain.expression());
                    let after = rest
                        .strip_prefix(prefix.as_str())
                        .expect(&example.completion);
                    let (value, after) = after.split_once('\n').unwrap();
                    let value: i64 = value.parse().unwrap();
                    assert!((0..=30).contains(&value), "{}", example.completion);
                    values.push(value);
                    rest = after;
                    guessed_here += 1;
                }
            }
            let listed: Vec<String> = values.iter().map(i64::to_string).collect();
            assert_eq!(rest, format!("\\boxed{{{}}}", listed.join(",")));
            guessed += guessed_here;
            both += usize::from(guessed_here == 2);
        }
        // 2,000 parts at rate 0.5: sd 22.4, ±4.5 sd; both parts guessed: Binomial(1000, 0.25).
        assert!((900..=1100).contains(&guessed), "{guessed} of 2000 parts");
        assert!((190..=310).contains(&both), "{both} of 1000 examples");
    }

    #[test]
    fn parts_outside_one_to_eight_are_rejected() {
        for parts in [0, MAX_PARTS + 1] {
            let config = ArithmeticConfig {
                parts,
                ..ArithmeticConfig::default()
            };
            let err = ArithmeticTask::new(config).unwrap_err().to_string();
            assert!(err.contains("parts"), "{err}");
        }
    }
}
