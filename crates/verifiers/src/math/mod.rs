//! The math verifier: extraction → normalisation → parsing → equivalence, all bounded.
//!
//! The answer is the content of the last `\boxed{…}` / `\fbox{…}`, or the text after the last
//! "answer is" / "answer:" ([`extract_answer`]); a ground truth holding a `\boxed{…}` is read the
//! same way. Both are normalised (`\left`/`\right`, `\dfrac`, `$`, `\$`, `^\circ`, `\%`,
//! `\text{…}`, spacing commands, thousands separators `1,000` / `1\,000` / `1{,}000`, a trailing
//! period, an `x =` / `f(x) =` / `x \in` prefix and a unit after the quantity are removed),
//! parsed, and compared. Every verdict carries a reason; the reasons are listed below.
//!
//! # What is equal
//!
//! - **The same text** after normalisation — reason ``"`a`: same text after normalisation"``.
//! - **Prose in any case**: an answer with a word of three or more letters (or "no") compares
//!   case-insensitively, without a leading article or final period: `\text{Ellipse}` = `ellipse`
//!   = `an ellipse`, `East` = `\text{east}` — ``"`a`: same text, ignoring case"``.
//! - **A numeral in the truth's base**: `1011_2` = `1011_{2}` = `1011` (but not `11` nor `1011_3`)
//!   — ``"`a`: the same numeral in base 2"``.
//! - Otherwise the parsed answers are compared, and a match is reported as
//!   ``"`a`: equivalent (exact | numeric | percent | identity at random points)"``:
//!   - **exact values are equal only when they are the same rational**: integers, decimals,
//!     repeating decimals (`0.1\overline{6}` = `\frac16`), fractions and mixed numbers
//!     (`2\frac12`), scientific notation (`3.2 \times 10^{5}`, `3.2e5`), powers, factorials,
//!     binomials, logarithms and radicals that simplify (`\sqrt{\frac{9}{4}}` = `1.5`);
//!     `12.5` ≠ `12.50004`, `\frac13` ≠ `0.33333`;
//!   - **irrational values** (π, e, roots and logarithms that do not simplify, trigonometric
//!     values) are equal within a relative `1e-9` ([`IRRATIONAL_REL_TOL`]): `3\sqrt2` = `\sqrt{18}`,
//!     `\frac{\sqrt2}{2}` = `\frac{1}{\sqrt2}`, `\frac12` = `\cos\frac{\pi}{3}`;
//!   - **percentages**: `25\%` = `25` = `0.25` (the side without `%`, times 100, is the side
//!     with it; `25\%` ≠ `2500`);
//!   - **complex numbers** (`i` is the imaginary unit): `3+4i` = `4i+3`, `(1+i)^2` = `2i`,
//!     `\frac{1}{1+i}` = `\frac{1-i}{2}`, `\sqrt{-4}` = `2i`;
//!   - **expressions with variables** agree at 4 to 12 random rational points: `(x+1)^2` =
//!     `x^2+2x+1`; equations describe the same set: `y = 2x+1` = `2x - y + 1 = 0`;
//!   - **tuples, intervals and vectors** element by element with the same brackets; an
//!     inequality or a chain of them is its interval: `[3, \infty)` = `x \ge 3`, `(2, 5]` =
//!     `2 < x \le 5`, `(-\infty, 2) \cup (5, \infty)` = `x < 2 \text{ or } x > 5`; `\mathbb{R}` =
//!     `(-\infty, \infty)`;
//!   - **sets and lists** in any order, `\pm` expanded in each item: `\{1\pm\sqrt5, -2\}` (with or
//!     without `\left\{ … \right\}`) = `-2, 1+\sqrt5, 1-\sqrt5`; `\emptyset` = `\{\}`;
//!   - **matrices** entry by entry (`pmatrix`, `bmatrix`, `array` in brackets), a scalar in front
//!     applied to every entry: `-\begin{pmatrix}1&2\end{pmatrix}` =
//!     `\begin{pmatrix}-1&-2\end{pmatrix}`; a column vector = the tuple of its entries;
//!   - **multiple choice**: `B` = `(B)` = `\text{(B)}` = `b`.
//!
//! # What is refused
//!
//! - No answer: ``"no \boxed{} and no \"answer is\""``, ``"empty answer"`` ([`Status::NoAnswer`]).
//! - ``"answer longer than N characters"``; ``"`a`: text differs (ground truth too long to
//!   parse)"``; ``"`a`: text differs and is not parsable as math"`` (unknown commands, prose
//!   that differs).
//! - ``"`a`: units differ (cm vs m)"``: both sides name a unit of measure this grader knows,
//!   and not the same one (`5 \text{ cm}` vs `5 \text{ m}`, `cm^2` vs `cm^3`, cents vs dollars).
//! - ``"`a`: not equivalent"``, with the reason when a value decided nothing:
//!   - ``"(a decimal is a rounding of an irrational value, not equal to it)"``: `2.0944` for
//!     `\frac{2\pi}{3}`, `1.4142135623730951` for `\sqrt2`, however many digits;
//!   - ``"(a value over- or underflows floating point)"``: `e^{-1000}` or `5 + 10^{-400}\pi` is
//!     never taken for `0` or `5`;
//!   - ``"(an exact value exceeds the size limit)"``: exact numbers past
//!     [`MathConfig::max_exact_bits`] (`10^{10^{5}}`, `100000!`) are not approximated.
//! - ``"`a`: step budget of N exhausted"`` ([`Status::Timeout`]): the parse and the evaluation
//!   pay from one step budget; a pathological answer ends in microseconds, never hangs.
//! - ``"empty ground truth"`` ([`Status::Error`]; the dataset reader rejects such rows first).
//!
//! Known limits: an answer within `1e-9` relative of an irrational truth is accepted
//! (`\pi + 10^{-12}`: only an answer written from the truth gets that close); `2e-1` is `2e − 1`
//! (e-notation needs a decimal point or an unsigned exponent, `2.0e-1`, `2e3`); units are not
//! converted (`20` minutes ≠ `\frac13` hour); `i` is always the imaginary unit; `\log` is base 10.
//!
//! Bounds: the answer length ([`MathConfig::max_answer_chars`]), the parse depth, the size of
//! exact numbers and a step budget shared by parsing and evaluation. A pathological answer
//! ends as [`Status::Wrong`] or [`Status::Timeout`], never as a hang.

