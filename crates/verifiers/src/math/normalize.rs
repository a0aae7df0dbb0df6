//! String normalisation of the MATH / PRM800K kind, applied before parsing.

/// A normalised answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The cleaned LaTeX.
    pub text: String,
    /// A `%` or "percent" was removed: the other side may give the number over 100.
    pub percent: bool,
    /// The unit removed after the quantity (`cm^2`, `square units`), as written.
    pub unit: Option<String>,
}

impl Normalized {
    /// The text without any whitespace, for string equality.
    pub fn compact(&self) -> String {
        self.text.chars().filter(|c| !c.is_whitespace()).collect()
    }

    /// Whether the answer is prose (a word of three or more letters, or "no"): such answers
    /// compare case-insensitively through [`Normalized::text_key`].
    pub fn is_prose(&self) -> bool {
        let mut run = 0usize;
        let mut command = false;
        for c in self.text.chars() {
            if c.is_ascii_alphabetic() {
                run += 1;
                if run >= 3 && !command {
                    return true;
                }
            } else {
                run = 0;
                command = c == '\\';
            }
        }
        self.text.trim().eq_ignore_ascii_case("no")
    }

    /// The text lowercased, without a leading article, spaces or a final period: `\text{An
    /// Ellipse.}` → `ellipse`.
    pub fn text_key(&self) -> String {
        let lower = self.text.trim().to_ascii_lowercase();
        let body = ["a ", "an ", "the "]
            .iter()
            .find_map(|article| lower.strip_prefix(article))
            .unwrap_or(&lower);
        body.trim_end_matches(['.', '!'])
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect()
    }

    /// The unit as a comparable key, when it is a unit of measure this grader knows: spelling
    /// variants of one unit share it (`cm`, `centimeters`; `sq units`, `units^2`). Nouns such as
    /// `ways` or `pencils` have none.
    pub fn unit_key(&self) -> Option<String> {
        self.unit.as_deref().and_then(unit_key)
    }
}

/// Spellings of common units, each group sharing its first entry as key.
const UNIT_SYNONYMS: [&[&str]; 25] = [
    &["cm", "centimeter", "centimetre"],
    &["mm", "millimeter", "millimetre"],
    &["m", "meter", "metre"],
    &["km", "kilometer", "kilometre"],
    &["in", "inch", "inches"],
    &["ft", "foot", "feet"],
    &["yd", "yard"],
    &["mi", "mile"],
    &["s", "sec", "second"],
    &["min", "minute"],
    &["h", "hr", "hour"],
    &["g", "gram"],
    &["kg", "kilogram"],
    &["lb", "pound"],
    &["oz", "ounce"],
    &["l", "liter", "litre"],
    &["ml", "milliliter", "millilitre"],
    &["dollar", "usd"],
    &["cent"],
    &["degree", "deg"],
    &["rad", "radian"],
    &["unit", "u"],
    &["mph", "mi/h", "mile/hour", "milesperhour"],
    &["km/h", "kph", "kilometer/hour", "kilometersperhour"],
    &["m/s", "meter/second", "meterspersecond"],
];

/// See [`Normalized::unit_key`].
fn unit_key(unit: &str) -> Option<String> {
    let mut text = unit.trim().to_ascii_lowercase();
    let mut power = "";
    for (prefix, p) in [
        ("square ", "^2"),
        ("sq. ", "^2"),
        ("sq ", "^2"),
        ("cubic ", "^3"),
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            text = rest.to_string();
            power = p;
        }
    }
    for (suffix, p) in [("^2", "^2"), ("^{2}", "^2"), ("^3", "^3"), ("^{3}", "^3")] {
        if let Some(rest) = text.strip_suffix(suffix) {
            text = rest.to_string();
            power = p;
        }
    }
    text.retain(|c| !c.is_whitespace() && c != '.');
    let singular = match text.strip_suffix('s') {
        Some(stem) if stem.len() >= 2 => stem.to_string(),
        _ => text.clone(),
    };
    let group = UNIT_SYNONYMS
        .iter()
        .find(|group| group.contains(&text.as_str()) || group.contains(&singular.as_str()))?;
    Some(format!("{}{power}", group[0]))
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
const UNITS: [&str; 72] = [
    "units", "unit", "sq", "square", "cubic", "cm", "mm", "km", "meters", "meter", "metres",
    "inches", "inch", "feet", "foot", "ft", "yards", "yard", "miles", "mile", "mph", "hours",
    "hour", "hrs", "minutes", "minute", "min", "seconds", "second", "sec", "days", "day", "weeks",
    "week", "months", "years", "year", "dollars", "dollar", "cents", "cent", "degrees", "degree",
    "liters", "litres", "grams", "kg", "pounds", "lbs", "ounces", "oz", "points", "people",
    "students", "ways", "percent", "times", "steps", "children", "boxes", "pages", "apples",
    "gallons", "ml", "marbles", "cookies", "books", "coins", "tiles", "games", "mins", "secs",
];

