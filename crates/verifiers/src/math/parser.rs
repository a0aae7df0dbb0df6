//! A recursive-descent parser from tokens to [`Answer`] / [`Expr`], with a nesting-depth limit.
//!
//! Grammar (highest level first):
//! ```text
//! answer   := union | bracketed | matrix | list | relation | expr
//! expr     := term (('+' | '-') term)*
//! term     := unary (('*' | '/' | \cdot | \times | \div) unary | <juxtaposition> power)*
//! unary    := ('-' | '+') unary | power
//! power    := postfix ('^' exponent)?
//! postfix  := primary '!'*
//! primary  := number | letter ('_' sub)? | '(' expr ')' | '{' expr '}' | '|' expr '|'
//!           | \frac{a}{b} | \sqrt[n]{a} | \binom{n}{k} | func arg | \pi | \infty | …
//! ```
//! A mixed number `2\frac{1}{2}` (an integer juxtaposed with a fraction of integer literals) is
//! read as `2 + 1/2`, as in MATH answers.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Num as _, One};

use super::ast::{Answer, Constant, Expr, Func, Relation};
use super::lexer::Tok;

/// Why a parse failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Unexpected token or end of input.
    Unexpected(String),
    /// A command the grader does not know.
    UnknownCommand(String),
    /// Nested deeper than the limit.
    TooDeep,
}

/// Parse a whole answer. `max_depth` bounds the recursion.
pub fn parse_answer(tokens: &[Tok], max_depth: usize) -> Result<Answer, ParseError> {
    let mut parser = Parser {
        toks: tokens,
        pos: 0,
        depth: 0,
        max_depth,
    };
    parser.answer(tokens)
}

/// Parse a single expression.
#[cfg(test)]
pub fn parse_expr(tokens: &[Tok], max_depth: usize) -> Result<Expr, ParseError> {
    let mut parser = Parser {
        toks: tokens,
        pos: 0,
        depth: 0,
        max_depth,
    };
    parser.whole_expr(tokens)
}

/// Largest |n| of an `e`-notation exponent (`1e400` is more than any answer needs).
const MAX_E_EXPONENT: u32 = 400;

/// Most `\pm` signs expanded in one answer (each doubles the answers).
const MAX_PLUS_MINUS: usize = 3;

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    depth: usize,
    max_depth: usize,
}

fn is_open(t: &Tok) -> bool {
    matches!(
        t,
        Tok::LParen | Tok::LBrack | Tok::LBrace | Tok::LSet | Tok::Begin(_)
    )
}

fn is_close(t: &Tok) -> bool {
    matches!(
        t,
        Tok::RParen | Tok::RBrack | Tok::RBrace | Tok::RSet | Tok::End(_)
    )
}

/// Split at depth-0 tokens for which `sep` holds.
fn split_top(toks: &[Tok], sep: impl Fn(&Tok) -> bool) -> Vec<&[Tok]> {
    let mut parts = Vec::new();
    let mut depth = 0i64;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        if is_open(t) {
            depth += 1;
        } else if is_close(t) {
            depth -= 1;
        } else if depth == 0 && sep(t) {
            parts.push(&toks[start..i]);
            start = i + 1;
        }
    }
    parts.push(&toks[start..]);
    parts
}

