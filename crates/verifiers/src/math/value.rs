//! Numbers during evaluation: exact rationals while possible, `f64` once something irrational
//! (π, a non-perfect root, a logarithm) enters.
//!
//! Two rules keep a float from deciding an equality it cannot support: an exact value never turns
//! into a float because it grew too large (that is [`EvalError::TooLarge`]), and a float that
//! over- or underflowed (infinite, subnormal, or zero where the exact result is not) is
//! [`EvalError::Range`], never a value.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use super::budget::{Budget, Exhausted};

/// A value: exact or approximate.
#[derive(Debug, Clone, PartialEq)]
pub enum Num {
    /// An exact rational.
    Exact(BigRational),
    /// A normal (finite, not subnormal) floating-point approximation, or zero.
    Approx(f64),
}

/// Why a value could not be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalError {
    /// Outside the domain (division by zero, log of a negative, …).
    Domain,
    /// A variable without a value.
    Unbound,
    /// The step budget ran out.
    Budget,
    /// A floating-point value over- or underflowed.
    Range,
    /// An exact value needs more bits than [`ExactLimits::max_bits`].
    TooLarge,
}

impl From<Exhausted> for EvalError {
    fn from(_: Exhausted) -> Self {
        EvalError::Budget
    }
}

/// Limits of exact arithmetic.
#[derive(Debug, Clone, Copy)]
pub struct ExactLimits {
    /// An exact result with more bits (numerator + denominator) than this is not computed.
    pub max_bits: u64,
}

/// A float result as a value: NaN is a domain error; an infinite or subnormal result, or a zero
/// where the exact result cannot be zero (`nonzero`), is [`EvalError::Range`].
pub fn float(x: f64, nonzero: bool) -> Result<Num, EvalError> {
    if x.is_nan() {
        Err(EvalError::Domain)
    } else if x.is_infinite() || x.is_subnormal() || (x == 0.0 && nonzero) {
        Err(EvalError::Range)
    } else {
        Ok(Num::Approx(x))
    }
}

impl Num {
    /// An exact integer.
    pub fn int(n: i64) -> Num {
        Num::Exact(BigRational::from_integer(BigInt::from(n)))
    }

    /// The value as a float, or [`EvalError::Range`] when an exact value has none (too large,
    /// or so small that it flushes to zero or to a subnormal).
    pub fn to_float(&self) -> Result<f64, EvalError> {
        match self {
            Num::Exact(r) => {
                let x = r.to_f64().unwrap_or(f64::NAN);
                float(x, !r.is_zero()).map(|_| x)
            }
            Num::Approx(x) => Ok(*x),
        }
    }

    /// The exact value, if any.
    pub fn exact(&self) -> Option<&BigRational> {
        match self {
            Num::Exact(r) => Some(r),
            Num::Approx(_) => None,
        }
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        match self {
            Num::Exact(r) => r.is_zero(),
            Num::Approx(x) => *x == 0.0,
        }
    }
}

/// Bits of a rational (numerator + denominator).
pub fn bits(r: &BigRational) -> u64 {
    r.numer().bits() + r.denom().bits()
}

/// The cost of one operation on exact operands: quadratic in their size in 64-bit words.
fn cost(a: &BigRational, b: &BigRational) -> u64 {
    let words = (bits(a) + bits(b)) / 64 + 1;
    words.saturating_mul(words)
}

/// An exact result, or [`EvalError::TooLarge`] past the size limit (never a float).
fn within_limits(r: BigRational, limits: ExactLimits) -> Result<Num, EvalError> {
    if bits(&r) > limits.max_bits {
        Err(EvalError::TooLarge)
    } else {
        Ok(Num::Exact(r))
    }
}

/// Binary operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a · b`
    Mul,
    /// `a / b`
    Div,
}

/// `a op b`, exact when both are exact.
pub fn binary(
    op: BinOp,
    a: &Num,
    b: &Num,
    budget: &mut Budget,
    limits: ExactLimits,
) -> Result<Num, EvalError> {
    if let (Num::Exact(x), Num::Exact(y)) = (a, b) {
        budget.charge(cost(x, y))?;
        let r = match op {
            BinOp::Add => x + y,
            BinOp::Sub => x - y,
            BinOp::Mul => x * y,
            BinOp::Div => {
                if y.is_zero() {
                    return Err(EvalError::Domain);
                }
                x / y
            }
        };
        return within_limits(r, limits);
    }
    budget.charge(1)?;
    let (x, y) = (a.to_float()?, b.to_float()?);
    match op {
        BinOp::Add => float(x + y, false),
        BinOp::Sub => float(x - y, false),
        BinOp::Mul => float(x * y, x != 0.0 && y != 0.0),
        BinOp::Div => {
            if y == 0.0 {
                return Err(EvalError::Domain);
            }
            float(x / y, x != 0.0)
        }
    }
}

