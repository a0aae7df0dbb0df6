//! Tokens of a normalised LaTeX answer.

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// Digits with at most one decimal point (`12`, `0.5`, `.5`); a repeating block written
    /// `\overline{…}` follows in parentheses (`0.1\overline{6}` → `0.1(6)`).
    Num(String),
    /// A single letter (a variable or a constant such as `e`).
    Letter(char),
    /// A run of three or more letters that is no known function: prose, so the answer is text.
    Word(String),
    /// A command without its backslash (`frac`, `sqrt`, `pi`), or a known bare function name.
    Cmd(String),
    /// `\begin{name}`.
    Begin(String),
    /// `\end{name}`.
    End(String),
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `^`
    Caret,
    /// `_`
    Underscore,
    /// `!`
    Bang,
    /// `,`
    Comma,
    /// `=`
    Eq,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBrack,
    /// `]`
    RBrack,
    /// `{` (grouping)
    LBrace,
    /// `}` (grouping)
    RBrace,
    /// `\{` (set)
    LSet,
    /// `\}` (set)
    RSet,
    /// `|`
    Pipe,
    /// `&` (matrix column separator)
    Amp,
    /// `\\` (matrix row separator)
    RowSep,
    /// `;`
    Semicolon,
    /// `:`
    Colon,
    /// `'` (a prime)
    Prime,
}

/// A character that cannot start any token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError(pub char);

/// Function names recognised without a backslash (`sin x`, `sqrt(2)`).
const BARE_WORDS: [&str; 14] = [
    "arcsin", "arccos", "arctan", "sqrt", "sin", "cos", "tan", "cot", "sec", "csc", "log", "exp",
    "ln", "pi",
];

/// Split `text` into tokens. Spaces separate tokens and are otherwise dropped.
pub fn tokenize(text: &str) -> Result<Vec<Tok>, LexError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            let mut seen_point = false;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (chars[i] == '.'
                        && !seen_point
                        && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                seen_point |= chars[i] == '.';
                i += 1;
            }
            let mut number: String = chars[start..i].iter().collect();
            // `0.\overline{3}`, `0.1\overline{6}`: the point may come just before the bar.
            let bar = if seen_point { i } else { i + 1 };
            if seen_point || chars.get(i) == Some(&'.') {
                if let Some((block, end)) = overline(&chars, bar) {
                    if !seen_point {
                        number.push('.');
                    }
                    number.push('(');
                    number.push_str(&block);
                    number.push(')');
                    i = end;
                }
            }
            if !number.contains('(') {
                if let Some(end) = exponent_end(&chars, i, seen_point) {
                    number.extend(&chars[i..end]);
                    i = end;
                }
            }
            tokens.push(Tok::Num(number));
        } else if c.is_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_alphabetic() {
                i += 1;
            }
            push_letters(&chars[start..i], &mut tokens);
        } else if c == '\\' {
            i = lex_command(&chars, i, &mut tokens)?;
        } else {
            let tok = match c {
                '+' => Tok::Plus,
                '-' => Tok::Minus,
                '*' => Tok::Star,
                '/' => Tok::Slash,
                '^' => Tok::Caret,
                '_' => Tok::Underscore,
                '!' => Tok::Bang,
                ',' => Tok::Comma,
                '=' => Tok::Eq,
                '<' => Tok::Lt,
                '>' => Tok::Gt,
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                '[' => Tok::LBrack,
                ']' => Tok::RBrack,
                '{' => Tok::LBrace,
                '}' => Tok::RBrace,
                '|' => Tok::Pipe,
                '&' => Tok::Amp,
                ';' => Tok::Semicolon,
                ':' => Tok::Colon,
                '\'' => Tok::Prime,
                other => return Err(LexError(other)),
            };
            tokens.push(tok);
            i += 1;
        }
    }
    Ok(tokens)
}

