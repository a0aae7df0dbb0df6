//! Equivalence of two parsed answers: exact rationals where possible, numeric closeness with a
//! tolerance chosen by how the numbers were written, random-point identity tests for
//! expressions with variables, and bracket rules for structures.

use num_bigint::BigInt;
use num_rational::BigRational;

use super::ast::{Answer, Constant, Expr, Relation};
use super::budget::{Budget, Exhausted};
use super::eval::{Env, Evaluator};
use super::value::{EvalError, ExactLimits, Num};

/// Relative tolerance when a decimal literal is involved (a rounded answer; docs/algorithm.md §13).
pub const DECIMAL_REL_TOL: f64 = 1e-4;
/// Relative tolerance between two exact-looking expressions that evaluate to floats (π, roots).
pub const SYMBOLIC_REL_TOL: f64 = 1e-9;
/// Absolute floor for values near zero.
const ABS_TOL: f64 = 1e-12;
/// Random points tried for expressions with variables, and how many must evaluate.
const TRIALS: usize = 12;
const NEEDED: usize = 4;

/// How two answers matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Exactly equal rationals or identical structure.
    Exact,
    /// Equal within tolerance.
    Numeric,
    /// Equal after reading the ground truth or answer as a percentage.
    Percent,
    /// Equal at every random point tried.
    Identity,
}

/// Compares answers under one budget.
pub struct Comparer<'b> {
    budget: &'b mut Budget,
    limits: ExactLimits,
    /// Either side had a `%`.
    pub percent: bool,
    seed: u64,
}