/// `-a`.
pub fn neg(a: &Num) -> Num {
    match a {
        Num::Exact(r) => Num::Exact(-r),
        Num::Approx(x) => Num::Approx(-x),
    }
}

/// The exact `n`-th root of a non-negative integer, if it is a perfect power.
fn exact_int_root(x: &BigInt, n: u32) -> Option<BigInt> {
    let root = x.nth_root(n);
    (num_traits::pow(root.clone(), n as usize) == *x).then_some(root)
}

/// The exact `n`-th root of a rational (`n` ≥ 1), if it is rational. Negative radicands have a
/// real root only for odd `n`.
fn exact_root(r: &BigRational, n: u32) -> Option<BigRational> {
    let negative = r.is_negative();
    if negative && n % 2 == 0 {
        return None;
    }
    let numer = exact_int_root(&r.numer().abs(), n)?;
    let denom = exact_int_root(r.denom(), n)?;
    let root = BigRational::new(numer, denom);
    Some(if negative { -root } else { root })
}

/// Real `n`-th root of a float, with odd roots of negatives allowed.
fn float_root(x: f64, n: f64) -> f64 {
    if x < 0.0 && n.fract() == 0.0 && (n as i64) % 2 != 0 {
        -(-x).powf(1.0 / n)
    } else {
        x.powf(1.0 / n)
    }
}

/// `base ^ exponent`: exact for rational bases with integer exponents (bounded result size) and
/// for rational exponents `p/q` whose `q`-th root is rational.
pub fn pow(
    base: &Num,
    exponent: &Num,
    budget: &mut Budget,
    limits: ExactLimits,
) -> Result<Num, EvalError> {
    if let (Num::Exact(b), Num::Exact(e)) = (base, exponent) {
        if let Some(result) = exact_pow(b, e, budget, limits)? {
            return Ok(result);
        }
    }
    budget.charge(1)?;
    let (b, e) = (base.to_float()?, exponent.to_float()?);
    if b < 0.0 && e.fract() != 0.0 {
        // A real odd root of a negative base: (-8)^(1/3) = -2.
        if let Num::Exact(er) = exponent {
            let q = er.denom().to_u32().unwrap_or(0);
            if q % 2 == 1 {
                let p = er.numer().to_f64().unwrap_or(f64::NAN);
                return float(float_root(b, q as f64).powf(p), true);
            }
        }
        return Err(EvalError::Domain);
    }
    if b == 0.0 && e < 0.0 {
        return Err(EvalError::Domain);
    }
    float(b.powf(e), b != 0.0)
}

fn exact_pow(
    b: &BigRational,
    e: &BigRational,
    budget: &mut Budget,
    limits: ExactLimits,
) -> Result<Option<Num>, EvalError> {
    let q = match e.denom().to_u32() {
        Some(q) if q <= 64 => q,
        _ => return Ok(None),
    };
    let base = if q == 1 {
        b.clone()
    } else {
        budget.charge((bits(b) / 64 + 1).pow(2) * u64::from(q))?;
        match exact_root(b, q) {
            Some(root) => root,
            None => return Ok(None),
        }
    };
    let p = match e.numer().to_i64() {
        Some(p) => p,
        None => return Ok(None),
    };
    if base.abs().is_one() {
        let odd = p % 2 != 0;
        return Ok(Some(Num::Exact(if odd { base } else { base.abs() })));
    }
    if base.is_zero() {
        return match p.signum() {
            -1 => Err(EvalError::Domain),
            0 => Ok(Some(Num::int(1))),
            _ => Ok(Some(Num::int(0))),
        };
    }
    let magnitude = p.unsigned_abs();
    let result_bits = bits(&base).saturating_mul(magnitude);
    if result_bits > limits.max_bits {
        return Err(EvalError::TooLarge);
    }
    let words = result_bits / 64 + 1;
    budget.charge(words.saturating_mul(words))?;
    let powered = num_traits::pow(base, magnitude as usize);
    Ok(Some(Num::Exact(if p < 0 {
        powered.recip()
    } else {
        powered
    })))
}

