//! Output comparison: the cascade of docs/algorithm.md §13 (code) for stdout, and value
//! equality for call-based tests.

use serde_json::Value;

/// Which rule of the cascade accepted an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Equal after stripping surrounding whitespace.
    Stripped,
    /// Equal line by line, each line stripped.
    Lines,
    /// Equal line by line after dropping empty lines.
    NonEmptyLines,
    /// Same whitespace tokens, numbers within tolerance.
    Floats,
    /// Same whitespace-separated tokens.
    Tokens,
}

/// Relative tolerance for numbers (numpy `allclose` style: `|a - b| <= ABS + REL·|b|`).
pub const REL_TOLERANCE: f64 = 1e-5;
/// Absolute tolerance for numbers.
pub const ABS_TOLERANCE: f64 = 1e-8;

fn close(got: f64, expected: f64) -> bool {
    got.is_finite()
        && expected.is_finite()
        && (got - expected).abs() <= ABS_TOLERANCE + REL_TOLERANCE * expected.abs()
}

fn token_close(got: &str, expected: &str) -> bool {
    got == expected
        || matches!(
            (got.parse::<f64>(), expected.parse::<f64>()),
            (Ok(g), Ok(e)) if close(g, e)
        )
}

/// Compares a program's stdout with the expected output, trying the rules in order: stripped
/// equality, line-wise equality after strip, ignoring empty lines, float closeness (token-wise),
/// whitespace-token equality. Returns the first rule that accepts.
pub fn compare_stdout(got: &str, expected: &str) -> Option<Match> {
    if got.trim() == expected.trim() {
        return Some(Match::Stripped);
    }
    let got_lines: Vec<&str> = got.trim().lines().map(str::trim).collect();
    let expected_lines: Vec<&str> = expected.trim().lines().map(str::trim).collect();
    if got_lines == expected_lines {
        return Some(Match::Lines);
    }
    let non_empty = |lines: &[&str]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| l.to_string())
            .collect()
    };
    if non_empty(&got_lines) == non_empty(&expected_lines) {
        return Some(Match::NonEmptyLines);
    }
    let got_tokens: Vec<&str> = got.split_whitespace().collect();
    let expected_tokens: Vec<&str> = expected.split_whitespace().collect();
    if got_tokens.len() == expected_tokens.len()
        && got_tokens != expected_tokens
        && got_tokens
            .iter()
            .zip(&expected_tokens)
            .all(|(g, e)| token_close(g, e))
    {
        return Some(Match::Floats);
    }
    if got_tokens == expected_tokens {
        return Some(Match::Tokens);
    }
    None
}

/// Deep equality of JSON values with numbers compared by [`close`] when either is not an integer.
fn values_equal(got: &Value, expected: &Value) -> bool {
    match (got, expected) {
        (Value::Number(g), Value::Number(e)) => match (g.as_i64(), e.as_i64()) {
            (Some(g), Some(e)) => g == e,
            _ => match (g.as_f64(), e.as_f64()) {
                (Some(g), Some(e)) => g == e || close(g, e),
                _ => g == e,
            },
        },
        (Value::Array(g), Value::Array(e)) => {
            g.len() == e.len() && g.iter().zip(e).all(|(g, e)| values_equal(g, e))
        }
        (Value::Object(g), Value::Object(e)) => {
            g.len() == e.len()
                && g.iter()
                    .all(|(k, gv)| e.get(k).is_some_and(|ev| values_equal(gv, ev)))
        }
        _ => got == expected,
    }
}

/// Compares a function's return value (as JSON) with the expected one; as in the APPS harness an
/// expected one-element list also accepts its element (datasets wrap return values in a list).
pub fn compare_value(got: &Value, expected: &Value) -> bool {
    values_equal(got, expected)
        || matches!(expected, Value::Array(items) if items.len() == 1 && values_equal(got, &items[0]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cascade_order() {
        assert_eq!(compare_stdout("3\n", "3"), Some(Match::Stripped));
        assert_eq!(compare_stdout("1 \r\n2", "1\n2\n"), Some(Match::Lines));
        assert_eq!(compare_stdout("1\n\n2", "1\n2"), Some(Match::NonEmptyLines));
        assert_eq!(
            compare_stdout("0.3333333", "0.33333333"),
            Some(Match::Floats)
        );
        assert_eq!(compare_stdout("1  2\n3", "1 2 3"), Some(Match::Tokens));
    }

    #[test]
    fn rejections() {
        assert_eq!(compare_stdout("4", "5"), None);
        assert_eq!(compare_stdout("0.34", "0.33333"), None);
        assert_eq!(compare_stdout("1 2", "1 2 3"), None);
        assert_eq!(compare_stdout("YES", "yes"), None);
        assert_eq!(compare_stdout("nan", "1.0"), None);
        assert_eq!(compare_stdout("", "0"), None);
    }

    #[test]
    fn float_tolerance_is_relative_plus_absolute() {
        // |1000.005 - 1000| = 5e-3 <= 1e-8 + 1e-5 * 1000 = 1e-2
        assert_eq!(compare_stdout("1000.005", "1000"), Some(Match::Floats));
        // |1e-7 - 0| = 1e-7 > 1e-8
        assert_eq!(compare_stdout("0.0000001", "0"), None);
    }

    #[test]
    fn values() {
        assert!(compare_value(&json!([0, 1]), &json!([0, 1])));
        assert!(compare_value(&json!(3), &json!([3])));
        assert!(compare_value(&json!(0.1 + 0.2), &json!(0.3)));
        assert!(compare_value(&json!({"a": [1.0]}), &json!({"a": [1]})));
        assert!(!compare_value(&json!([1, 0]), &json!([0, 1])));
        assert!(!compare_value(&json!("1"), &json!(1)));
        assert!(!compare_value(&json!(true), &json!(1)));
    }
}
