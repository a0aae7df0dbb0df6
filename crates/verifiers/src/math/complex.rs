//! Complex values, for answers that use the imaginary unit `i` (`3+4i`, `\frac{1}{1+i}`,
//! `2i\sqrt{3}`, `\sqrt{-4}`). Both parts are [`Num`]s, exact while possible, and pay from the
//! same budget as real evaluation.
//!
//! Supported: `+ − · /`, integer powers (|n| ≤ [`MAX_COMPLEX_POWER`]) and square roots of negative
//! reals. `i` inside a function, a logarithm, an exponent or a root is an error (the comparison
//! then finds the answers not equivalent).

use num_traits::Signed;

use super::ast::Expr;
use super::eval::{Env, Evaluator};
use super::value::{self, BinOp, EvalError, Num};

/// The letter read as the imaginary unit wherever it occurs in an answer.
pub const IMAGINARY_UNIT: &str = "i";

/// Largest |n| of `z^n` with a non-real `z`.
pub const MAX_COMPLEX_POWER: i64 = 64;

/// `re + im·i`.
#[derive(Debug, Clone, PartialEq)]
pub struct Complex {
    /// Real part.
    pub re: Num,
    /// Imaginary part.
    pub im: Num,
}

impl Complex {
    fn real(re: Num) -> Self {
        Complex {
            re,
            im: Num::int(0),
        }
    }

    /// Whether both parts are exact.
    pub fn is_exact(&self) -> bool {
        self.re.exact().is_some() && self.im.exact().is_some()
    }
}

/// Whether `e` uses the imaginary unit.
pub fn mentions_i(e: &Expr) -> bool {
    let mut found = false;
    e.visit(&mut |node| found |= matches!(node, Expr::Var(v) if v == IMAGINARY_UNIT));
    found
}

/// The complex value of `e` with the real variables of `env`.
pub fn eval_complex(ev: &mut Evaluator<'_>, e: &Expr, env: &Env) -> Result<Complex, EvalError> {
    ev.budget.charge(1)?;
    match e {
        Expr::Var(v) if v == IMAGINARY_UNIT => Ok(Complex {
            re: Num::int(0),
            im: Num::int(1),
        }),
        Expr::Neg(a) => {
            let z = eval_complex(ev, a, env)?;
            Ok(Complex {
                re: value::neg(&z.re),
                im: value::neg(&z.im),
            })
        }
        Expr::Add(a, b) | Expr::Sub(a, b) => {
            let (z, w) = (eval_complex(ev, a, env)?, eval_complex(ev, b, env)?);
            let op = if matches!(e, Expr::Add(..)) {
                BinOp::Add
            } else {
                BinOp::Sub
            };
            Ok(Complex {
                re: arith(ev, op, &z.re, &w.re)?,
                im: arith(ev, op, &z.im, &w.im)?,
            })
        }
        Expr::Mul(a, b) => {
            let (z, w) = (eval_complex(ev, a, env)?, eval_complex(ev, b, env)?);
            multiply(ev, &z, &w)
        }
        Expr::Div(a, b) => {
            let (z, w) = (eval_complex(ev, a, env)?, eval_complex(ev, b, env)?);
            divide(ev, &z, &w)
        }
        Expr::Pow(a, b) if !mentions_i(b) => {
            let z = eval_complex(ev, a, env)?;
            let n = ev.eval(b, env)?;
            if z.im.is_zero() {
                return value::pow(&z.re, &n, ev.budget, ev.limits).map(Complex::real);
            }
            power(ev, z, &n)
        }
        Expr::Root(a, index) if !mentions_i(a) && !mentions_i(index) => {
            let (x, k) = (ev.eval(a, env)?, ev.eval(index, env)?);
            let square = k
                .exact()
                .is_some_and(|k| k.is_integer() && k.to_integer() == 2.into());
            let negative = match &x {
                Num::Exact(r) => r.is_negative(),
                Num::Approx(f) => *f < 0.0,
            };
            if square && negative {
                let root = value::root(&value::neg(&x), &k, ev.budget, ev.limits)?;
                return Ok(Complex {
                    re: Num::int(0),
                    im: root,
                });
            }
            value::root(&x, &k, ev.budget, ev.limits).map(Complex::real)
        }
        other if !mentions_i(other) => ev.eval(other, env).map(Complex::real),
        _ => Err(EvalError::Domain),
    }
}