/// Plain replacements, applied in order.
const REPLACE: [(&str, &str); 45] = [
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
    ("\\langle", "("),
    ("\\rangle", ")"),
    ("\\mathbb{R}", "(-\\infty,\\infty)"),
    ("\\mathbb R", "(-\\infty,\\infty)"),
    ("all real numbers", "(-\\infty,\\infty)"),
];

/// Normalise an extracted answer or a ground truth.
pub fn normalize(raw: &str) -> Normalized {
    let mut s = join_digit_groups(raw.trim());
    // Most patterns are absent from a short answer: a byte set rules them out without a search.
    let mut present = ByteSet::of(&s);
    for (from, to) in REPLACE {
        if present.may_contain(from) && s.contains(from) {
            s = s.replace(from, to);
            present = ByteSet::of(&s);
        }
    }
    s = s.replace("\\infty", "\\infty ");
    let mut unit = None;
    if let Some((quantity, text_unit)) = strip_text_unit(&s) {
        s = quantity;
        unit = Some(text_unit);
    }
    // From here on text is only removed (or spaces added): `present` stays a superset.
    for cmd in UNWRAP {
        if present.may_contain(cmd) {
            s = unwrap_command(&s, cmd);
        }
    }
    s = remove_sizing(&s, &present);
    // "2 and 3", "2 or 3": several answers.
    s = s.replace(" and ", ", ").replace(" or ", ", ");
    let percent = s.contains('%') || s.contains("percent");
    s = s.replace('%', "");
    s = strip_membership_prefix(&s);
    let (quantity, word_unit) = strip_units(&s);
    s = quantity;
    unit = unit.or(word_unit);
    let trimmed = s.trim().trim_end_matches('.').trim();
    let mut s = brace_arguments(trimmed);
    if is_thousands_number(&s) {
        s.retain(|c| c != ',');
    }
    Normalized {
        text: s,
        percent,
        unit,
    }
}

/// The bytes that occur in a string.
struct ByteSet([u64; 4]);

impl ByteSet {
    fn of(s: &str) -> Self {
        let mut bits = [0u64; 4];
        for b in s.bytes() {
            bits[usize::from(b >> 6)] |= 1 << (b & 63);
        }
        Self(bits)
    }

    /// `false` when some byte of `pattern` does not occur, so neither does `pattern`.
    fn may_contain(&self, pattern: &str) -> bool {
        pattern
            .bytes()
            .all(|b| self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0)
    }
}