fn next_random(state: &mut u64) -> u64 {
    // SplitMix64: deterministic, so verdicts are reproducible.
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl<'b> Comparer<'b> {
    /// A comparer drawing from `budget`.
    pub fn new(budget: &'b mut Budget, limits: ExactLimits, percent: bool) -> Self {
        Self {
            budget,
            limits,
            percent,
            seed: 0x5EED,
        }
    }

    fn eval(&mut self, e: &Expr, env: &Env) -> Result<Num, EvalError> {
        Evaluator {
            budget: self.budget,
            limits: self.limits,
        }
        .eval(e, env)
    }

    /// Whether `answer` is equivalent to `truth`; `Err` when the budget ran out.
    pub fn answers(&mut self, truth: &Answer, answer: &Answer) -> Result<Option<Match>, Exhausted> {
        self.budget.charge(1)?;
        Ok(match (truth, answer) {
            (Answer::Choice(a), Answer::Choice(b)) => (a == b).then_some(Match::Exact),
            (Answer::Choice(a), Answer::Expr(Expr::Var(v))) => v
                .eq_ignore_ascii_case(&a.to_string())
                .then_some(Match::Exact),
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
        let vars = same_variables(&f, &g);
        let Some(vars) = vars else { return Ok(None) };
        let mut ratio: Option<Num> = None;
        let mut ok = 0;
        for trial in 0..TRIALS {
            let env = self.point(&vars, trial);
            let (a, b) = match (self.eval(&f, &env), self.eval(&g, &env)) {
                (Err(EvalError::Budget), _) | (_, Err(EvalError::Budget)) => return Err(Exhausted),
                (Ok(a), Ok(b)) => (a, b),
                _ => continue,
            };
            if a.is_zero() || b.is_zero() {
                if a.is_zero() != b.is_zero() {
                    return Ok(None);
                }
                continue;
            }
            let r = match super::value::binary(
                super::value::BinOp::Div,
                &a,
                &b,
                self.budget,
                self.limits,
            ) {
                Ok(r) => r,
                Err(EvalError::Budget) => return Err(Exhausted),
                Err(_) => continue,
            };
            match &ratio {
                None => ratio = Some(r),
                Some(first) => {
                    if !close(first, &r, SYMBOLIC_REL_TOL) {
                        return Ok(None);
                    }
                }
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
        let tol = if a.has_decimal() || b.has_decimal() {
            DECIMAL_REL_TOL
        } else {
            SYMBOLIC_REL_TOL
        };
        let Some(vars) = same_variables(a, b) else {
            return Ok(None);
        };
        if vars.is_empty() {
            let (x, y) = match (self.eval(a, &Env::new()), self.eval(b, &Env::new())) {
                (Err(EvalError::Budget), _) | (_, Err(EvalError::Budget)) => return Err(Exhausted),
                (Ok(x), Ok(y)) => (x, y),
                _ => return Ok(None),
            };
            return Ok(self.numbers(&x, &y, tol));
        }
        let mut ok = 0;
        let mut exact = true;
        for trial in 0..TRIALS {
            let env = self.point(&vars, trial);
            let (x, y) = match (self.eval(a, &env), self.eval(b, &env)) {
                (Err(EvalError::Budget), _) | (_, Err(EvalError::Budget)) => return Err(Exhausted),
                (Ok(x), Ok(y)) => (x, y),
                // Undefined on one side or both (a pole, a removable point): try another point.
                _ => continue,
            };
            exact &= x.exact().is_some() && y.exact().is_some();
            if !close(&x, &y, tol) {
                return Ok(None);
            }
            ok += 1;
            if ok >= NEEDED && exact {
                break;
            }
        }
        Ok((ok >= NEEDED).then_some(Match::Identity))
    }

    /// Two numbers: exact equality, closeness, or the percent variants.
    fn numbers(&mut self, x: &Num, y: &Num, tol: f64) -> Option<Match> {
        if let (Some(a), Some(b)) = (x.exact(), y.exact()) {
            if a == b {
                return Some(Match::Exact);
            }
        }
        let both_exact = x.exact().is_some() && y.exact().is_some();
        if !(both_exact && tol == SYMBOLIC_REL_TOL) && close(x, y, tol) {
            return Some(Match::Numeric);
        }
        if self.percent {
            let (xf, yf) = (x.to_f64(), y.to_f64());
            let scaled = [Num::Approx(yf * 100.0), Num::Approx(yf / 100.0)];
            let percent_tol = tol.max(DECIMAL_REL_TOL * 1e-2);
            if scaled
                .iter()
                .any(|s| close(&Num::Approx(xf), s, percent_tol))
            {
                return Some(Match::Percent);
            }
        }
        None
    }
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

/// The sorted free variables, when both sides have the same ones.
fn same_variables(a: &Expr, b: &Expr) -> Option<Vec<String>> {
    let (mut va, mut vb) = (Vec::new(), Vec::new());
    a.variables(&mut va);
    b.variables(&mut vb);
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

/// `|x - y| ≤ rel · max(|x|, |y|)` or `|x - y| ≤ 1e-12` (both finite).
pub fn close(x: &Num, y: &Num, rel: f64) -> bool {
    if let (Some(a), Some(b)) = (x.exact(), y.exact()) {
        if a == b {
            return true;
        }
    }
    let (a, b) = (x.to_f64(), y.to_f64());
    if !a.is_finite() || !b.is_finite() {
        return false;
    }
    let diff = (a - b).abs();
    diff <= ABS_TOL || diff <= rel * a.abs().max(b.abs())
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::super::normalize::normalize;
    use super::super::parser::parse_answer;
    use super::*;

    fn equal(truth: &str, answer: &str) -> bool {
        let (t, a) = (normalize(truth), normalize(answer));
        let pt = parse_answer(&tokenize(&t.text).unwrap(), 64).unwrap();
        let pa = parse_answer(&tokenize(&a.text).unwrap(), 64).unwrap();
        let mut budget = Budget::new(1_000_000);
        let mut c = Comparer::new(
            &mut budget,
            ExactLimits { max_bits: 8192 },
            t.percent || a.percent,
        );
        c.answers(&pt, &pa).unwrap().is_some()
    }

    #[test]
    fn numbers() {
        assert!(equal(r"\frac{1}{2}", "0.5"));
        assert!(equal(r"\frac{1}{3}", "0.33333"));
        assert!(!equal(r"\frac{1}{3}", "0.33"));
        assert!(!equal("100000", "100001"));
        assert!(equal(r"3\sqrt{2}", r"\sqrt{18}"));
        assert!(!equal(r"\pi", r"\frac{22}{7}"));
        assert!(equal(r"50\%", "0.5"));
        assert!(!equal("50", "0.5"));
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
        assert!(equal(
            r"\begin{pmatrix}1&2\\3&4\end{pmatrix}",
            r"\begin{bmatrix}1&2\\3&\frac{8}{2}\end{bmatrix}"
        ));
    }

    #[test]
    fn equations_and_choices() {
        assert!(equal("y = 2x + 1", "y = 1 + 2x"));
        assert!(equal("y = 2x + 1", "2x - y + 1 = 0"));
        assert!(equal("x = 3", "3"));
        assert!(equal("3", "x=3"));
        assert!(!equal("y = 2x + 1", "y = 2x"));
        assert!(equal("B", "(B)"));
        assert!(!equal("B", "C"));
    }
}
