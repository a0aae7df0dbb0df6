//! Equivalence of two parsed answers.
//!
//! Exact first: two values that evaluate exactly (integers, decimals, repeating decimals,
//! fractions, radicals that simplify) are equal only when they are the same rational. A tolerance
//! enters only where a value is irrational (π, e, a root or a logarithm that does not simplify),
//! and then a tight relative one, [`IRRATIONAL_REL_TOL`]. A written decimal never equals an
//! irrational value (it is a rounding of it), and a value that over- or underflowed, or outgrew the
//! exact-number limit, decides nothing: the comparison is refused ([`Refusal`], reported in the
//! verdict's reason). Expressions with variables are compared at random points; structures by
//! their bracket rules.

use num_bigint::BigInt;
use num_rational::BigRational;

use super::ast::{Answer, Constant, Expr, Relation};
use super::budget::{Budget, Exhausted};
use super::complex::{eval_complex, mentions_i, Complex, IMAGINARY_UNIT};
use super::eval::{Env, Evaluator};
use super::value::{self, EvalError, ExactLimits, Num};

/// Relative tolerance between two values when one of them is irrational: about the rounding
/// error of evaluating both in `f64`, far below any rounding a person writes.
pub const IRRATIONAL_REL_TOL: f64 = 1e-9;
/// Random points tried for expressions with variables, and how many must evaluate.
const TRIALS: usize = 12;
const NEEDED: usize = 4;

/// How two answers matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Exactly equal rationals or identical structure.
    Exact,
    /// Equal within [`IRRATIONAL_REL_TOL`] (an irrational value on at least one side).
    Numeric,
    /// Equal after reading one side's `%`.
    Percent,
    /// Equal at every random point tried.
    Identity,
}

/// Why a comparison was refused rather than decided; the verdict is "not equivalent" and its
/// reason names the refusal ([`Refusal::reason`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A floating-point value over- or underflowed.
    Range,
    /// An exact value needed more bits than the limit.
    TooLarge,
    /// A decimal was compared with an irrational value.
    DecimalVsIrrational,
}

impl Refusal {
    /// The text that follows "not equivalent" in the verdict.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Range => "a value over- or underflows floating point",
            Refusal::TooLarge => "an exact value exceeds the size limit",
            Refusal::DecimalVsIrrational => {
                "a decimal is a rounding of an irrational value, not equal to it"
            }
        }
    }
}

/// Which side wrote a `%` (or "percent").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PercentSides {
    /// The ground truth did.
    pub truth: bool,
    /// The answer did.
    pub answer: bool,
}

/// A value of an expression: real, or complex when the imaginary unit occurs.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Real(Num),
    Complex(Complex),
}

impl Value {
    fn is_exact(&self) -> bool {
        match self {
            Value::Real(x) => x.exact().is_some(),
            Value::Complex(z) => z.is_exact(),
        }
    }
}

/// Compares answers (ground truth first, answer second) under one budget.
pub struct Comparer<'b> {
    budget: &'b mut Budget,
    limits: ExactLimits,
    percent: PercentSides,
    seed: u64,
    /// The first refusal met, reported when the answers end up not equivalent.
    pub refusal: Option<Refusal>,
}