/// Index of the bracket closing the one at 0, if any.
fn matching_close(toks: &[Tok]) -> Option<usize> {
    let mut depth = 0i64;
    for (i, t) in toks.iter().enumerate() {
        if is_open(t) {
            depth += 1;
        } else if is_close(t) {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// `\{ … \}` as a whole.
fn is_set(toks: &[Tok]) -> bool {
    toks.first() == Some(&Tok::LSet) && matching_close(toks) == Some(toks.len() - 1)
}

/// Items separated by top-level commas, not an equation (`x = 1, 2` is one).
fn is_list(toks: &[Tok]) -> bool {
    split_top(toks, |t| *t == Tok::Comma).len() >= 2
        && split_top(toks, |t| *t == Tok::Eq).len() == 1
}

/// A matrix environment as a whole, possibly inside one pair of `( )` or `[ ]`.
fn is_matrix(toks: &[Tok]) -> bool {
    let whole = || matching_close(toks) == Some(toks.len() - 1);
    match toks {
        [Tok::Begin(_), ..] => whole(),
        [Tok::LParen | Tok::LBrack, Tok::Begin(_), ..] => {
            whole() && is_matrix(&toks[1..toks.len() - 1])
        }
        _ => false,
    }
}

fn bracket_char(t: &Tok) -> Option<char> {
    match t {
        Tok::LParen => Some('('),
        Tok::RParen => Some(')'),
        Tok::LBrack => Some('['),
        Tok::RBrack => Some(']'),
        _ => None,
    }
}

fn relation(t: &Tok) -> Option<(Relation, bool)> {
    match t {
        Tok::Lt => Some((Relation::Less, false)),
        Tok::Gt => Some((Relation::Less, true)),
        Tok::Cmd(c) => match c.as_str() {
            "le" | "leq" | "leqslant" => Some((Relation::LessEq, false)),
            "ge" | "geq" | "geqslant" => Some((Relation::LessEq, true)),
            "lt" => Some((Relation::Less, false)),
            "gt" => Some((Relation::Less, true)),
            _ => None,
        },
        _ => None,
    }
}

fn func_of(name: &str) -> Option<Func> {
    Some(match name {
        "sin" => Func::Sin,
        "cos" => Func::Cos,
        "tan" => Func::Tan,
        "cot" => Func::Cot,
        "sec" => Func::Sec,
        "csc" => Func::Csc,
        "arcsin" => Func::Asin,
        "arccos" => Func::Acos,
        "arctan" => Func::Atan,
        "ln" => Func::Ln,
        "exp" => Func::Exp,
        _ => return None,
    })
}

/// Parse a decimal literal exactly: `"1.25"` → 5/4; a repeating block from the lexer in
/// parentheses, `"0.1(6)"` (written `0.1\overline{6}`) → 1/6.
fn literal(digits: &str) -> Result<Expr, ParseError> {
    let bad = || ParseError::Unexpected(digits.to_string());
    if let Some((mantissa, exponent)) = digits.split_once(['e', 'E']) {
        // `1.5e-3`: the lexer admits only a sign and digits after the `e`.
        let Expr::Num { value, decimal } = literal(mantissa)? else {
            return Err(bad());
        };
        let exponent: i32 = exponent.parse().map_err(|_| bad())?;
        if exponent.unsigned_abs() > MAX_E_EXPONENT {
            return Err(bad());
        }
        let scale = BigRational::from_integer(num_traits::pow(
            BigInt::from(10),
            exponent.unsigned_abs() as usize,
        ));
        let value = if exponent < 0 {
            value / scale
        } else {
            value * scale
        };
        return Ok(Expr::Num { value, decimal });
    }
    let (written, repeating) = match digits.split_once('(') {
        Some((head, tail)) => (head, Some(tail.strip_suffix(')').ok_or_else(bad)?)),
        None => (digits, None),
    };
    let (int, frac) = written.split_once('.').unwrap_or((written, ""));
    let integer = |text: &str| {
        BigInt::from_str_radix(if text.is_empty() { "0" } else { text }, 10).map_err(|_| bad())
    };
    let ten_to = |n: usize| num_traits::pow(BigInt::from(10), n);
    let terminating = BigRational::new(integer(&format!("{int}{frac}"))?, ten_to(frac.len()));
    let value = match repeating {
        None => terminating,
        // 0.1(6) = 0.1 + 6 / (10^1 · (10^1 − 1)).
        Some(block) => {
            let period = ten_to(block.len()) - BigInt::from(1);
            terminating + BigRational::new(integer(block)?, ten_to(frac.len()) * period)
        }
    };
    Ok(Expr::Num {
        value,
        // A repeating decimal is an exact value, not a rounding.
        decimal: written.contains('.') && repeating.is_none(),
    })
}

fn boxed(e: Expr) -> Box<Expr> {
    Box::new(e)
}

impl<'a> Parser<'a> {
    fn sub(&self, toks: &'a [Tok]) -> Parser<'a> {
        Parser {
            toks,
            pos: 0,
            depth: self.depth,
            max_depth: self.max_depth,
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > self.max_depth {
            Err(ParseError::TooDeep)
        } else {
            Ok(())
        }
    }

    fn answer(&mut self, toks: &'a [Tok]) -> Result<Answer, ParseError> {
        self.enter()?;
        let result = self.answer_inner(toks);
        self.depth -= 1;
        result
    }

    fn answer_inner(&mut self, toks: &'a [Tok]) -> Result<Answer, ParseError> {
        if toks.is_empty() {
            return Err(ParseError::Unexpected("empty".into()));
        }
        if toks.iter().any(|t| matches!(t, Tok::Word(_))) {
            return Err(ParseError::Unexpected("words".into()));
        }
        if let [Tok::Cmd(c)] = toks {
            if c == "emptyset" || c == "varnothing" {
                return Ok(Answer::Set(Vec::new()));
            }
        }
        let is_pm = |t: &Tok| matches!(t, Tok::Cmd(c) if c == "pm" || c == "mp");
        if let Some(at) = toks.iter().position(is_pm) {
            // In a set or a list, each item expands on its own: `\{1 \pm \sqrt{5}, -2\}` is
            // three values.
            if !is_set(toks) && !is_list(toks) {
                return self.plus_minus(toks, at);
            }
        }
        if let [Tok::Letter(c)] | [Tok::LParen, Tok::Letter(c), Tok::RParen] = toks {
            if ('A'..='E').contains(c) {
                return Ok(Answer::Choice(*c));
            }
        }
        let sides = split_top(toks, |t| *t == Tok::Eq);
        if sides.len() >= 2 {
            let lhs = self.answer(sides[0])?;
            let rhs = self.answer(sides[sides.len() - 1])?;
            return Ok(Answer::Equation(Box::new(lhs), Box::new(rhs)));
        }
        let relations: Vec<usize> = toks
            .iter()
            .enumerate()
            .filter(|(_, t)| relation(t).is_some())
            .map(|(i, _)| i)
            .collect();
        if let [at] = relations[..] {
            let (rel, flipped) = relation(&toks[at]).ok_or(ParseError::TooDeep)?;
            let lhs = self.whole_expr(&toks[..at])?;
            let rhs = self.whole_expr(&toks[at + 1..])?;
            return Ok(if flipped {
                Answer::Inequality(rel, rhs, lhs)
            } else {
                Answer::Inequality(rel, lhs, rhs)
            });
        }
        if let [first, second] = relations[..] {
            if let Some(interval) = self.chained(toks, first, second)? {
                return Ok(interval);
            }
        }
        let unions = split_top(toks, |t| *t == Tok::Cmd("cup".into()));
        if unions.len() >= 2 {
            let parts = unions
                .into_iter()
                .map(|part| self.answer(part))
                .collect::<Result<_, _>>()?;
            return Ok(Answer::Union(parts));
        }
        if let Some(a) = self.scaled_matrix(toks)? {
            return Ok(a);
        }
        if let Some(a) = self.enclosed(toks)? {
            return Ok(a);
        }
        let items = split_top(toks, |t| *t == Tok::Comma);
        if items.len() >= 2 {
            return Ok(Answer::List(self.items(items)?));
        }
        Ok(Answer::Expr(self.whole_expr(toks)?))
    }

    /// The items of a set or list; an item with `\pm` becomes its two values.
    fn items(&mut self, items: Vec<&'a [Tok]>) -> Result<Vec<Answer>, ParseError> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match self.answer(item)? {
                Answer::List(values) => out.extend(values),
                other => out.push(other),
            }
        }
        Ok(out)
    }

    /// `a < x < b` (or `b > x > a`, with `≤`/`≥` making the end closed) as an interval; `None`
    /// when the two relations are not such a chain (`x < 2, x > 5` is a list).
    fn chained(
        &mut self,
        toks: &'a [Tok],
        first: usize,
        second: usize,
    ) -> Result<Option<Answer>, ParseError> {
        let (Some((rel1, flip1)), Some((rel2, flip2))) =
            (relation(&toks[first]), relation(&toks[second]))
        else {
            return Ok(None);
        };
        if flip1 != flip2 || split_top(toks, |t| *t == Tok::Comma).len() > 1 {
            return Ok(None);
        }
        let middle = self.whole_expr(&toks[first + 1..second])?;
        if !matches!(middle, Expr::Var(_)) {
            return Ok(None);
        }
        let left = self.whole_expr(&toks[..first])?;
        let right = self.whole_expr(&toks[second + 1..])?;
        // Written upwards `lo < x ≤ hi`, or downwards `hi > x ≥ lo`.
        let (lo, lo_rel, hi, hi_rel) = if flip1 {
            (right, rel2, left, rel1)
        } else {
            (left, rel1, right, rel2)
        };
        Ok(Some(Answer::Bracketed {
            open: if lo_rel == Relation::LessEq { '[' } else { '(' },
            close: if hi_rel == Relation::LessEq { ']' } else { ')' },
            items: vec![Answer::Expr(lo), Answer::Expr(hi)],
        }))
    }

    /// `-M`, `2M`, `\frac{1}{2} \cdot M` for a matrix `M`: the matrix of scaled entries.
    fn scaled_matrix(&mut self, toks: &'a [Tok]) -> Result<Option<Answer>, ParseError> {
        let mut depth = 0i64;
        let mut start = None;
        for (i, t) in toks.iter().enumerate() {
            if depth == 0 && i > 0 && is_matrix(&toks[i..]) {
                start = Some(i);
                break;
            }
            if is_open(t) {
                depth += 1;
            } else if is_close(t) {
                depth -= 1;
            }
        }
        let Some(start) = start else {
            return Ok(None);
        };
        let mut prefix = &toks[..start];
        if let [head @ .., Tok::Cmd(c)] = prefix {
            if c == "cdot" || c == "times" {
                prefix = head;
            }
        }
        let Some(Answer::Matrix(rows)) = self.enclosed(&toks[start..])? else {
            return Ok(None);
        };
        // `None`: a plain minus sign.
        let factor = if matches!(prefix, [Tok::Minus]) {
            None
        } else {
            Some(self.whole_expr(prefix)?)
        };
        let scale = |cell: Expr| match &factor {
            None => Expr::Neg(boxed(cell)),
            Some(f) => Expr::Mul(boxed(f.clone()), boxed(cell)),
        };
        let rows = rows
            .into_iter()
            .map(|row| row.into_iter().map(scale).collect())
            .collect();
        Ok(Some(Answer::Matrix(rows)))
    }

    /// `a \pm b` is the two answers `a + b` and `a - b` (at most [`MAX_PLUS_MINUS`] `\pm`).
    fn plus_minus(&mut self, toks: &[Tok], at: usize) -> Result<Answer, ParseError> {
        let count = toks
            .iter()
            .filter(|t| matches!(t, Tok::Cmd(c) if c == "pm" || c == "mp"))
            .count();
        if count > MAX_PLUS_MINUS {
            return Err(ParseError::Unexpected("too many \\pm".into()));
        }
        let mut branches = Vec::with_capacity(2);
        for sign in [Tok::Plus, Tok::Minus] {
            let mut branch = toks.to_vec();
            branch[at] = sign;
            let mut p = Parser {
                toks: &branch,
                pos: 0,
                depth: self.depth,
                max_depth: self.max_depth,
            };
            branches.push(p.answer(&branch)?);
        }
        Ok(Answer::List(branches))
    }

    /// A whole answer between one pair of brackets (tuple, interval, set, matrix), if it is one.
    fn enclosed(&mut self, toks: &'a [Tok]) -> Result<Option<Answer>, ParseError> {
        if matching_close(toks) != Some(toks.len() - 1) {
            return Ok(None);
        }
        let (first, last) = (&toks[0], &toks[toks.len() - 1]);
        let inner = &toks[1..toks.len() - 1];
        if let (Tok::Begin(env), Tok::End(_)) = (first, last) {
            return self.matrix(env, inner).map(Some);
        }
        if *first == Tok::LSet {
            if inner.is_empty() {
                return Ok(Some(Answer::Set(Vec::new())));
            }
            let items = self.items(split_top(inner, |t| *t == Tok::Comma))?;
            return Ok(Some(Answer::Set(items)));
        }
        let (Some(open), Some(close)) = (bracket_char(first), bracket_char(last)) else {
            return Ok(None);
        };
        if is_matrix(inner) {
            // `\left( \begin{array}{cc} … \end{array} \right)`
            return self.enclosed(inner);
        }
        let items = split_top(inner, |t| *t == Tok::Comma);
        if items.len() < 2 {
            return Ok(None);
        }
        let items = items
            .into_iter()
            .map(|item| self.answer(item))
            .collect::<Result<_, _>>()?;
        Ok(Some(Answer::Bracketed { open, close, items }))
    }

    fn matrix(&mut self, env: &str, inner: &'a [Tok]) -> Result<Answer, ParseError> {
        if !env.ends_with("matrix") && env != "array" {
            return Err(ParseError::UnknownCommand(env.to_string()));
        }
        let mut inner = inner;
        if env == "array" && inner.first() == Some(&Tok::LBrace) {
            // The column specification `{cc}`, `{c|c}`.
            let close = matching_close(inner).ok_or(ParseError::Unexpected("array".into()))?;
            inner = &inner[close + 1..];
        }
        let mut rows = Vec::new();
        for row in split_top(inner, |t| *t == Tok::RowSep) {
            if row.is_empty() {
                continue;
            }
            let cells = split_top(row, |t| *t == Tok::Amp)
                .into_iter()
                .map(|cell| self.whole_expr(cell))
                .collect::<Result<Vec<_>, _>>()?;
            rows.push(cells);
        }
        Ok(Answer::Matrix(rows))
    }

    /// Parse `toks` as exactly one expression.
    fn whole_expr(&mut self, toks: &'a [Tok]) -> Result<Expr, ParseError> {
        let mut p = self.sub(toks);
        let e = p.expr()?;
        match p.peek() {
            None => Ok(e),
            Some(t) => Err(ParseError::Unexpected(format!("{t:?}"))),
        }
    }

    fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<&'a Tok> {
        let t = self.toks.get(self.pos);
        self.pos += 1;
        t
    }

    fn expect(&mut self, want: &Tok) -> Result<(), ParseError> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            other => Err(ParseError::Unexpected(format!(
                "{other:?}, wanted {want:?}"
            ))),
        }
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let mut acc = self.term()?;
        loop {
            match self.peek() {
                Some(Tok::Plus) => {
                    self.pos += 1;
                    acc = Expr::Add(boxed(acc), boxed(self.term()?));
                }
                Some(Tok::Minus) => {
                    self.pos += 1;
                    acc = Expr::Sub(boxed(acc), boxed(self.term()?));
                }
                _ => break,
            }
        }
        self.depth -= 1;
        Ok(acc)
    }

    fn starts_primary(&self, abs_open: bool) -> bool {
        match self.peek() {
            Some(Tok::Num(_) | Tok::Letter(_) | Tok::LParen | Tok::LBrace) => true,
            Some(Tok::Pipe) => !abs_open,
            Some(Tok::Cmd(c)) => !matches!(
                c.as_str(),
                "cdot"
                    | "times"
                    | "div"
                    | "ast"
                    | "cup"
                    | "le"
                    | "leq"
                    | "ge"
                    | "geq"
                    | "lt"
                    | "gt"
                    | "right"
                    | "rfloor"
                    | "rceil"
                    | "rvert"
                    | "pm"
                    | "mp"
            ),
            _ => false,
        }
    }

    /// `2\frac{1}{2}` (mixed number) ahead?
    fn mixed_fraction_ahead(&self) -> bool {
        let t = &self.toks[self.pos.min(self.toks.len())..];
        let is_int = |t: &Tok| matches!(t, Tok::Num(d) if !d.contains('.'));
        matches!(t, [Tok::Cmd(f), Tok::LBrace, n, Tok::RBrace, Tok::LBrace, d, Tok::RBrace, ..]
            if f == "frac" && is_int(n) && is_int(d))
    }

    fn term(&mut self) -> Result<Expr, ParseError> {
        self.term_in(false)
    }

    fn term_in(&mut self, abs_open: bool) -> Result<Expr, ParseError> {
        let mut acc = self.unary_in(abs_open)?;
        let mut factors = 1;
        loop {
            let op = match self.peek() {
                Some(Tok::Star) => Some(true),
                Some(Tok::Slash) => Some(false),
                Some(Tok::Cmd(c)) if c == "cdot" || c == "times" || c == "ast" => Some(true),
                Some(Tok::Cmd(c)) if c == "div" => Some(false),
                _ => None,
            };
            if let Some(is_mul) = op {
                self.pos += 1;
                let rhs = self.unary_in(abs_open)?;
                acc = if is_mul {
                    Expr::Mul(boxed(acc), boxed(rhs))
                } else {
                    Expr::Div(boxed(acc), boxed(rhs))
                };
            } else if self.starts_primary(abs_open) {
                let mixed = factors == 1 && self.mixed_fraction_ahead();
                let rhs = self.power(abs_open)?;
                acc = match (mixed, acc) {
                    (true, Expr::Neg(whole)) if matches!(*whole, Expr::Num { .. }) => {
                        Expr::Neg(boxed(Expr::Add(whole, boxed(rhs))))
                    }
                    (true, whole @ Expr::Num { .. }) => Expr::Add(boxed(whole), boxed(rhs)),
                    (_, acc) => Expr::Mul(boxed(acc), boxed(rhs)),
                };
            } else {
                break;
            }
            factors += 1;
        }
        Ok(acc)
    }

    fn unary_in(&mut self, abs_open: bool) -> Result<Expr, ParseError> {
        match self.peek() {
            Some(Tok::Minus) => {
                self.pos += 1;
                self.enter()?;
                let e = self.unary_in(abs_open)?;
                self.depth -= 1;
                Ok(Expr::Neg(boxed(e)))
            }
            Some(Tok::Plus) => {
                self.pos += 1;
                self.enter()?;
                let e = self.unary_in(abs_open);
                self.depth -= 1;
                e
            }
            _ => self.power(abs_open),
        }
    }

    fn power(&mut self, abs_open: bool) -> Result<Expr, ParseError> {
        self.enter()?;
        let mut base = self.primary(abs_open)?;
        while self.peek() == Some(&Tok::Bang) {
            self.pos += 1;
            base = Expr::Factorial(boxed(base));
        }
        if self.peek() == Some(&Tok::Caret) {
            self.pos += 1;
            let exponent = self.exponent()?;
            base = Expr::Pow(boxed(base), boxed(exponent));
        }
        self.depth -= 1;
        Ok(base)
    }

    /// The exponent after `^`: a braced group, or a signed power (`2^-1`, `x^y^z`).
    fn exponent(&mut self) -> Result<Expr, ParseError> {
        if self.peek() == Some(&Tok::LBrace) {
            return self.group();
        }
        self.enter()?;
        let e = match self.peek() {
            Some(Tok::Minus) => {
                self.pos += 1;
                Expr::Neg(boxed(self.exponent()?))
            }
            _ => self.power(false)?,
        };
        self.depth -= 1;
        Ok(e)
    }

    /// `{ expr }`, or a single primary when there is no brace (`\frac12`).
    fn group(&mut self) -> Result<Expr, ParseError> {
        if self.peek() == Some(&Tok::LBrace) {
            self.pos += 1;
            let e = self.expr()?;
            self.expect(&Tok::RBrace)?;
            Ok(e)
        } else {
            self.enter()?;
            let e = self.primary(false);
            self.depth -= 1;
            e
        }
    }

    /// Raw text of a subscript (`_1`, `_{n+1}`), for variable names and log bases.
    fn subscript_name(&mut self) -> Result<String, ParseError> {
        let render = |t: &Tok| match t {
            Tok::Num(d) => d.clone(),
            Tok::Letter(c) => c.to_string(),
            other => format!("{other:?}"),
        };
        if self.peek() == Some(&Tok::LBrace) {
            let rest = &self.toks[self.pos..];
            let close = matching_close(rest).ok_or(ParseError::Unexpected("_{".into()))?;
            let name: String = rest[1..close].iter().map(render).collect();
            self.pos += close + 1;
            Ok(name)
        } else {
            self.next()
                .map(render)
                .ok_or(ParseError::Unexpected("_".into()))
        }
    }

    fn primary(&mut self, abs_open: bool) -> Result<Expr, ParseError> {
        let _ = abs_open;
        self.enter()?;
        let tok = self.next().ok_or(ParseError::Unexpected("end".into()))?;
        let e = match tok {
            Tok::Num(d) => literal(d)?,
            Tok::Letter(c) => {
                if self.peek() == Some(&Tok::Underscore) {
                    self.pos += 1;
                    Expr::Var(format!("{c}_{}", self.subscript_name()?))
                } else if *c == 'e' {
                    Expr::Const(Constant::E)
                } else {
                    Expr::Var(c.to_string())
                }
            }
            Tok::LParen | Tok::LBrack => {
                let close = if *tok == Tok::LParen {
                    Tok::RParen
                } else {
                    Tok::RBrack
                };
                let e = self.expr()?;
                self.expect(&close)?;
                e
            }
            Tok::LBrace => {
                let e = self.expr()?;
                self.expect(&Tok::RBrace)?;
                e
            }
            Tok::Pipe => {
                let e = self.abs_body()?;
                self.expect(&Tok::Pipe)?;
                Expr::Call(Func::Abs, boxed(e))
            }
            Tok::Cmd(name) => self.command(name)?,
            other => return Err(ParseError::Unexpected(format!("{other:?}"))),
        };
        self.depth -= 1;
        Ok(e)
    }

    /// The inside of `|…|`: a sum whose terms cannot start a new `|`.
    fn abs_body(&mut self) -> Result<Expr, ParseError> {
        let mut acc = self.term_in(true)?;
        loop {
            match self.peek() {
                Some(Tok::Plus) => {
                    self.pos += 1;
                    acc = Expr::Add(boxed(acc), boxed(self.term_in(true)?));
                }
                Some(Tok::Minus) => {
                    self.pos += 1;
                    acc = Expr::Sub(boxed(acc), boxed(self.term_in(true)?));
                }
                _ => return Ok(acc),
            }
        }
    }

    fn command(&mut self, name: &str) -> Result<Expr, ParseError> {
        Ok(match name {
            "frac" | "dfrac" | "tfrac" | "cfrac" => {
                let n = self.group()?;
                let d = self.group()?;
                Expr::Div(boxed(n), boxed(d))
            }
            "sqrt" => {
                let index = if self.peek() == Some(&Tok::LBrack) {
                    self.pos += 1;
                    let i = self.expr()?;
                    self.expect(&Tok::RBrack)?;
                    i
                } else {
                    Expr::Num {
                        value: BigRational::from_integer(BigInt::from(2)),
                        decimal: false,
                    }
                };
                let radicand = self.group()?;
                Expr::Root(boxed(radicand), boxed(index))
            }
            "binom" | "dbinom" | "tbinom" => {
                let n = self.group()?;
                let k = self.group()?;
                Expr::Binom(boxed(n), boxed(k))
            }
            "pi" => Expr::Const(Constant::Pi),
            "infty" | "infin" => Expr::Const(Constant::Infinity),
            "lfloor" | "lceil" => {
                let e = self.expr()?;
                let (close, f) = if name == "lfloor" {
                    ("rfloor", Func::Floor)
                } else {
                    ("rceil", Func::Ceil)
                };
                self.expect(&Tok::Cmd(close.into()))?;
                Expr::Call(f, boxed(e))
            }
            "log" | "lg" => {
                let base = if self.peek() == Some(&Tok::Underscore) {
                    self.pos += 1;
                    self.group()?
                } else {
                    Expr::Num {
                        value: BigRational::from_integer(BigInt::from(10)),
                        decimal: false,
                    }
                };
                let (power, arg) = self.function_argument()?;
                wrap_power(Expr::Log(boxed(arg), boxed(base)), power)
            }
            "operatorname" | "mathrm" | "text" => {
                return Err(ParseError::UnknownCommand(name.to_string()))
            }
            other => match func_of(other) {
                Some(f) => {
                    let (power, arg) = self.function_argument()?;
                    wrap_power(Expr::Call(f, boxed(arg)), power)
                }
                None => return Err(ParseError::UnknownCommand(other.to_string())),
            },
        })
    }

    /// After a function name: an optional power (`\sin^2`), then the argument — a bracketed
    /// group, or the next power (`\sin x`, `\ln 2`).
    fn function_argument(&mut self) -> Result<(Option<Expr>, Expr), ParseError> {
        let power = if self.peek() == Some(&Tok::Caret) {
            self.pos += 1;
            Some(self.exponent()?)
        } else {
            None
        };
        let arg = match self.peek() {
            Some(Tok::LParen | Tok::LBrace | Tok::LBrack) => self.power(false)?,
            _ => {
                // `\sin 2x`: the argument runs over a juxtaposed product.
                let mut acc = self.power(false)?;
                while matches!(self.peek(), Some(Tok::Num(_) | Tok::Letter(_))) {
                    acc = Expr::Mul(boxed(acc), boxed(self.power(false)?));
                }
                acc
            }
        };
        Ok((power, arg))
    }
}