/// The end of an `e`-notation exponent starting at `i` (`1.5e-3`, `6.02E23`, `3e8`), if one is
/// there. Without a decimal point a signed exponent is not one: `2e-1` is `2·e − 1`.
fn exponent_end(chars: &[char], i: usize, seen_point: bool) -> Option<usize> {
    if !matches!(chars.get(i), Some('e' | 'E')) {
        return None;
    }
    let mut j = i + 1;
    if seen_point && matches!(chars.get(j), Some('+' | '-')) {
        j += 1;
    }
    let digits = chars[j.min(chars.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let end = j + digits;
    let followed_by_letter = chars.get(end).is_some_and(|c| c.is_alphabetic());
    (digits > 0 && !followed_by_letter).then_some(end)
}

/// `\overline{digits}` at `i`: the digits and the index after the closing brace.
fn overline(chars: &[char], i: usize) -> Option<(String, usize)> {
    let command: Vec<char> = "\\overline".chars().collect();
    if chars.get(i..i + command.len())? != command.as_slice() {
        return None;
    }
    let mut j = i + command.len();
    while chars.get(j) == Some(&' ') {
        j += 1;
    }
    if chars.get(j) != Some(&'{') {
        return None;
    }
    let digits: String = chars[j + 1..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let close = j + 1 + digits.len();
    (!digits.is_empty() && chars.get(close) == Some(&'}')).then_some((digits, close + 1))
}

/// A run of letters: known function names become commands, short runs become single letters
/// (implicit products such as `xy`), longer unknown runs become a word.
fn push_letters(run: &[char], tokens: &mut Vec<Tok>) {
    let text: String = run.iter().collect();
    let has_known = BARE_WORDS.iter().any(|w| text.contains(w));
    if !has_known && run.len() >= 3 {
        tokens.push(Tok::Word(text));
        return;
    }
    let mut i = 0;
    while i < run.len() {
        let rest: String = run[i..].iter().collect();
        if let Some(word) = BARE_WORDS.iter().find(|w| rest.starts_with(*w)) {
            tokens.push(Tok::Cmd((*word).to_string()));
            i += word.len();
        } else {
            tokens.push(Tok::Letter(run[i]));
            i += 1;
        }
    }
}

/// Lex a backslash sequence starting at `i`; returns the index after it.
fn lex_command(chars: &[char], i: usize, tokens: &mut Vec<Tok>) -> Result<usize, LexError> {
    let Some(&next) = chars.get(i + 1) else {
        return Err(LexError('\\'));
    };
    if !next.is_ascii_alphabetic() {
        let tok = match next {
            '{' => Tok::LSet,
            '}' => Tok::RSet,
            '\\' => Tok::RowSep,
            '|' => Tok::Pipe,
            // Spacing commands carry no meaning.
            ',' | ';' | ':' | '!' | ' ' => return Ok(i + 2),
            other => return Err(LexError(other)),
        };
        tokens.push(tok);
        return Ok(i + 2);
    }
    let mut j = i + 1;
    while j < chars.len() && chars[j].is_ascii_alphabetic() {
        j += 1;
    }
    let name: String = chars[i + 1..j].iter().collect();
    if name == "begin" || name == "end" {
        // `\begin{pmatrix}`: read the environment name.
        let mut k = j;
        while k < chars.len() && chars[k] == ' ' {
            k += 1;
        }
        if chars.get(k) == Some(&'{') {
            let close = chars[k..].iter().position(|&c| c == '}').map(|p| k + p);
            if let Some(close) = close {
                let env: String = chars[k + 1..close].iter().collect();
                tokens.push(if name == "begin" {
                    Tok::Begin(env)
                } else {
                    Tok::End(env)
                });
                return Ok(close + 1);
            }
        }
        return Err(LexError('\\'));
    }
    tokens.push(Tok::Cmd(name));
    Ok(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_letters_and_commands() {
        let toks = tokenize(r"2.5x + \frac{1}{2}").unwrap();
        assert_eq!(
            toks,
            vec![
                Tok::Num("2.5".into()),
                Tok::Letter('x'),
                Tok::Plus,
                Tok::Cmd("frac".into()),
                Tok::LBrace,
                Tok::Num("1".into()),
                Tok::RBrace,
                Tok::LBrace,
                Tok::Num("2".into()),
                Tok::RBrace,
            ]
        );
    }

    #[test]
    fn words_and_bare_functions() {
        assert_eq!(tokenize("odd").unwrap(), vec![Tok::Word("odd".into())]);
        assert_eq!(
            tokenize("sinx").unwrap(),
            vec![Tok::Cmd("sin".into()), Tok::Letter('x')]
        );
        assert_eq!(
            tokenize("xy").unwrap(),
            vec![Tok::Letter('x'), Tok::Letter('y')]
        );
    }

    #[test]
    fn sets_matrices_and_errors() {
        let toks = tokenize(r"\{1\} \begin{pmatrix}1&2\\3&4\end{pmatrix}").unwrap();
        assert_eq!(toks[0], Tok::LSet);
        assert_eq!(toks[2], Tok::RSet);
        assert_eq!(toks[3], Tok::Begin("pmatrix".into()));
        assert!(toks.contains(&Tok::Amp) && toks.contains(&Tok::RowSep));
        assert_eq!(toks.last(), Some(&Tok::End("pmatrix".into())));
        assert_eq!(tokenize("2 # 3"), Err(LexError('#')));
        assert_eq!(
            tokenize("1.2.3").unwrap(),
            vec![Tok::Num("1.2".into()), Tok::Num(".3".into())]
        );
    }

    #[test]
    fn repeating_decimals() {
        assert_eq!(
            tokenize(r"0.\overline{3}").unwrap(),
            vec![Tok::Num("0.(3)".into())]
        );
        assert_eq!(
            tokenize(r"1.2\overline{34}").unwrap(),
            vec![Tok::Num("1.2(34)".into())]
        );
        // No point, no repeating block: `\overline` stays a command.
        assert_eq!(
            tokenize(r"2\overline{3}").unwrap()[1],
            Tok::Cmd("overline".into())
        );
    }

    #[test]
    fn e_notation() {
        assert_eq!(tokenize("1.5e-3").unwrap(), vec![Tok::Num("1.5e-3".into())]);
        assert_eq!(tokenize("3E8").unwrap(), vec![Tok::Num("3E8".into())]);
        // `2e-1` is 2·e − 1, `2e3x` a product, `2e` twice Euler's number.
        assert_eq!(tokenize("2e-1").unwrap().len(), 4);
        assert_eq!(tokenize("2e3x").unwrap()[0], Tok::Num("2".into()));
        assert_eq!(tokenize("2e").unwrap()[1], Tok::Letter('e'));
    }
}
