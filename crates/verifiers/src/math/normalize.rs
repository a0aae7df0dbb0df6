//! String normalisation of the MATH / PRM800K kind, applied before parsing.

/// A normalised answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The cleaned LaTeX.
    pub text: String,
    /// A `%` or "percent" was removed: compare also against ×100 and /100.
    pub percent: bool,
}

impl Normalized {
    /// The text without any whitespace, for string equality.
    pub fn compact(&self) -> String {
        self.text.chars().filter(|c| !c.is_whitespace()).collect()
    }
}

/// Commands whose braced argument is kept and the command dropped.
const UNWRAP: [&str; 12] = [
    "text",
    "textbf",
    "textit",
    "textrm",
    "textnormal",
    "mathrm",
    "mathbf",
    "mathit",
    "mbox",
    "boldsymbol",
    "mathbb",
    "operatorname",
];

/// Words dropped after a quantity.
const UNITS: [&str; 62] = [
    "units", "unit", "sq", "square", "cubic", "cm", "mm", "km", "meters", "meter", "metres",
    "inches", "inch", "feet", "foot", "ft", "yards", "yard", "miles", "mile", "mph", "hours",
    "hour", "hrs", "minutes", "minute", "min", "seconds", "second", "sec", "days", "day", "weeks",
    "week", "months", "years", "year", "dollars", "dollar", "cents", "cent", "degrees", "degree",
    "liters", "litres", "grams", "kg", "pounds", "lbs", "ounces", "oz", "points", "people",
    "students", "ways", "percent", "times", "steps", "children", "boxes", "pages", "apples",
];

/// Plain replacements, applied in order.
const REPLACE: [(&str, &str); 40] = [
    ("\u{2212}", "-"),
    ("\u{2013}", "-"),
    ("\u{2014}", "-"),
    ("\u{03c0}", "\\pi "),
    ("\u{221e}", "\\infty "),
    ("\u{221a}", "\\sqrt"),
    ("\u{00b7}", "\\cdot "),
    ("\u{00d7}", "\\times "),
    ("\u{00f7}", "\\div "),
    ("\u{2264}", "\\le "),
    ("\u{2265}", "\\ge "),
    ("\u{00a0}", " "),
    ("\u{2009}", " "),
    ("\u{00b0}", ""),
    ("\\displaystyle", ""),
    ("\\dfrac", "\\frac"),
    ("\\tfrac", "\\frac"),
    ("\\dbinom", "\\binom"),
    ("\\tbinom", "\\binom"),
    ("^{\\circ}", ""),
    ("^\\circ", ""),
    ("\\circ", ""),
    ("\\degree", ""),
    ("\\%", "%"),
    ("\\$", ""),
    ("$", ""),
    ("\\(", ""),
    ("\\)", ""),
    ("\\[", ""),
    ("\\]", ""),
    ("\\!", ""),
    ("\\,", " "),
    ("\\;", " "),
    ("\\:", " "),
    ("\\qquad", " "),
    ("\\quad", " "),
    ("~", " "),
    ("{,}", ","),
    ("\\infin", "\\infty"),
    ("infinity", "\\infty"),
];

