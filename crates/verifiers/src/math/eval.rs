//! Evaluation of an [`Expr`] under a variable assignment, exact where possible, paying every
//! step from a [`Budget`].

use std::collections::HashMap;

use num_traits::Signed;

use super::ast::{Constant, Expr, Func};
use super::budget::Budget;
use super::value::{self, BinOp, EvalError, ExactLimits, Num};

/// Values of the free variables.
pub type Env = HashMap<String, Num>;

/// Evaluates expressions.
pub struct Evaluator<'b> {
    /// Pays for every step.
    pub budget: &'b mut Budget,
    /// Size limits of exact values.
    pub limits: ExactLimits,
}

impl Evaluator<'_> {
    /// The value of `e` with variables taken from `env`.
    pub fn eval(&mut self, e: &Expr, env: &Env) -> Result<Num, EvalError> {
        self.budget.charge(1)?;
        let limits = self.limits;
        match e {
            Expr::Num { value, .. } => Ok(Num::Exact(value.clone())),
            Expr::Var(name) => env.get(name).cloned().ok_or(EvalError::Unbound),
            Expr::Const(Constant::Pi) => Ok(Num::Approx(std::f64::consts::PI)),
            Expr::Const(Constant::E) => Ok(Num::Approx(std::f64::consts::E)),
            Expr::Const(Constant::Infinity) => Err(EvalError::Domain),
            Expr::Neg(a) => Ok(value::neg(&self.eval(a, env)?)),
            Expr::Add(a, b) => self.binary(BinOp::Add, a, b, env),
            Expr::Sub(a, b) => self.binary(BinOp::Sub, a, b, env),
            Expr::Mul(a, b) => self.binary(BinOp::Mul, a, b, env),
            Expr::Div(a, b) => self.binary(BinOp::Div, a, b, env),
            Expr::Pow(a, b) => {
                let (x, y) = (self.eval(a, env)?, self.eval(b, env)?);
                value::pow(&x, &y, self.budget, limits)
            }
            Expr::Root(a, n) => {
                let (x, k) = (self.eval(a, env)?, self.eval(n, env)?);
                value::root(&x, &k, self.budget, limits)
            }
            Expr::Factorial(a) => {
                let x = self.eval(a, env)?;
                value::factorial(&x, self.budget, limits)
            }
            Expr::Binom(n, k) => {
                let (n, k) = (self.eval(n, env)?, self.eval(k, env)?);
                value::binomial(&n, &k, self.budget, limits)
            }
            Expr::Log(a, base) => {
                let (x, b) = (self.eval(a, env)?, self.eval(base, env)?);
                self.log(&x, &b)
            }
            Expr::Call(f, a) => {
                let x = self.eval(a, env)?;
                call(*f, &x)
            }
        }
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr, env: &Env) -> Result<Num, EvalError> {
        let x = self.eval(a, env)?;
        let y = self.eval(b, env)?;
        value::binary(op, &x, &y, self.budget, self.limits)
    }

    /// `log_b x`, exact when `x` is an integer power of an integer base (`log_2 8 = 3`).
    fn log(&mut self, x: &Num, base: &Num) -> Result<Num, EvalError> {
        if let (Some(xr), Some(br)) = (x.exact(), base.exact()) {
            if xr.is_integer() && br.is_integer() && br.numer() > &1.into() && xr.is_positive() {
                let (xi, bi) = (xr.to_integer(), br.to_integer());
                let mut power = bi.clone();
                let mut k = 1i64;
                while power < xi && power.bits() <= xi.bits() {
                    self.budget.charge(power.bits() / 64 + 1)?;
                    power *= &bi;
                    k += 1;
                }
                if power == xi {
                    return Ok(Num::int(k));
                }
            }
        }
        let (xf, bf) = (x.to_float()?, base.to_float()?);
        if xf <= 0.0 || bf <= 0.0 || bf == 1.0 {
            return Err(EvalError::Domain);
        }
        value::float(xf.ln() / bf.ln(), false)
    }
}