/// The real `index`-th root, exact where the result is rational.
pub fn root(
    radicand: &Num,
    index: &Num,
    budget: &mut Budget,
    limits: ExactLimits,
) -> Result<Num, EvalError> {
    if let Num::Exact(i) = index {
        if i.is_integer() && i.is_positive() {
            let exponent = Num::Exact(i.recip());
            return pow(radicand, &exponent, budget, limits);
        }
    }
    let n = index.to_float()?;
    if n == 0.0 {
        return Err(EvalError::Domain);
    }
    let x = radicand.to_float()?;
    float(float_root(x, n), x != 0.0)
}

/// `n!` for a non-negative integer, exact while its size stays under the limits.
pub fn factorial(n: &Num, budget: &mut Budget, limits: ExactLimits) -> Result<Num, EvalError> {
    let r = n.exact().ok_or(EvalError::Domain)?;
    if !r.is_integer() || r.is_negative() {
        return Err(EvalError::Domain);
    }
    let k = r.to_integer().to_u64().ok_or(EvalError::TooLarge)?;
    let mut acc = BigInt::one();
    for i in 2..=k {
        budget.charge(acc.bits() / 64 + 1)?;
        acc *= i;
        if acc.bits() > limits.max_bits {
            return Err(EvalError::TooLarge);
        }
    }
    Ok(Num::Exact(BigRational::from_integer(acc)))
}