/// `1\,000\,000` → `1000000`: digit groups of three separated by a thin space.
fn join_digit_groups(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("\\,") {
        let (head, tail) = (&rest[..at], &rest[at + 2..]);
        let group = tail.bytes().take_while(u8::is_ascii_digit).count();
        let joins = head.ends_with(|c: char| c.is_ascii_digit()) && group == 3;
        out.push_str(head);
        if !joins {
            out.push_str("\\,");
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Commands whose braced text after a quantity is its unit.
const UNIT_COMMANDS: [&str; 5] = ["\\text", "\\mbox", "\\mathrm", "\\textrm", "\\textnormal"];

/// `12\text{ cm}^2` → (`12`, `cm^2`): a trailing `\text{…}` (or `\mbox`, `\mathrm`) whose text is a
/// unit — letters, spaces, `/`, `.` — after a quantity ending in a digit or a closing bracket.
fn strip_text_unit(s: &str) -> Option<(String, String)> {
    let t = s.trim_end();
    let (body, power) = ["^2", "^{2}", "^3", "^{3}"]
        .iter()
        .find_map(|p| t.strip_suffix(p).map(|head| (head.trim_end(), *p)))
        .unwrap_or((t, ""));
    let inner_end = body.strip_suffix('}')?;
    let open = inner_end.rfind('{')?;
    let text = &inner_end[open + 1..];
    let before = inner_end[..open].trim_end();
    let command = UNIT_COMMANDS.iter().find(|c| before.ends_with(*c))?;
    let head = before[..before.len() - command.len()]
        .trim_end()
        .trim_end_matches('\\')
        .trim_end();
    let word = text.trim();
    let unit_like = word.starts_with(|c: char| c.is_ascii_alphabetic())
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '/' | '.' | '^'))
        && !matches!(word, "and" | "or");
    let quantity = head.ends_with(|c: char| c.is_ascii_digit() || matches!(c, '}' | ')' | '%'))
        && head.chars().any(|c| c.is_ascii_digit());
    (unit_like && quantity).then(|| (head.to_string(), format!("{word}{power}")))
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
fn remove_sizing(s: &str, present: &ByteSet) -> String {
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
        if !present.may_contain(from) {
            continue;
        }
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

/// Drop trailing unit words (`5 cm^2`, `12 \text{ dollars}`) when a quantity remains before them;
/// returns the quantity and the words removed.
fn strip_units(s: &str) -> (String, Option<String>) {
    let original = s.trim_end();
    let mut text = original.to_string();
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
    let removed = original[text.len()..].trim();
    let unit = (!removed.is_empty()).then(|| removed.to_string());
    (text, unit)
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
/// read whole, as writers of `2^10` mean 1024; so is a numeral's base, `1011_16` → `1011_{16}`).
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
            // `2^10` and a numeral's base `1011_16` read their digit run whole; `x_12` does not.
            let numeral =
                c == '_' && out.ends_with(|p: char| p.is_ascii_digit() || ('A'..='F').contains(&p));
            out.push(c);
            i = brace_one(chars, i + 1, out, c == '^' || numeral, depth);
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

/// `1011_{2}` (as normalised) → (`1011`, Some(2)); a bare `1011` → (`1011`, None): a numeral,
/// possibly with its base written as a subscript (bases 2 to 36).
pub fn base_numeral(text: &str) -> Option<(String, Option<u32>)> {
    let numeral_bytes = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'{' | b'}' | b' ');
    if !text.bytes().all(numeral_bytes) {
        return None;
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let (digits, base) = match compact.split_once('_') {
        Some((digits, base)) => {
            let base = base.trim_start_matches('{').trim_end_matches('}');
            let base: u32 = base.parse().ok().filter(|b| (2..=36).contains(b))?;
            (digits, Some(base))
        }
        None => (compact.as_str(), None),
    };
    let radix = base.unwrap_or(36);
    let valid = !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
    valid.then(|| (digits.to_ascii_lowercase(), base))
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
    fn units_are_kept_for_comparison() {
        let unit = |s: &str| normalize(s).unit_key();
        assert_eq!(n(r"5\text{ pencils}"), "5");
        assert_eq!(
            normalize(r"5\text{ pencils}").unit.as_deref(),
            Some("pencils")
        );
        assert_eq!(unit(r"5\text{ pencils}"), None);
        assert_eq!(unit(r"12\text{ cm}^2"), Some("cm^2".into()));
        assert_eq!(unit(r"12 \text{ square centimeters}"), Some("cm^2".into()));
        assert_eq!(unit(r"\frac{1}{2}\mbox{ Meters}"), Some("m".into()));
        assert_eq!(unit("12"), None);
        assert_eq!(unit(r"30\text{ radians}"), Some("rad".into()));
        // Not units: text without a quantity, a connective, a quantity inside the text.
        assert_eq!(n(r"\text{odd}"), "odd");
        assert_eq!(n(r"2\text{ and }3"), "2,3");
        assert_eq!(unit(r"\text{5 cm}"), Some("cm".into()));
    }

    #[test]
    fn prose_and_numerals() {
        assert!(normalize(r"\text{Ellipse}").is_prose());
        assert_eq!(normalize(r"\text{An Ellipse.}").text_key(), "ellipse");
        assert!(normalize("No").is_prose());
        assert!(!normalize(r"\sqrt{x}").is_prose());
        assert!(!normalize("xy").is_prose());
        assert_eq!(n(r"1\,000\,000"), "1000000");
        assert_eq!(n(r"\mathbb{R}"), r"(-\infty,\infty)");
        assert_eq!(
            base_numeral(&normalize("1011_2").text),
            Some(("1011".into(), Some(2)))
        );
        assert_eq!(base_numeral("1011"), Some(("1011".into(), None)));
        assert_eq!(base_numeral("12_2"), None);
        assert_eq!(base_numeral("x+1"), None);
    }

    #[test]
    fn single_token_arguments_get_braces() {
        assert_eq!(n(r"\frac12"), r"\frac{1}{2}");
        assert_eq!(n(r"\frac1{x}"), r"\frac{1}{x}");
        assert_eq!(n(r"\sqrt2"), r"\sqrt{2}");
        assert_eq!(n(r"2^10"), r"2^{10}");
        assert_eq!(n(r"x_12"), r"x_{1}2");
        assert_eq!(n(r"1011_16"), r"1011_{16}");
        assert_eq!(n(r"\frac\pi2"), r"\frac{\pi}{2}");
        assert_eq!(n(r"\sqrt[3]{2}"), r"\sqrt[3]{2}");
    }
}
