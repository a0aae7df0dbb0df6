//! The parsed form of an answer: an expression tree, and the structures around expressions
//! (equations, tuples, intervals, sets, matrices, multiple-choice letters, text).

use num_rational::BigRational;

/// Constants with a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constant {
    /// π
    Pi,
    /// Euler's number e
    E,
    /// ∞ (only meaningful as an interval end or a limit)
    Infinity,
}

/// Functions of one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// sin
    Sin,
    /// cos
    Cos,
    /// tan
    Tan,
    /// cot
    Cot,
    /// sec
    Sec,
    /// csc
    Csc,
    /// arcsin
    Asin,
    /// arccos
    Acos,
    /// arctan
    Atan,
    /// natural logarithm (`\ln`)
    Ln,
    /// exponential
    Exp,
    /// absolute value
    Abs,
    /// floor
    Floor,
    /// ceiling
    Ceil,
}

/// An arithmetic expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number literal; `decimal` is true when it was written with a decimal point (a rounded
    /// value, compared with tolerance).
    Num {
        /// The exact value of the literal.
        value: BigRational,
        /// Written with a decimal point.
        decimal: bool,
    },
    /// A variable (`x`, `a_1`).
    Var(String),
    /// A named constant.
    Const(Constant),
    /// `-a`
    Neg(Box<Expr>),
    /// `a + b`
    Add(Box<Expr>, Box<Expr>),
    /// `a - b`
    Sub(Box<Expr>, Box<Expr>),
    /// `a · b`
    Mul(Box<Expr>, Box<Expr>),
    /// `a / b`
    Div(Box<Expr>, Box<Expr>),
    /// `a ^ b`
    Pow(Box<Expr>, Box<Expr>),
    /// `\sqrt[index]{radicand}`: (radicand, index)
    Root(Box<Expr>, Box<Expr>),
    /// `\log_{base}(x)`: (argument, base)
    Log(Box<Expr>, Box<Expr>),
    /// `f(a)`
    Call(Func, Box<Expr>),
    /// `a!`
    Factorial(Box<Expr>),
    /// `\binom{n}{k}`
    Binom(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Whether any number literal was written with a decimal point.
    pub fn has_decimal(&self) -> bool {
        let mut found = false;
        self.visit(&mut |e| {
            if let Expr::Num { decimal: true, .. } = e {
                found = true;
            }
        });
        found
    }

    /// Names of the free variables, sorted and without duplicates.
    pub fn variables(&self, out: &mut Vec<String>) {
        self.visit(&mut |e| {
            if let Expr::Var(name) = e {
                if !out.contains(name) {
                    out.push(name.clone());
                }
            }
        });
        out.sort();
    }

    /// Whether ∞ occurs.
    pub fn has_infinity(&self) -> bool {
        let mut found = false;
        self.visit(&mut |e| found |= matches!(e, Expr::Const(Constant::Infinity)));
        found
    }

    /// Call `f` on every node (pre-order). The tree depth is bounded by the parser.
    pub fn visit(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Num { .. } | Expr::Var(_) | Expr::Const(_) => {}
            Expr::Neg(a) | Expr::Call(_, a) | Expr::Factorial(a) => a.visit(f),
            Expr::Add(a, b)
            | Expr::Sub(a, b)
            | Expr::Mul(a, b)
            | Expr::Div(a, b)
            | Expr::Pow(a, b)
            | Expr::Root(a, b)
            | Expr::Log(a, b)
            | Expr::Binom(a, b) => {
                a.visit(f);
                b.visit(f);
            }
        }
    }
}

/// Relations between two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// `<`
    Less,
    /// `≤`
    LessEq,
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A single expression.
    Expr(Expr),
    /// `lhs = rhs`
    Equation(Box<Answer>, Box<Answer>),
    /// `lhs < rhs` or `lhs ≤ rhs` (`>`/`≥` are stored flipped).
    Inequality(Relation, Expr, Expr),
    /// Items between brackets: tuples `(a, b)`, intervals `[a, b)`, vectors `\langle a, b \rangle`.
    /// The brackets must match for two answers to be equal.
    Bracketed {
        /// Opening bracket: `(` or `[`.
        open: char,
        /// Closing bracket: `)` or `]`.
        close: char,
        /// The items, in order.
        items: Vec<Answer>,
    },
    /// `\{a, b\}`: order does not matter.
    Set(Vec<Answer>),
    /// `a, b` without brackets: several answers, order does not matter.
    List(Vec<Answer>),
    /// `A \cup B`
    Union(Vec<Answer>),
    /// `\begin{pmatrix} … \end{pmatrix}`: rows of cells.
    Matrix(Vec<Vec<Expr>>),
    /// A multiple-choice letter `A`–`E`.
    Choice(char),
}

impl Answer {
    /// Whether the answer is a bare variable, a function name applied to variables (`f(x)`) or a
    /// tuple of those: the left side of an `x = …` prefix that grading strips.
    pub fn is_name(&self) -> bool {
        match self {
            Answer::Expr(Expr::Var(_)) => true,
            Answer::Expr(Expr::Mul(f, x)) => {
                matches!(**f, Expr::Var(_)) && matches!(**x, Expr::Var(_))
            }
            Answer::Bracketed { items, .. } => items.iter().all(Answer::is_name),
            _ => false,
        }
    }
}