/// `binom(n, k)` for integers `0 ≤ k`, exact.
pub fn binomial(
    n: &Num,
    k: &Num,
    budget: &mut Budget,
    limits: ExactLimits,
) -> Result<Num, EvalError> {
    let (n, k) = match (n.exact(), k.exact()) {
        (Some(n), Some(k)) if n.is_integer() && k.is_integer() => (n.to_integer(), k.to_integer()),
        _ => return Err(EvalError::Domain),
    };
    if n.is_negative() || k.is_negative() || k > n {
        return Err(EvalError::Domain);
    }
    // C(n, k) = C(n, n - k); the running product C(n, i) stays an integer, so each step is an
    // exact integer division (no gcd).
    let k = std::cmp::min(k.clone(), &n - &k)
        .to_u64()
        .ok_or(EvalError::TooLarge)?;
    let mut acc = BigInt::one();
    for i in 0..k {
        let words = acc.bits() / 64 + 1;
        budget.charge(words.saturating_mul(4))?;
        acc = acc * (&n - BigInt::from(i)) / BigInt::from(i + 1);
        if acc.bits() > limits.max_bits {
            return Err(EvalError::TooLarge);
        }
    }
    Ok(Num::Exact(BigRational::from_integer(acc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ExactLimits = ExactLimits { max_bits: 4096 };

    fn q(n: i64, d: i64) -> Num {
        Num::Exact(BigRational::new(BigInt::from(n), BigInt::from(d)))
    }

    #[test]
    fn exact_arithmetic_stays_exact() {
        let mut budget = Budget::new(1_000);
        let sum = binary(BinOp::Add, &q(1, 3), &q(1, 6), &mut budget, LIMITS).unwrap();
        assert_eq!(sum, q(1, 2));
        let quotient = binary(BinOp::Div, &q(3, 4), &q(3, 8), &mut budget, LIMITS).unwrap();
        assert_eq!(quotient, q(2, 1));
        assert_eq!(
            binary(BinOp::Div, &q(1, 1), &q(0, 1), &mut budget, LIMITS),
            Err(EvalError::Domain)
        );
    }

    #[test]
    fn powers_and_roots() {
        let mut budget = Budget::new(100_000);
        assert_eq!(
            pow(&q(2, 3), &q(-2, 1), &mut budget, LIMITS).unwrap(),
            q(9, 4)
        );
        assert_eq!(
            pow(&q(8, 27), &q(2, 3), &mut budget, LIMITS).unwrap(),
            q(4, 9)
        );
        assert_eq!(
            root(&q(-27, 1), &q(3, 1), &mut budget, LIMITS).unwrap(),
            q(-3, 1)
        );
        let sqrt2 = root(&q(2, 1), &q(2, 1), &mut budget, LIMITS).unwrap();
        assert!((sqrt2.to_float().unwrap() - std::f64::consts::SQRT_2).abs() < 1e-15);
        assert_eq!(
            root(&q(-4, 1), &q(2, 1), &mut budget, LIMITS),
            Err(EvalError::Domain)
        );
        assert_eq!(
            pow(&q(0, 1), &q(-1, 1), &mut budget, LIMITS),
            Err(EvalError::Domain)
        );
    }

    #[test]
    fn huge_powers_fall_back_and_stay_bounded() {
        let mut budget = Budget::new(1_000_000);
        // 10^(10^6) has ~3.3 million bits: refused, never approximated.
        let r = pow(&q(10, 1), &q(1_000_000, 1), &mut budget, LIMITS);
        assert_eq!(r, Err(EvalError::TooLarge));
        // (1 + 2^-1000)^5 would round to 1.0 as a float: refused instead.
        let near_one = binary(
            BinOp::Add,
            &q(1, 1),
            &pow(&q(2, 1), &q(-1000, 1), &mut budget, LIMITS).unwrap(),
            &mut budget,
            LIMITS,
        )
        .unwrap();
        assert_eq!(
            pow(&near_one, &q(5, 1), &mut budget, LIMITS),
            Err(EvalError::TooLarge)
        );
        // ±1 to any integer power stays exact.
        assert_eq!(
            pow(&q(-1, 1), &q(1_000_001, 1), &mut budget, LIMITS).unwrap(),
            q(-1, 1)
        );
        // 2^100 is exact.
        let r = pow(&q(2, 1), &q(100, 1), &mut budget, LIMITS).unwrap();
        assert_eq!(r.exact().unwrap().to_integer(), BigInt::from(1u128 << 100));
    }

    #[test]
    fn factorial_and_binomial() {
        let mut budget = Budget::new(100_000);
        assert_eq!(factorial(&q(5, 1), &mut budget, LIMITS).unwrap(), q(120, 1));
        assert_eq!(
            factorial(&q(-1, 1), &mut budget, LIMITS),
            Err(EvalError::Domain)
        );
        assert_eq!(
            binomial(&q(10, 1), &q(3, 1), &mut budget, LIMITS).unwrap(),
            q(120, 1)
        );
        assert_eq!(
            binomial(&q(10, 1), &q(7, 1), &mut budget, LIMITS).unwrap(),
            q(120, 1)
        );
        assert_eq!(
            binomial(&q(3, 1), &q(5, 1), &mut budget, LIMITS),
            Err(EvalError::Domain)
        );
        // C(10^9, 10^8) is far over 4096 bits: refused after a few hundred steps.
        let start = std::time::Instant::now();
        let huge = binomial(
            &q(1_000_000_000, 1),
            &q(100_000_000, 1),
            &mut budget,
            LIMITS,
        );
        assert_eq!(huge, Err(EvalError::TooLarge));
        assert!(start.elapsed().as_millis() < 100);
        // 100000! is far over 4096 bits: refused, not a hang.
        assert_eq!(
            factorial(&q(100_000, 1), &mut budget, LIMITS),
            Err(EvalError::TooLarge)
        );
    }

    #[test]
    fn floats_that_over_or_underflow_are_no_values() {
        let mut budget = Budget::new(100_000);
        let pi = Num::Approx(std::f64::consts::PI);
        // 10^-400 is exact; as a float it flushes to zero, so π · 10^-400 has no float value.
        let tiny = pow(&q(10, 1), &q(-400, 1), &mut budget, LIMITS).unwrap();
        assert!(tiny.exact().is_some());
        assert_eq!(tiny.to_float(), Err(EvalError::Range));
        assert_eq!(
            binary(BinOp::Mul, &pi, &tiny, &mut budget, LIMITS),
            Err(EvalError::Range)
        );
        // π^-1000 underflows, π^1000 overflows.
        assert_eq!(
            pow(&pi, &q(-1000, 1), &mut budget, LIMITS),
            Err(EvalError::Range)
        );
        assert_eq!(
            pow(&pi, &q(1000, 1), &mut budget, LIMITS),
            Err(EvalError::Range)
        );
        assert_eq!(float(1e-310, false), Err(EvalError::Range));
        assert_eq!(float(0.0, true), Err(EvalError::Range));
        assert_eq!(float(0.0, false), Ok(Num::Approx(0.0)));
        assert_eq!(float(f64::NAN, false), Err(EvalError::Domain));
        // π − π is a true zero.
        assert_eq!(
            binary(BinOp::Sub, &pi, &pi, &mut budget, LIMITS),
            Ok(Num::Approx(0.0))
        );
    }

    #[test]
    fn budget_runs_out() {
        let mut budget = Budget::new(3);
        let two = q(2, 1);
        let mut acc = q(1, 1);
        let mut result = Ok(acc.clone());
        for _ in 0..10 {
            result = binary(BinOp::Mul, &acc, &two, &mut budget, LIMITS);
            match &result {
                Ok(v) => acc = v.clone(),
                Err(_) => break,
            }
        }
        assert_eq!(result, Err(EvalError::Budget));
    }
}