fn call(f: Func, x: &Num) -> Result<Num, EvalError> {
    if let Some(r) = x.exact() {
        match f {
            Func::Abs => return Ok(Num::Exact(r.abs())),
            Func::Floor => return Ok(Num::Exact(r.floor())),
            Func::Ceil => return Ok(Num::Exact(r.ceil())),
            Func::Ln if r.is_integer() && r.to_integer() == 1.into() => return Ok(Num::int(0)),
            Func::Exp | Func::Sin | Func::Tan | Func::Asin | Func::Atan
                if r.numer().sign() == num_bigint::Sign::NoSign =>
            {
                return Ok(match f {
                    Func::Exp => Num::int(1),
                    _ => Num::int(0),
                })
            }
            _ => {}
        }
    }
    let v = x.to_float()?;
    let y = match f {
        Func::Sin => v.sin(),
        Func::Cos => v.cos(),
        Func::Tan => v.tan(),
        Func::Cot => 1.0 / v.tan(),
        Func::Sec => 1.0 / v.cos(),
        Func::Csc => 1.0 / v.sin(),
        Func::Asin if v.abs() <= 1.0 => v.asin(),
        Func::Acos if v.abs() <= 1.0 => v.acos(),
        Func::Asin | Func::Acos => return Err(EvalError::Domain),
        Func::Atan => v.atan(),
        Func::Ln if v > 0.0 => v.ln(),
        Func::Ln => return Err(EvalError::Domain),
        Func::Exp => v.exp(),
        Func::Abs => v.abs(),
        Func::Floor => v.floor(),
        Func::Ceil => v.ceil(),
    };
    value::float(y, f == Func::Exp)
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::super::parser::parse_expr;
    use super::*;

    fn eval(s: &str, env: &Env) -> Result<Num, EvalError> {
        let e = parse_expr(&tokenize(s).unwrap(), 64).unwrap();
        let mut budget = Budget::new(1_000_000);
        Evaluator {
            budget: &mut budget,
            limits: ExactLimits { max_bits: 4096 },
        }
        .eval(&e, env)
    }

    fn exact(s: &str) -> String {
        eval(s, &Env::new()).unwrap().exact().unwrap().to_string()
    }

    fn approx(s: &str) -> f64 {
        eval(s, &Env::new()).unwrap().to_float().unwrap()
    }

    #[test]
    fn exact_values() {
        assert_eq!(exact(r"\frac{3}{4} + 0.25"), "1");
        assert_eq!(exact(r"2\frac{1}{3}"), "7/3");
        assert_eq!(exact(r"\sqrt{\frac{18}{8}}"), "3/2");
        assert_eq!(exact(r"\log_2 8"), "3");
        assert_eq!(exact(r"\log 1000"), "3");
        assert_eq!(exact(r"\binom{5}{2} + 3!"), "16");
        assert_eq!(exact(r"|-3| - 2^{-1}"), "5/2");
        assert_eq!(exact(r"8^{2/3}"), "4");
    }

    #[test]
    fn approximate_values() {
        assert!((approx(r"\frac{\sqrt{3}}{2}") - 0.866_025_403_784_438_6).abs() < 1e-15);
        assert!((approx(r"2\pi") - std::f64::consts::TAU).abs() < 1e-15);
        assert!((approx(r"\sin^2 1 + \cos^2 1") - 1.0).abs() < 1e-15);
        assert!((approx(r"e^2") - 7.389_056_098_930_65).abs() < 1e-12);
        assert!((approx(r"\ln 2") - std::f64::consts::LN_2).abs() < 1e-15);
    }

    #[test]
    fn variables_and_domain_errors() {
        let mut env = Env::new();
        env.insert("x".into(), Num::int(3));
        assert_eq!(eval("x^2 - 1", &env).unwrap(), Num::int(8));
        assert_eq!(eval("y", &env), Err(EvalError::Unbound));
        assert_eq!(eval(r"\ln(-1)", &env), Err(EvalError::Domain));
        assert_eq!(eval(r"\frac{1}{x-3}", &env), Err(EvalError::Domain));
    }

    #[test]
    fn out_of_range_values_are_errors() {
        let none = Env::new();
        assert_eq!(eval(r"e^{-1000}", &none), Err(EvalError::Range));
        assert_eq!(eval(r"\exp(1000)", &none), Err(EvalError::Range));
        assert_eq!(eval(r"\pi \cdot 10^{-400}", &none), Err(EvalError::Range));
        assert_eq!(eval(r"10^{5000}", &none), Err(EvalError::TooLarge));
        assert!(eval(r"10^{-400}", &none).unwrap().exact().is_some());
    }
}