mod ast;
mod budget;
mod complex;
mod equiv;
mod eval;
mod extract;
mod lexer;
mod normalize;
mod parser;
mod value;

pub use equiv::IRRATIONAL_REL_TOL;
pub use extract::{extract_answer, last_boxed};

use crate::{Reference, Status, Verdict, Verifier};
use budget::Budget;
use equiv::{Comparer, Match, PercentSides};
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
    /// Exact numbers larger than this many bits (numerator + denominator) are not computed:
    /// the comparison is refused, never approximated.
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
        if let (Some(tu), Some(au)) = (t.unit_key(), a.unit_key()) {
            if tu != au {
                return Verdict::wrong(format!("`{shown}`: units differ ({tu} vs {au})"));
            }
        }
        if t.compact() == a.compact() {
            return Verdict::correct(format!("`{shown}`: same text after normalisation"));
        }
        if (t.is_prose() || a.is_prose()) && t.text_key() == a.text_key() {
            return Verdict::correct(format!("`{shown}`: same text, ignoring case"));
        }
        if let Some((td, Some(base))) = normalize::base_numeral(&t.text) {
            if let Some((ad, ab)) = normalize::base_numeral(&a.text) {
                if td == ad && ab.is_none_or(|b| b == base) {
                    return Verdict::correct(format!("`{shown}`: the same numeral in base {base}"));
                }
            }
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
        let percent = PercentSides {
            truth: t.percent,
            answer: a.percent,
        };
        let mut comparer = Comparer::new(&mut budget, limits, percent);
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
            Ok(None) => match comparer.refusal {
                Some(why) => {
                    Verdict::wrong(format!("`{shown}`: not equivalent ({})", why.reason()))
                }
                None => Verdict::wrong(format!("`{shown}`: not equivalent")),
            },
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

    /// The reasons the module docs list.
    #[test]
    fn reasons_say_what_was_equal_or_refused() {
        let v = MathVerifier::default();
        let reason = |truth: &str, answer: &str| v.compare(truth, answer).reason;
        assert_eq!(reason("12", "12.0"), "`12.0`: equivalent (exact)");
        assert_eq!(
            reason(r"\text{Ellipse}", r"\text{an ellipse}"),
            "`\\text{an ellipse}`: same text, ignoring case"
        );
        assert_eq!(
            reason("1011_2", "1011"),
            "`1011`: the same numeral in base 2"
        );
        assert_eq!(
            reason(r"3\sqrt{2}", r"\sqrt{18}"),
            "`\\sqrt{18}`: equivalent (numeric)"
        );
        assert_eq!(reason(r"25\%", "0.25"), "`0.25`: equivalent (percent)");
        assert_eq!(
            reason(r"5\text{ cm}", r"5\text{ meters}"),
            "`5\\text{ meters}`: units differ (cm vs m)"
        );
        assert_eq!(reason("12.5", "12.50004"), "`12.50004`: not equivalent");
        assert_eq!(
            reason(r"\frac{2\pi}{3}", "2.0944"),
            "`2.0944`: not equivalent (a decimal is a rounding of an irrational value, not equal to it)"
        );
        assert_eq!(
            reason("5", r"5 + e^{-1000}"),
            "`5 + e^{-1000}`: not equivalent (a value over- or underflows floating point)"
        );
        assert_eq!(
            reason("1", r"10^{10^{5}}"),
            "`10^{10^{5}}`: not equivalent (an exact value exceeds the size limit)"
        );
        assert_eq!(
            reason("1", r"\foo{2}"),
            "`\\foo{2}`: text differs and is not parsable as math"
        );
        let tight = MathVerifier::new(MathConfig {
            step_budget: 10,
            ..MathConfig::default()
        });
        let v = tight.compare("(x+1)^2", "x^2+2x+1");
        assert_eq!(
            (v.status, v.reason.as_str()),
            (Status::Timeout, "`x^2+2x+1`: step budget of 10 exhausted")
        );
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