fn arith(ev: &mut Evaluator<'_>, op: BinOp, x: &Num, y: &Num) -> Result<Num, EvalError> {
    value::binary(op, x, y, ev.budget, ev.limits)
}

/// `(a + bi)(c + di) = (ac − bd) + (ad + bc)i`.
fn multiply(ev: &mut Evaluator<'_>, z: &Complex, w: &Complex) -> Result<Complex, EvalError> {
    let ac = arith(ev, BinOp::Mul, &z.re, &w.re)?;
    let bd = arith(ev, BinOp::Mul, &z.im, &w.im)?;
    let ad = arith(ev, BinOp::Mul, &z.re, &w.im)?;
    let bc = arith(ev, BinOp::Mul, &z.im, &w.re)?;
    Ok(Complex {
        re: arith(ev, BinOp::Sub, &ac, &bd)?,
        im: arith(ev, BinOp::Add, &ad, &bc)?,
    })
}

/// `z / w = z · conj(w) / |w|²`.
fn divide(ev: &mut Evaluator<'_>, z: &Complex, w: &Complex) -> Result<Complex, EvalError> {
    let cc = arith(ev, BinOp::Mul, &w.re, &w.re)?;
    let dd = arith(ev, BinOp::Mul, &w.im, &w.im)?;
    let norm = arith(ev, BinOp::Add, &cc, &dd)?;
    let conjugate = Complex {
        re: w.re.clone(),
        im: value::neg(&w.im),
    };
    let numerator = multiply(ev, z, &conjugate)?;
    Ok(Complex {
        re: arith(ev, BinOp::Div, &numerator.re, &norm)?,
        im: arith(ev, BinOp::Div, &numerator.im, &norm)?,
    })
}

/// `z^n` for an integer `n`, by repeated squaring.
fn power(ev: &mut Evaluator<'_>, z: Complex, n: &Num) -> Result<Complex, EvalError> {
    let n = match n.exact() {
        Some(r) if r.is_integer() => r.to_integer(),
        _ => return Err(EvalError::Domain),
    };
    let n: i64 = n.try_into().map_err(|_| EvalError::TooLarge)?;
    if n.abs() > MAX_COMPLEX_POWER {
        return Err(EvalError::TooLarge);
    }
    let mut result = Complex::real(Num::int(1));
    let mut base = z;
    let mut k = n.unsigned_abs();
    while k > 0 {
        if k & 1 == 1 {
            result = multiply(ev, &result, &base)?;
        }
        k >>= 1;
        if k > 0 {
            base = multiply(ev, &base, &base)?;
        }
    }
    if n < 0 {
        result = divide(ev, &Complex::real(Num::int(1)), &result)?;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::super::budget::Budget;
    use super::super::lexer::tokenize;
    use super::super::parser::parse_expr;
    use super::super::value::ExactLimits;
    use super::*;

    fn eval(s: &str) -> Result<Complex, EvalError> {
        let e = parse_expr(&tokenize(s).unwrap(), 64).unwrap();
        let mut budget = Budget::new(1_000_000);
        let mut ev = Evaluator {
            budget: &mut budget,
            limits: ExactLimits { max_bits: 4096 },
        };
        eval_complex(&mut ev, &e, &Env::new())
    }

    fn parts(s: &str) -> (String, String) {
        let z = eval(s).unwrap();
        (
            z.re.exact().unwrap().to_string(),
            z.im.exact().unwrap().to_string(),
        )
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(parts("3+4i"), ("3".into(), "4".into()));
        assert_eq!(parts("(1+i)^2"), ("0".into(), "2".into()));
        assert_eq!(parts(r"\frac{1}{1+i}"), ("1/2".into(), "-1/2".into()));
        assert_eq!(parts("i^{-3}"), ("0".into(), "1".into()));
        assert_eq!(parts(r"\sqrt{-4}"), ("0".into(), "2".into()));
        assert_eq!(parts(r"(2-i)(2+i)"), ("5".into(), "0".into()));
    }

    #[test]
    fn unsupported_forms_are_errors() {
        assert_eq!(eval(r"e^{i\pi}"), Err(EvalError::Domain));
        assert_eq!(eval(r"\sin(i)"), Err(EvalError::Domain));
        assert_eq!(eval("(1+i)^{1000}"), Err(EvalError::TooLarge));
        let z = eval(r"2i\sqrt{3}").unwrap();
        assert!((z.im.to_float().unwrap() - 2.0 * 3f64.sqrt()).abs() < 1e-12);
    }
}
