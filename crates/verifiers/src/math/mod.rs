//! The math verifier: extraction → normalisation → parsing → equivalence, all bounded.
//!
//! Reference behaviour (docs/algorithm.md §13): take the last `\boxed{…}` / `\fbox{…}` or the
//! text after the last "answer is" / "answer:"; strip `x =` prefixes; equivalent on normalised
//! string equality, exact rational equality, numeric closeness (relative 1e-4 when a decimal is
//! involved, ×100 and /100 for percentages), element-wise equality of tuples / intervals (brackets
//! must match), sets and matrices, and symbolic equality checked at random points.
//!
//! Bounds: the answer length ([`MathConfig::max_answer_chars`]), the parse depth, the size of
//! exact numbers and a step budget shared by parsing and evaluation. A pathological answer
//! ends as [`Status::Wrong`] or [`Status::Timeout`], never as a hang.

mod ast;
mod budget;
mod equiv;
mod eval;
mod extract;
mod lexer;
mod normalize;
mod parser;
mod value;

pub use extract::{extract_answer, last_boxed};

use crate::{Reference, Status, Verdict, Verifier};
use budget::Budget;
use equiv::{Comparer, Match};
use value::ExactLimits;

/// Limits of the math verifier.
#[derive(Debug, Clone)]
pub struct MathConfig {
    /// Answers (and ground truths) longer than this are not parsed: `Wrong` unless equal as text.
    pub max_answer_chars: usize,
    /// Maximum nesting depth of the parser.
    pub max_depth: usize,
    /// Work units for one verdict; exhausted → [`Status::Timeout`].
    pub step_budget: u64,
    /// Exact numbers larger than this many bits are approximated.
    pub max_exact_bits: u64,
}

impl Default for MathConfig {
    fn default() -> Self {
        Self {
            max_answer_chars: 1_000,
            max_depth: 100,
            step_budget: 2_000_000,
            max_exact_bits: 16_384,
        }
    }
}

/// Grades math answers (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct MathVerifier {
    config: MathConfig,
}

/// Short form of an answer for verdict reasons.
fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
}

impl MathVerifier {
    /// A verifier with the given limits.
    pub fn new(config: MathConfig) -> Self {
        Self { config }
    }

    /// Compare an already extracted `answer` with the ground-truth answer `truth`.
    pub fn compare(&self, truth: &str, answer: &str) -> Verdict {
        let shown = shorten(answer.trim());
        if answer.trim().is_empty() {
            return Verdict::no_answer("empty answer");
        }
        if answer.chars().count() > self.config.max_answer_chars {
            return Verdict::wrong(format!(
                "answer longer than {} characters",
                self.config.max_answer_chars
            ));
        }
        let (t, a) = (normalize::normalize(truth), normalize::normalize(answer));
        if t.compact() == a.compact() {
            return Verdict::correct(format!("`{shown}`: same text after normalisation"));
        }
        if truth.chars().count() > self.config.max_answer_chars {
            return Verdict::wrong(format!(
                "`{shown}`: text differs (ground truth too long to parse)"
            ));
        }
        let parse = |text: &str| {
            lexer::tokenize(text)
                .ok()
                .and_then(|toks| parser::parse_answer(&toks, self.config.max_depth).ok())
        };
        let (Some(pt), Some(pa)) = (parse(&t.text), parse(&a.text)) else {
            return Verdict::wrong(format!(
                "`{shown}`: text differs and is not parsable as math"
            ));
        };
        let mut budget = Budget::new(self.config.step_budget);
        let limits = ExactLimits {
            max_bits: self.config.max_exact_bits,
        };
        let mut comparer = Comparer::new(&mut budget, limits, t.percent || a.percent);
        match comparer.answers(&pt, &pa) {
            Ok(Some(m)) => {
                let how = match m {
                    Match::Exact => "exact",
                    Match::Numeric => "numeric",
                    Match::Percent => "percent",
                    Match::Identity => "identity at random points",
                };
                Verdict::correct(format!("`{shown}`: equivalent ({how})"))
            }
            Ok(None) => Verdict::wrong(format!("`{shown}`: not equivalent")),
            Err(budget::Exhausted) => Verdict::timeout(format!(
                "`{shown}`: step budget of {} exhausted",
                self.config.step_budget
            )),
        }
    }
}

impl Verifier for MathVerifier {
    fn verify(&self, response: &str, reference: &Reference) -> Verdict {
        let truth = last_boxed(&reference.ground_truth).unwrap_or(&reference.ground_truth);
        if truth.trim().is_empty() {
            return Verdict::error("empty ground truth");
        }
        match extract_answer(response) {
            None => Verdict::no_answer("no \\boxed{} and no \"answer is\""),
            Some(answer) => {
                let verdict = self.compare(truth, answer);
                debug_assert!(verdict.status != Status::Error);
                verdict
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(truth: &str, response: &str) -> Verdict {
        let reference = Reference {
            ability: "math".into(),
            data_source: String::new(),
            ground_truth: truth.into(),
        };
        MathVerifier::default().verify(response, &reference)
    }

    #[test]
    fn statuses() {
        assert_eq!(verdict("12", r"so \boxed{12}.").status, Status::Correct);
        assert_eq!(verdict("12", r"so \boxed{13}.").status, Status::Wrong);
        assert_eq!(verdict("12", "I give up").status, Status::NoAnswer);
        assert_eq!(verdict("12", r"\boxed{}").status, Status::NoAnswer);
        assert_eq!(verdict("", r"\boxed{1}").status, Status::Error);
        assert_eq!(
            verdict(r"\boxed{\frac{1}{2}}", "The answer is 0.5").status,
            Status::Correct
        );
        assert_eq!(verdict("12", r"\boxed{12}").score, 1.0);
    }

    #[test]
    fn pathological_answers_end_quickly() {
        let cases = [
            "9^{9^{9^{9^{9^{9}}}}}".to_string(),
            "10^{1000000000}".to_string(),
            "100000!".to_string(),
            "(".repeat(900),
            "{".repeat(500) + &"}".repeat(500),
            "x^{x^{x^{x^{x^{x^{x^{x}}}}}}}".to_string(),
            r"\frac{1}{".repeat(150) + &"2}".repeat(150),
            "1+".repeat(499) + "1",
            r"\sqrt{".repeat(300) + "2" + &"}".repeat(300),
            "2^{2^{2^{2^{2^{2}}}}}-2^{2^{2^{2^{2^{2}}}}}".to_string(),
        ];
        for case in cases {
            let start = std::time::Instant::now();
            let v = verdict("3", &format!("\\boxed{{{case}}}"));
            assert!(
                matches!(v.status, Status::Wrong | Status::Timeout),
                "{case}: {v:?}"
            );
            assert!(
                start.elapsed().as_millis() < 500,
                "{case} took {:?}",
                start.elapsed()
            );
        }
    }
}