fn next_random(state: &mut u64) -> u64 {
    // SplitMix64: deterministic, so verdicts are reproducible.
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An evaluation outcome as the comparison sees it.
enum Evaluated<T> {
    Value(T),
    /// Undefined here (a pole, a domain error, an unbound variable).
    Undefined,
    /// Out of floating-point range or over the exact-number limit.
    Refused(Refusal),
}

impl<'b> Comparer<'b> {
    /// A comparer drawing from `budget`.
    pub fn new(budget: &'b mut Budget, limits: ExactLimits, percent: PercentSides) -> Self {
        Self {
            budget,
            limits,
            percent,
            seed: 0x5EED,
            refusal: None,
        }
    }

    fn refuse(&mut self, why: Refusal) {
        self.refusal.get_or_insert(why);
    }

    /// The value of `e` at `env` (complex when `complex`).
    fn eval(&mut self, e: &Expr, env: &Env, complex: bool) -> Result<Evaluated<Value>, Exhausted> {
        let mut evaluator = Evaluator {
            budget: self.budget,
            limits: self.limits,
        };
        let result = if complex {
            eval_complex(&mut evaluator, e, env).map(Value::Complex)
        } else {
            evaluator.eval(e, env).map(Value::Real)
        };
        Ok(match result {
            Ok(v) => Evaluated::Value(v),
            Err(EvalError::Budget) => return Err(Exhausted),
            Err(EvalError::Range) => Evaluated::Refused(Refusal::Range),
            Err(EvalError::TooLarge) => Evaluated::Refused(Refusal::TooLarge),
            Err(EvalError::Domain | EvalError::Unbound) => Evaluated::Undefined,
        })
    }

    /// Both sides' values, or `None` (with a refusal noted) when either has none.
    fn eval_pair(
        &mut self,
        a: &Expr,
        b: &Expr,
        env: &Env,
        complex: bool,
    ) -> Result<Option<(Value, Value)>, Exhausted> {
        let x = self.eval(a, env, complex)?;
        let y = self.eval(b, env, complex)?;
        Ok(match (x, y) {
            (Evaluated::Value(x), Evaluated::Value(y)) => Some((x, y)),
            (Evaluated::Refused(why), _) | (_, Evaluated::Refused(why)) => {
                self.refuse(why);
                None
            }
            _ => None,
        })
    }

    /// Whether `answer` is equivalent to `truth`; `Err` when the budget ran out.
    pub fn answers(&mut self, truth: &Answer, answer: &Answer) -> Result<Option<Match>, Exhausted> {
        self.budget.charge(1)?;
        Ok(match (truth, answer) {
            (Answer::Choice(a), Answer::Choice(b)) => (a == b).then_some(Match::Exact),
            (Answer::Choice(a), Answer::Expr(Expr::Var(v))) => v
                .eq_ignore_ascii_case(&a.to_string())
                .then_some(Match::Exact),
            // A lower-case `e` is read as Euler's number; against choice E it is the letter.
            (Answer::Choice('E'), Answer::Expr(Expr::Const(Constant::E))) => Some(Match::Exact),
            (Answer::Equation(l1, r1), Answer::Equation(l2, r2)) => {
                if let (Some(_), Some(m)) = (self.answers(l1, l2)?, self.answers(r1, r2)?) {
                    Some(m)
                } else if let (Some(_), Some(m)) = (self.answers(l1, r2)?, self.answers(r1, l2)?) {
                    Some(m)
                } else {
                    self.equations(l1, r1, l2, r2)?
                }
            }
            (Answer::Equation(l, r), other) if l.is_name() => self.answers(r, other)?,
            (other, Answer::Equation(l, r)) if l.is_name() => self.answers(other, r)?,
            (Answer::Inequality(o1, a1, b1), Answer::Inequality(o2, a2, b2)) => {
                if o1 != o2 {
                    None
                } else {
                    both(self.exprs(a1, a2)?, self.exprs(b1, b2)?)
                }
            }
            (
                Answer::Bracketed {
                    open: o1,
                    close: c1,
                    items: i1,
                },
                Answer::Bracketed {
                    open: o2,
                    close: c2,
                    items: i2,
                },
            ) => {
                if o1 != o2 || c1 != c2 {
                    None
                } else {
                    self.ordered(i1, i2)?
                }
            }
            (
                Answer::Bracketed {
                    open: '(',
                    close: ')',
                    items: i1,
                },
                Answer::List(i2),
            )
            | (
                Answer::List(i1),
                Answer::Bracketed {
                    open: '(',
                    close: ')',
                    items: i2,
                },
            ) => self.ordered(i1, i2)?,
            (Answer::Union(parts), Answer::List(items)) => match rays(items) {
                Some(intervals) => self.unordered(parts, &intervals)?,
                None => None,
            },
            (Answer::List(items), Answer::Union(parts)) => match rays(items) {
                Some(intervals) => self.unordered(&intervals, parts)?,
                None => None,
            },
            (Answer::Set(a) | Answer::List(a), Answer::Set(b) | Answer::List(b))
            | (Answer::Union(a), Answer::Union(b)) => self.unordered(a, b)?,
            (b @ Answer::Bracketed { .. }, Answer::Inequality(rel, lhs, rhs))
            | (Answer::Inequality(rel, lhs, rhs), b @ Answer::Bracketed { .. }) => {
                match ray(*rel, lhs, rhs) {
                    Some(interval) => self.answers(b, &interval)?,
                    None => None,
                }
            }
            (Answer::Set(a), other) if a.len() == 1 => self.answers(&a[0], other)?,
            (other, Answer::Set(b)) if b.len() == 1 => self.answers(other, &b[0])?,
            (Answer::Matrix(a), Answer::Matrix(b)) => {
                if a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x.len() != y.len()) {
                    None
                } else {
                    let mut result = Some(Match::Exact);
                    for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
                        result = both(result, self.exprs(x, y)?);
                        if result.is_none() {
                            break;
                        }
                    }
                    result
                }
            }
            // A column vector written as a tuple, or the other way round.
            (
                Answer::Matrix(rows),
                Answer::Bracketed {
                    open: '(',
                    close: ')',
                    items,
                },
            ) => match column(rows) {
                Some(cells) => self.ordered(&cells, items)?,
                None => None,
            },
            (
                Answer::Bracketed {
                    open: '(',
                    close: ')',
                    items,
                },
                Answer::Matrix(rows),
            ) => match column(rows) {
                Some(cells) => self.ordered(items, &cells)?,
                None => None,
            },
            (Answer::Expr(a), Answer::Expr(b)) => self.exprs(a, b)?,
            _ => None,
        })
    }

    fn ordered(&mut self, a: &[Answer], b: &[Answer]) -> Result<Option<Match>, Exhausted> {
        if a.len() != b.len() {
            return Ok(None);
        }
        let mut result = Some(Match::Exact);
        for (x, y) in a.iter().zip(b) {
            result = both(result, self.answers(x, y)?);
            if result.is_none() {
                break;
            }
        }
        Ok(result)
    }

    /// Multiset equality: every item of `a` pairs with a distinct equivalent item of `b`.
    fn unordered(&mut self, a: &[Answer], b: &[Answer]) -> Result<Option<Match>, Exhausted> {
        if a.len() != b.len() {
            return Ok(None);
        }
        let mut used = vec![false; b.len()];
        let mut result = Some(Match::Exact);
        for x in a {
            let mut found = None;
            for (j, y) in b.iter().enumerate() {
                if used[j] {
                    continue;
                }
                if let Some(m) = self.answers(x, y)? {
                    found = Some((j, m));
                    break;
                }
            }
            let Some((j, m)) = found else { return Ok(None) };
            used[j] = true;
            result = both(result, Some(m));
        }
        Ok(result)
    }

    /// `l1 = r1` and `l2 = r2` describe the same set: `l1 - r1` is a constant non-zero multiple of
    /// `l2 - r2` at every random point.
    fn equations(
        &mut self,
        l1: &Answer,
        r1: &Answer,
        l2: &Answer,
        r2: &Answer,
    ) -> Result<Option<Match>, Exhausted> {
        let (Answer::Expr(l1), Answer::Expr(r1), Answer::Expr(l2), Answer::Expr(r2)) =
            (l1, r1, l2, r2)
        else {
            return Ok(None);
        };
        let f = Expr::Sub(Box::new(l1.clone()), Box::new(r1.clone()));
        let g = Expr::Sub(Box::new(l2.clone()), Box::new(r2.clone()));
        if mentions_i(&f) || mentions_i(&g) {
            return Ok(None);
        }
        let Some(vars) = same_variables(&f, &g) else {
            return Ok(None);
        };
        let mut ratio: Option<Num> = None;
        let mut ok = 0;
        for trial in 0..TRIALS {
            let env = self.point(&vars, trial);
            let Some((Value::Real(a), Value::Real(b))) = self.eval_pair(&f, &g, &env, false)?
            else {
                continue;
            };
            if a.is_zero() || b.is_zero() {
                if a.is_zero() != b.is_zero() {
                    return Ok(None);
                }
                continue;
            }
            let r = match value::binary(value::BinOp::Div, &a, &b, self.budget, self.limits) {
                Ok(r) => r,
                Err(EvalError::Budget) => return Err(Exhausted),
                Err(_) => continue,
            };
            match &ratio {
                None => ratio = Some(r),
                Some(first) => match close(first, &r) {
                    Ok(true) => {}
                    Ok(false) => return Ok(None),
                    Err(why) => {
                        self.refuse(why);
                        return Ok(None);
                    }
                },
            }
            ok += 1;
        }
        Ok((ok >= NEEDED - 1).then_some(Match::Identity))
    }

    /// A random assignment of small rationals: positive on even trials, of random sign on odd
    /// ones (always negative with a single variable).
    fn point(&mut self, vars: &[String], trial: usize) -> Env {
        let single = vars.len() == 1;
        vars.iter()
            .map(|v| {
                let r = next_random(&mut self.seed);
                let numer = (r % 29 + 1) as i64;
                let denom = ((r >> 8) % 7 + 1) as i64;
                let negative = trial % 2 == 1 && (single || (r >> 16) % 2 == 1);
                let sign = if negative { -1 } else { 1 };
                let q = BigRational::new(BigInt::from(sign * numer), BigInt::from(denom));
                (v.clone(), Num::Exact(q))
            })
            .collect()
    }

    /// Two expressions.
    pub fn exprs(&mut self, a: &Expr, b: &Expr) -> Result<Option<Match>, Exhausted> {
        let (ia, ib) = (infinity_sign(a), infinity_sign(b));
        if ia.is_some() || ib.is_some() {
            return Ok((ia == ib).then_some(Match::Exact));
        }
        let decimals = (a.has_decimal(), b.has_decimal());
        let complex = mentions_i(a) || mentions_i(b);
        let Some(vars) = same_variables(a, b) else {
            return Ok(None);
        };
        if vars.is_empty() {
            return Ok(match self.eval_pair(a, b, &Env::new(), complex)? {
                Some((x, y)) => self.values(&x, &y, decimals),
                None => None,
            });
        }
        let mut ok = 0;
        let mut exact = true;
        for trial in 0..TRIALS {
            let env = self.point(&vars, trial);
            // Undefined or refused at this point (a pole, an overflow): try another point.
            let Some((x, y)) = self.eval_pair(a, b, &env, complex)? else {
                continue;
            };
            exact &= x.is_exact() && y.is_exact();
            if self.values(&x, &y, decimals).is_none() {
                return Ok(None);
            }
            ok += 1;
            if ok >= NEEDED && exact {
                break;
            }
        }
        Ok((ok >= NEEDED).then_some(Match::Identity))
    }

    /// Two values (truth first); `decimals` says which side was written with a decimal point.
    fn values(&mut self, x: &Value, y: &Value, decimals: (bool, bool)) -> Option<Match> {
        match (x, y) {
            (Value::Real(x), Value::Real(y)) => self.numbers(x, y, decimals),
            (Value::Complex(z), Value::Complex(w)) => {
                let re = self.numbers(&z.re, &w.re, decimals);
                both(re, self.numbers(&z.im, &w.im, decimals))
            }
            _ => None,
        }
    }

    /// Two numbers (truth first): exact equality when both are exact, else the tight relative
    /// tolerance; then, when one side wrote `%`, the other side's number times 100.
    fn numbers(&mut self, x: &Num, y: &Num, decimals: (bool, bool)) -> Option<Match> {
        match self.same_number(x, y, decimals) {
            Ok(true) => {
                let exact = x.exact().is_some() && y.exact().is_some();
                return Some(if exact { Match::Exact } else { Match::Numeric });
            }
            Ok(false) => {}
            Err(why) => {
                self.refuse(why);
                return None;
            }
        }
        if self.percent.truth == self.percent.answer {
            return None;
        }
        // `25\%` against `0.25`: the side without `%`, times 100, is the side with it.
        let plain = if self.percent.truth { y } else { x };
        let hundred = Num::int(100);
        let scaled = value::binary(value::BinOp::Mul, plain, &hundred, self.budget, self.limits);
        let scaled = scaled.ok()?;
        let (p, q) = if self.percent.truth {
            (x, &scaled)
        } else {
            (&scaled, y)
        };
        (self.same_number(p, q, decimals) == Ok(true)).then_some(Match::Percent)
    }

    /// Exact equality of exact values; a decimal against an irrational value is refused; else
    /// closeness within [`IRRATIONAL_REL_TOL`].
    fn same_number(&self, x: &Num, y: &Num, decimals: (bool, bool)) -> Result<bool, Refusal> {
        let (x_exact, y_exact) = (x.exact().is_some(), y.exact().is_some());
        if (x_exact && !y_exact && decimals.0) || (y_exact && !x_exact && decimals.1) {
            return Err(Refusal::DecimalVsIrrational);
        }
        close(x, y)
    }
}