fn wrap_power(e: Expr, power: Option<Expr>) -> Expr {
    match power {
        // `\sin^{-1}` is the inverse function in MATH answers.
        Some(Expr::Neg(p)) if matches!(&*p, Expr::Num { value, .. } if value.is_one()) => match e {
            Expr::Call(Func::Sin, a) => Expr::Call(Func::Asin, a),
            Expr::Call(Func::Cos, a) => Expr::Call(Func::Acos, a),
            Expr::Call(Func::Tan, a) => Expr::Call(Func::Atan, a),
            other => Expr::Pow(boxed(other), boxed(Expr::Neg(p))),
        },
        Some(p) => Expr::Pow(boxed(e), boxed(p)),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::*;

    fn parse(s: &str) -> Answer {
        parse_answer(&tokenize(s).unwrap(), 64).unwrap()
    }

    fn int(n: i64) -> Expr {
        Expr::Num {
            value: BigRational::from_integer(BigInt::from(n)),
            decimal: false,
        }
    }

    #[test]
    fn precedence_and_juxtaposition() {
        // -x^2 = -(x^2); 2x = 2·x; 1+2·3
        assert_eq!(
            parse("-x^2"),
            Answer::Expr(Expr::Neg(boxed(Expr::Pow(
                boxed(Expr::Var("x".into())),
                boxed(int(2))
            ))))
        );
        assert_eq!(
            parse("1+2*3"),
            Answer::Expr(Expr::Add(
                boxed(int(1)),
                boxed(Expr::Mul(boxed(int(2)), boxed(int(3))))
            ))
        );
        assert_eq!(
            parse("2x"),
            Answer::Expr(Expr::Mul(boxed(int(2)), boxed(Expr::Var("x".into()))))
        );
    }

    #[test]
    fn mixed_numbers_and_fractions() {
        assert_eq!(
            parse(r"2\frac{1}{2}"),
            Answer::Expr(Expr::Add(
                boxed(int(2)),
                boxed(Expr::Div(boxed(int(1)), boxed(int(2))))
            ))
        );
        // Not mixed: a variable numerator.
        assert!(matches!(
            parse(r"2\frac{x}{2}"),
            Answer::Expr(Expr::Mul(..))
        ));
    }

    #[test]
    fn structures() {
        assert!(matches!(
            parse("(1,2]"),
            Answer::Bracketed {
                open: '(',
                close: ']',
                ..
            }
        ));
        assert!(matches!(parse(r"\{1,2\}"), Answer::Set(v) if v.len() == 2));
        assert!(matches!(parse("1, 2, 3"), Answer::List(v) if v.len() == 3));
        assert!(matches!(parse("y = 2x+1"), Answer::Equation(..)));
        assert!(
            matches!(parse(r"(-\infty, 1) \cup (2, \infty)"), Answer::Union(v) if v.len() == 2)
        );
        assert!(
            matches!(parse(r"\begin{pmatrix}1&2\\3&4\end{pmatrix}"), Answer::Matrix(r) if r.len() == 2 && r[1].len() == 2)
        );
        assert_eq!(parse("(C)"), Answer::Choice('C'));
        assert!(matches!(
            parse(r"x \ge 3"),
            Answer::Inequality(Relation::LessEq, Expr::Num { .. }, Expr::Var(_))
        ));
        // A parenthesised single expression is just the expression.
        assert!(matches!(parse("(3)"), Answer::Expr(_)));
        assert!(matches!(parse(r"1 \pm \sqrt{2}"), Answer::List(v) if v.len() == 2));
        let many = r"1 \pm 2 \pm 3 \pm 4 \pm 5";
        assert!(parse_answer(&tokenize(many).unwrap(), 64).is_err());
    }

    #[test]
    fn depth_limit_is_enforced() {
        let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
        let toks = tokenize(&deep).unwrap();
        assert_eq!(parse_answer(&toks, 64), Err(ParseError::TooDeep));
        let deep_pow = "2^".repeat(300) + "2";
        assert_eq!(
            parse_answer(&tokenize(&deep_pow).unwrap(), 64),
            Err(ParseError::TooDeep)
        );
    }

    #[test]
    fn unknown_commands_fail() {
        assert_eq!(
            parse_answer(&tokenize(r"\foo{1}").unwrap(), 64),
            Err(ParseError::UnknownCommand("foo".into()))
        );
    }
}
