//! Exact-answer verifier for the built-in synthetic tasks of prime-data (the `arithmetic` task:
//! ability `arithmetic`, data source `arithmetic_chain`). The worked solution ends with
//! `\boxed{answer}`; the ground truth is that answer. No tolerance, no symbolic equivalence:
//! the boxed content must be the same exact number (integer, `a/b` or a decimal), or the same
//! text when the ground truth is not a number.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Num, Zero};

use crate::math::last_boxed;
use crate::{Reference, Verdict, Verifier};

/// Names (abilities and data sources) of the built-in synthetic tasks this verifier grades.
pub const SYNTHETIC_TASKS: [&str; 2] = ["arithmetic", "arithmetic_chain"];

/// Longest boxed answer that is compared; longer ones are wrong.
const MAX_ANSWER_CHARS: usize = 256;

/// Grades the last `\boxed{}` of a response by exact equality with the ground truth.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExactAnswerVerifier;

/// `"-12"`, `"+3"`, `"7/2"`, `"1.25"` as an exact rational; `None` for anything else.
pub fn parse_exact(text: &str) -> Option<BigRational> {
    let t = text.trim();
    if t.is_empty() || t.len() > MAX_ANSWER_CHARS {
        return None;
    }
    if let Some((n, d)) = t.split_once('/') {
        let (n, d) = (parse_exact(n)?, parse_exact(d)?);
        return (!d.is_zero()).then(|| n / d);
    }
    let (negative, digits) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let mantissa = format!("{int}{frac}");
    let numer = BigInt::from_str_radix(&mantissa, 10).ok()?;
    let value = BigRational::new(numer, num_traits::pow(BigInt::from(10), frac.len()));
    Some(if negative { -value } else { value })
}

impl Verifier for ExactAnswerVerifier {
    fn verify(&self, response: &str, reference: &Reference) -> Verdict {
        let truth = reference.ground_truth.trim();
        if truth.is_empty() {
            return Verdict::error("empty ground truth");
        }
        let Some(answer) = last_boxed(response) else {
            return Verdict::no_answer("no \\boxed{}");
        };
        let answer = answer.trim();
        if answer.is_empty() {
            return Verdict::no_answer("empty \\boxed{}");
        }
        if answer.chars().count() > MAX_ANSWER_CHARS {
            return Verdict::wrong(format!(
                "boxed answer longer than {MAX_ANSWER_CHARS} characters"
            ));
        }
        let equal = match (parse_exact(truth), parse_exact(answer)) {
            (Some(t), Some(a)) => t == a,
            (Some(_), None) => false,
            (None, _) => truth == answer,
        };
        if equal {
            Verdict::correct(format!("boxed {answer} == {truth}"))
        } else {
            Verdict::wrong(format!("boxed {answer} != {truth}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn check(truth: &str, response: &str) -> Status {
        let reference = Reference {
            ability: "arithmetic".into(),
            data_source: "arithmetic_chain".into(),
            ground_truth: truth.into(),
        };
        ExactAnswerVerifier.verify(response, &reference).status
    }

    #[test]
    fn exact_numbers() {
        assert_eq!(
            check("15", "7+3=10\n10*2=20\n20-5=15\n\\boxed{15}"),
            Status::Correct
        );
        assert_eq!(check("-4", "\\boxed{ -4 }"), Status::Correct);
        assert_eq!(check("7/2", "\\boxed{3.5}"), Status::Correct);
        assert_eq!(check("15", "\\boxed{16}"), Status::Wrong);
        // Exact means exact: no tolerance, no expressions.
        assert_eq!(check("15", "\\boxed{15.0001}"), Status::Wrong);
        assert_eq!(check("15", "\\boxed{10+5}"), Status::Wrong);
        assert_eq!(check("15", "15"), Status::NoAnswer);
        assert_eq!(check("15", "\\boxed{}"), Status::NoAnswer);
        assert_eq!(check("", "\\boxed{1}"), Status::Error);
        assert_eq!(check("yes", "\\boxed{yes}"), Status::Correct);
    }

    #[test]
    fn parse_exact_forms() {
        let q = |n: i64, d: i64| BigRational::new(n.into(), d.into());
        assert_eq!(parse_exact("-12"), Some(q(-12, 1)));
        assert_eq!(parse_exact("+3"), Some(q(3, 1)));
        assert_eq!(parse_exact("1.25"), Some(q(5, 4)));
        assert_eq!(parse_exact("-6/4"), Some(q(-3, 2)));
        assert_eq!(parse_exact("1/0"), None);
        assert_eq!(parse_exact("."), None);
        assert_eq!(parse_exact("1e5"), None);
        assert_eq!(parse_exact("--1"), None);
    }
}