/// Exactly equal when both are exact; otherwise `|x − y| ≤ IRRATIONAL_REL_TOL · max(|x|, |y|)`,
/// refused when either has no float value.
pub fn close(x: &Num, y: &Num) -> Result<bool, Refusal> {
    if let (Some(a), Some(b)) = (x.exact(), y.exact()) {
        return Ok(a == b);
    }
    let (a, b) = match (x.to_float(), y.to_float()) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return Err(Refusal::Range),
    };
    Ok((a - b).abs() <= IRRATIONAL_REL_TOL * a.abs().max(b.abs()))
}

/// The cells of a one-column matrix (a column vector), as answers.
fn column(rows: &[Vec<Expr>]) -> Option<Vec<Answer>> {
    rows.iter()
        .map(|row| match row.as_slice() {
            [cell] => Some(Answer::Expr(cell.clone())),
            _ => None,
        })
        .collect()
}

/// `x < 2, x > 5` (as "x < 2 or x > 5") as the intervals `(-∞, 2)` and `(5, ∞)`.
fn rays(items: &[Answer]) -> Option<Vec<Answer>> {
    items
        .iter()
        .map(|item| match item {
            Answer::Inequality(rel, lhs, rhs) => ray(*rel, lhs, rhs),
            _ => None,
        })
        .collect()
}