/// Normalise an extracted answer or a ground truth.
pub fn normalize(raw: &str) -> Normalized {
    let mut s = raw.trim().to_string();
    for (from, to) in REPLACE {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    s = s.replace("\\infty", "\\infty ");
    for cmd in UNWRAP {
        s = unwrap_command(&s, cmd);
    }
    s = remove_sizing(&s);
    // "2 and 3", "2 or 3": several answers.
    s = s.replace(" and ", ", ").replace(" or ", ", ");
    let percent = s.contains('%') || s.contains("percent");
    s = s.replace('%', "");
    s = strip_membership_prefix(&s);
    s = strip_units(&s);
    let trimmed = s.trim().trim_end_matches('.').trim();
    let mut s = brace_arguments(trimmed);
    if is_thousands_number(&s) {
        s.retain(|c| c != ',');
    }
    Normalized { text: s, percent }
}

/// Replace every `\cmd{body}` by `body` (also `\cmd body-char`-less forms are left alone).
fn unwrap_command(s: &str, cmd: &str) -> String {
    let pattern = format!("\\{cmd}");
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(&pattern) {
        let after = &rest[at + pattern.len()..];
        // `\textbf` must not match inside `\textbfx`.
        if after.starts_with(|c: char| c.is_ascii_alphabetic()) {
            out.push_str(&rest[..at + pattern.len()]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..at]);
        let body_start = after.trim_start();
        match body_start.strip_prefix('{').and_then(balanced_prefix) {
            Some(body) => {
                out.push(' ');
                out.push_str(body);
                out.push(' ');
                rest = &body_start[1 + body.len() + 1..];
            }
            None => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// The text up to the brace that closes an already-opened group.
fn balanced_prefix(s: &str) -> Option<&str> {
    let mut depth = 1usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&s[..i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// Drop `\left`, `\right` (and `\left.`), `\big`-style sizes.
fn remove_sizing(s: &str) -> String {
    let mut out = s.to_string();
    for (from, to) in [
        ("\\left.", ""),
        ("\\right.", ""),
        ("\\left", ""),
        ("\\right", ""),
        ("\\bigl", ""),
        ("\\bigr", ""),
        ("\\Bigl", ""),
        ("\\Bigr", ""),
        ("\\big", ""),
        ("\\Big", ""),
    ] {
        // `\left` must not eat `\leftarrow`; `\right` not `\rightarrow`.
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(at) = rest.find(from) {
            let after = &rest[at + from.len()..];
            result.push_str(&rest[..at]);
            if !from.ends_with('.') && after.starts_with(|c: char| c.is_ascii_alphabetic()) {
                result.push_str(from);
            } else {
                result.push_str(to);
            }
            rest = after;
        }
        result.push_str(rest);
        out = result;
    }
    out
}

/// `x \in [1, 2]` → `[1, 2]`.
fn strip_membership_prefix(s: &str) -> String {
    let t = s.trim_start();
    let mut chars = t.chars();
    if chars.next().is_some_and(|c| c.is_ascii_alphabetic()) {
        let rest = chars.as_str().trim_start();
        if let Some(after) = rest.strip_prefix("\\in") {
            if !after.starts_with(|c: char| c.is_ascii_alphabetic()) {
                return after.trim_start().to_string();
            }
        }
    }
    s.to_string()
}

/// Drop trailing unit words (`5 cm^2`, `12 \text{ dollars}`) when a quantity remains before them.
fn strip_units(s: &str) -> String {
    let mut text = s.trim_end().to_string();
    loop {
        let without_power = strip_power_suffix(&text);
        let word_start = without_power
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphabetic())
            .last()
            .map(|(i, _)| i);
        let Some(start) = word_start else { break };
        let word = &without_power[start..];
        let head = without_power[..start].trim_end();
        let separated = head.len() < start || head.ends_with(|c: char| c.is_ascii_digit());
        let is_unit = UNITS.iter().any(|u| word.eq_ignore_ascii_case(u));
        if !is_unit
            || !separated
            || !head.chars().any(|c| c.is_ascii_digit())
            || head.ends_with('\\')
        {
            break;
        }
        text = head.to_string();
    }
    text
}

/// `cm^2` → `cm`, `cm^{3}` → `cm`.
fn strip_power_suffix(s: &str) -> &str {
    for suffix in ["^2", "^3", "^{2}", "^{3}"] {
        if let Some(head) = s.strip_suffix(suffix) {
            return head.trim_end();
        }
    }
    s
}

/// Put braces around the single-token arguments of `\frac`, `\sqrt`, `\binom`, `^`, `_`:
/// `\frac12` → `\frac{1}{2}`, `\sqrt2` → `\sqrt{2}`, `2^10` → `2^{10}` (a digit run after `^` is
/// read whole, as writers of `2^10` mean 1024).
pub fn brace_arguments(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    brace_into(&chars, &mut out, 0);
    out
}

/// Groups nested deeper than this are copied as they are.
const MAX_BRACE_DEPTH: usize = 64;

fn brace_into(chars: &[char], out: &mut String, depth: usize) {
    if depth > MAX_BRACE_DEPTH {
        out.extend(chars);
        return;
    }
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let mut j = i + 1;
            while j < chars.len() && chars[j].is_ascii_alphabetic() {
                j += 1;
            }
            let name: String = chars[i + 1..j].iter().collect();
            if j == i + 1 && j < chars.len() {
                j += 1;
            }
            out.extend(&chars[i..j]);
            i = j;
            let args = match name.as_str() {
                "frac" | "binom" => 2,
                "sqrt" => 1,
                _ => 0,
            };
            for _ in 0..args {
                let k = skip_spaces(chars, i);
                if name == "sqrt" && chars.get(k) == Some(&'[') {
                    // An index `\sqrt[3]{x}`: copy it through.
                    let close = chars[k..]
                        .iter()
                        .position(|&c| c == ']')
                        .map_or(chars.len(), |p| k + p + 1);
                    out.extend(&chars[k..close]);
                    i = close;
                }
                i = brace_one(chars, i, out, false, depth);
            }
        } else if c == '^' || c == '_' {
            out.push(c);
            i = brace_one(chars, i + 1, out, c == '^', depth);
        } else if c == '{' {
            i = brace_one(chars, i, out, false, depth);
        } else {
            out.push(c);
            i += 1;
        }
    }
}

fn skip_spaces(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i] == ' ' {
        i += 1;
    }
    i
}

/// Copy one argument starting at `i`, wrapping it in braces; returns the index after it.
fn brace_one(chars: &[char], i: usize, out: &mut String, digit_run: bool, depth: usize) -> usize {
    let mut i = skip_spaces(chars, i);
    match chars.get(i) {
        None => i,
        Some('{') => {
            let mut level = 0usize;
            let mut close = None;
            for (k, &c) in chars.iter().enumerate().skip(i) {
                match c {
                    '{' => level += 1,
                    '}' => {
                        level -= 1;
                        if level == 0 {
                            close = Some(k);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let Some(close) = close else {
                out.extend(&chars[i..]);
                return chars.len();
            };
            out.push('{');
            brace_into(&chars[i + 1..close], out, depth + 1);
            out.push('}');
            close + 1
        }
        Some('\\') => {
            let mut j = i + 1;
            while j < chars.len() && chars[j].is_ascii_alphabetic() {
                j += 1;
            }
            let end = j.max(i + 2).min(chars.len());
            out.push('{');
            out.extend(&chars[i..end]);
            out.push('}');
            end
        }
        Some(&c) => {
            out.push('{');
            out.push(c);
            i += 1;
            if digit_run && c.is_ascii_digit() {
                while i < chars.len() && chars[i].is_ascii_digit() {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            out.push('}');
            i
        }
    }
}

/// `1,234,567` or `-12,000.5`: a single number with thousands separators.
fn is_thousands_number(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let int = body.split_once('.').map_or(body, |(i, f)| {
        if f.chars().all(|c| c.is_ascii_digit()) {
            i
        } else {
            ""
        }
    });
    let groups: Vec<&str> = int.split(',').collect();
    groups.len() >= 2
        && (1..=3).contains(&groups[0].len())
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_digit()))
        && groups[1..].iter().all(|g| g.len() == 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s).compact()
    }

    #[test]
    fn latex_noise_is_removed() {
        assert_eq!(n(r"\left( 1, 2 \right]"), "(1,2]");
        assert_eq!(n(r"\dfrac{1}{2}"), r"\frac{1}{2}");
        assert_eq!(n(r"30^\circ"), "30");
        assert_eq!(n(r"\$5.00"), "5.00");
        assert_eq!(n(r"\text{Monday}"), "Monday");
        assert_eq!(n(r"x \in [0, 1)"), "[0,1)");
        assert_eq!(n("\u{2212}3\u{03c0}"), r"-3\pi");
    }

    #[test]
    fn units_percent_and_separators() {
        assert_eq!(n(r"12 \text{ cm}^2"), "12");
        assert_eq!(n("5 dollars"), "5");
        assert_eq!(n("10 apples and"), "10applesand");
        assert_eq!(n("odd"), "odd");
        let p = normalize(r"25\%");
        assert_eq!((p.compact().as_str(), p.percent), ("25", true));
        assert_eq!(n("1,234,567"), "1234567");
        assert_eq!(n("1,2"), "1,2");
        assert_eq!(n("(100,200)"), "(100,200)");
    }

    #[test]
    fn single_token_arguments_get_braces() {
        assert_eq!(n(r"\frac12"), r"\frac{1}{2}");
        assert_eq!(n(r"\frac1{x}"), r"\frac{1}{x}");
        assert_eq!(n(r"\sqrt2"), r"\sqrt{2}");
        assert_eq!(n(r"2^10"), r"2^{10}");
        assert_eq!(n(r"x_12"), r"x_{1}2");
        assert_eq!(n(r"\frac\pi2"), r"\frac{\pi}{2}");
        assert_eq!(n(r"\sqrt[3]{2}"), r"\sqrt[3]{2}");
    }
}