/// `x < c` → `(-∞, c)`, `c ≤ x` → `[c, ∞)`: an inequality between a variable and a constant as
/// an interval.
fn ray(rel: Relation, lhs: &Expr, rhs: &Expr) -> Option<Answer> {
    let infinity = Expr::Const(Constant::Infinity);
    let closed = rel == Relation::LessEq;
    let mut vars = Vec::new();
    match (lhs, rhs) {
        (Expr::Var(_), c)
            if {
                c.variables(&mut vars);
                vars.is_empty()
            } =>
        {
            Some(Answer::Bracketed {
                open: '(',
                close: if closed { ']' } else { ')' },
                items: vec![
                    Answer::Expr(Expr::Neg(Box::new(infinity))),
                    Answer::Expr(c.clone()),
                ],
            })
        }
        (c, Expr::Var(_))
            if {
                c.variables(&mut vars);
                vars.is_empty()
            } =>
        {
            Some(Answer::Bracketed {
                open: if closed { '[' } else { '(' },
                close: ')',
                items: vec![Answer::Expr(c.clone()), Answer::Expr(infinity)],
            })
        }
        _ => None,
    }
}

/// Combine two match results: both must hold; the weaker kind is reported.
fn both(a: Option<Match>, b: Option<Match>) -> Option<Match> {
    match (a?, b?) {
        (Match::Exact, m) | (m, Match::Exact) => Some(m),
        (m, _) => Some(m),
    }
}

/// The sorted free variables other than the imaginary unit, when both sides have the same ones.
fn same_variables(a: &Expr, b: &Expr) -> Option<Vec<String>> {
    let (mut va, mut vb) = (Vec::new(), Vec::new());
    a.variables(&mut va);
    b.variables(&mut vb);
    va.retain(|v| v != IMAGINARY_UNIT);
    vb.retain(|v| v != IMAGINARY_UNIT);
    (va == vb).then_some(va)
}

/// `+1` for `∞`, `-1` for `-∞`, `0` for any other use of ∞, `None` without ∞.
fn infinity_sign(e: &Expr) -> Option<i8> {
    match e {
        Expr::Const(Constant::Infinity) => Some(1),
        Expr::Neg(inner) if matches!(**inner, Expr::Const(Constant::Infinity)) => Some(-1),
        other if other.has_infinity() => Some(0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::super::normalize::normalize;
    use super::super::parser::parse_answer;
    use super::*;

    /// The match (if any) and the refusal noted on the way.
    fn compare(truth: &str, answer: &str) -> (Option<Match>, Option<Refusal>) {
        let (t, a) = (normalize(truth), normalize(answer));
        let pt = parse_answer(&tokenize(&t.text).unwrap(), 64).unwrap();
        let pa = parse_answer(&tokenize(&a.text).unwrap(), 64).unwrap();
        let mut budget = Budget::new(1_000_000);
        let percent = PercentSides {
            truth: t.percent,
            answer: a.percent,
        };
        let mut c = Comparer::new(&mut budget, ExactLimits { max_bits: 8192 }, percent);
        let m = c.answers(&pt, &pa).unwrap();
        (m, c.refusal)
    }

    fn equal(truth: &str, answer: &str) -> bool {
        compare(truth, answer).0.is_some()
    }

    #[test]
    fn exact_values_compare_exactly() {
        assert_eq!(compare(r"\frac{1}{2}", "0.5").0, Some(Match::Exact));
        assert!(equal(r"\frac{1}{3}", r"0.\overline{3}"));
        assert!(equal(r"\frac{1}{6}", r"0.1\overline{6}"));
        assert!(equal(r"\frac{1}{7}", r"0.\overline{142857}"));
        // Roundings of a non-terminating value are not the value.
        assert!(!equal(r"\frac{1}{3}", "0.33333"));
        assert!(!equal(r"\frac{25}{7}", "3.571429"));
        // A difference in the fifth decimal place is a difference.
        assert!(!equal("12.5", "12.50004"));
        assert!(!equal("3.14159", "3.14162"));
        assert!(!equal("100000", "100001"));
        assert!(equal(r"3 \times 10^{8}", "300000000"));
        assert!(equal(r"1.5 \cdot 10^{-3}", "0.0015"));
        assert!(equal(r"\sqrt{\frac{9}{4}}", "1.5"));
    }

    #[test]
    fn irrational_values_use_a_tight_tolerance() {
        assert_eq!(compare(r"3\sqrt{2}", r"\sqrt{18}").0, Some(Match::Numeric));
        assert!(equal(r"\frac{\sqrt{2}}{2}", r"\frac{1}{\sqrt{2}}"));
        assert!(equal(r"\frac{1}{2}", r"\cos \frac{\pi}{3}"));
        assert!(!equal(r"\pi", r"\frac{22}{7}"));
        assert!(!equal(r"\pi", r"\frac{355}{113}"));
        // A decimal is a rounding of an irrational value, however many digits it has.
        let (m, why) = compare(r"\frac{2\pi}{3}", "2.0944");
        assert_eq!((m, why), (None, Some(Refusal::DecimalVsIrrational)));
        assert!(!equal(r"\sqrt{2}", "1.4142135623730951"));
        assert!(equal(r"\frac{3\sqrt{2}}{2}", r"1.5\sqrt{2}"));
    }

    #[test]
    fn values_out_of_range_decide_nothing() {
        for answer in [
            r"e^{-1000}",
            r"\pi^{-1000}",
            r"10^{-400}\pi",
            r"\frac{1}{e^{800}}",
        ] {
            assert_eq!(
                compare("0", answer),
                (None, Some(Refusal::Range)),
                "{answer}"
            );
        }
        assert_eq!(compare(r"e^{-30}", r"e^{-31}").0, None);
        assert_eq!(compare("0", r"10^{-400}"), (None, None));
        assert_eq!(
            compare("1", r"10^{10^{5}}"),
            (None, Some(Refusal::TooLarge))
        );
        assert_eq!(compare("0", r"\pi - \pi").0, Some(Match::Numeric));
    }

    #[test]
    fn percentages_read_one_side_only() {
        assert_eq!(compare(r"50\%", "0.5").0, Some(Match::Percent));
        assert_eq!(compare("0.5", r"50\%").0, Some(Match::Percent));
        assert!(equal(r"50\%", "50"));
        assert!(!equal(r"50\%", "5000"));
        assert!(!equal("50", "0.5"));
    }

    #[test]
    fn complex_numbers() {
        assert!(equal("3+4i", "4i+3"));
        assert!(equal("2i", "(1+i)^2"));
        assert!(equal(r"\frac{1-i}{2}", r"\frac{1}{1+i}"));
        assert!(equal(r"2i", r"\sqrt{-4}"));
        assert!(equal(
            r"-\frac{1}{2}+\frac{\sqrt{3}}{2}i",
            r"\frac{-1+i\sqrt{3}}{2}"
        ));
        assert!(!equal("3+4i", "3-4i"));
        assert!(!equal("3+4i", "7"));
        assert!(!equal("2i", "2"));
    }

    #[test]
    fn expressions_with_variables() {
        assert!(equal("(x+1)^2", "x^2+2x+1"));
        assert!(!equal("(x+1)^2", "x^2+1"));
        assert!(equal(r"\frac{x^2-1}{x-1}", "x+1"));
        assert!(!equal("2x", "2y"));
        assert!(equal(r"\sqrt{x^2}", "|x|"));
        assert!(!equal(r"\sqrt{x^2}", "x"));
    }

    #[test]
    fn structures_and_brackets() {
        assert!(equal("(1, 2)", r"\left(1,2\right)"));
        assert!(!equal("(1, 2)", "[1, 2]"));
        assert!(!equal("(1, 2)", "(2, 1)"));
        assert!(equal(r"\{1, 2\}", r"\{2, 1\}"));
        assert!(equal("1, 2", "2, 1"));
        assert!(equal(
            r"(-\infty, 0) \cup (1, \infty)",
            r"(-\infty,0)\cup(1,\infty)"
        ));
        assert!(!equal(r"(-\infty, 0]", r"(-\infty, 0)"));
        assert!(equal(r"[3, \infty)", r"x \ge 3"));
        assert!(equal(r"(-\infty, 2)", r"x < 2"));
        assert!(!equal(r"(-\infty, 2)", r"x \le 2"));
        assert!(equal(r"1 \pm \sqrt{2}", r"1-\sqrt2, 1+\sqrt2"));
        assert!(equal(
            r"\frac{1 \pm \sqrt{5}}{2}",
            r"x = \frac{1+\sqrt{5}}{2}, \frac{1-\sqrt{5}}{2}"
        ));
        assert!(equal("2, 3", r"2 \text{ and } 3"));
        assert!(equal(r"(2, 5]", r"2 < x \le 5"));
        assert!(equal(r"(2, 5]", r"5 \ge x > 2"));
        assert!(!equal(r"(2, 5]", r"2 \le x \le 5"));
        assert!(equal(
            r"(-\infty, 2) \cup (5, \infty)",
            r"x < 2 \text{ or } x > 5"
        ));
        assert!(equal(r"\emptyset", r"\{\}"));
        assert!(equal(
            r"\begin{pmatrix}1&2\\3&4\end{pmatrix}",
            r"\begin{bmatrix}1&2\\3&\frac{8}{2}\end{bmatrix}"
        ));
    }

    #[test]
    fn plus_minus_inside_sets() {
        let three = r"\{1+\sqrt{5}, 1-\sqrt{5}, -2\}";
        assert!(equal(r"\{1\pm\sqrt{5},-2\}", three));
        assert!(equal(r"\left\{1\pm\sqrt{5},-2\right\}", three));
        assert!(equal(r"1\pm\sqrt{5},-2", "-2, 1-\\sqrt{5}, 1+\\sqrt{5}"));
        assert!(!equal(r"\{1\pm\sqrt{5},-2\}", r"\{1+\sqrt{5}, -2\}"));
        assert!(!equal(
            r"\{1\pm\sqrt{5},-2\}",
            r"\{1+\sqrt{5}, 1-\sqrt{5}, 2\}"
        ));
    }

    #[test]
    fn scaled_matrices() {
        let negated = r"\begin{pmatrix}-1&-2\\-3&-4\end{pmatrix}";
        assert!(equal(r"-\begin{pmatrix}1&2\\3&4\end{pmatrix}", negated));
        assert!(equal(negated, r"-\begin{pmatrix}1&2\\3&4\end{pmatrix}"));
        assert!(!equal(r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", negated));
        assert!(equal(
            r"\frac{1}{2}\begin{pmatrix}2&4\\6&8\end{pmatrix}",
            r"\begin{bmatrix}1&2\\3&4\end{bmatrix}"
        ));
        assert!(equal(
            r"\left(\begin{array}{cc}1&2\\3&4\end{array}\right)",
            r"\begin{pmatrix}1&2\\3&4\end{pmatrix}"
        ));
        assert!(equal(r"\begin{pmatrix}1\\-2\end{pmatrix}", "(1, -2)"));
        assert!(!equal(r"\begin{pmatrix}1\\-2\end{pmatrix}", "(-2, 1)"));
    }

    #[test]
    fn equations_and_choices() {
        assert!(equal("y = 2x + 1", "y = 1 + 2x"));
        assert!(equal("y = 2x + 1", "2x - y + 1 = 0"));
        assert!(equal("x = 3", "3"));
        assert!(equal("3", "x=3"));
        assert!(!equal("y = 2x + 1", "y = 2x"));
        assert!(equal("B", "(B)"));
        assert!(equal(r"\text{(E)}", "e"));
        assert!(!equal(r"\text{(D)}", "e"));
        assert!(!equal("B", "C"));
    }
}
