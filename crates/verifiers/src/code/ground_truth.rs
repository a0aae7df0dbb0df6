//! The tests of one code problem, parsed from `reward_model.ground_truth`:
//! `{"inputs": [...], "outputs": [...], "fn_name"?: str}`.

use serde_json::Value;

/// How a program is fed and read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Each input is the program's stdin; its stdout is compared with the output.
    StdinStdout,
    /// Each input is newline-separated JSON arguments of `fn_name` (a function, or a method of
    /// `Solution()`); the return value is compared with the output.
    Call {
        /// Function or method name.
        fn_name: String,
    },
}

/// One test: what goes in and what must come out.
#[derive(Debug, Clone, PartialEq)]
pub enum TestCase {
    /// stdin text and expected stdout text.
    Stdin {
        /// Fed on stdin.
        input: String,
        /// Expected stdout.
        expected: String,
    },
    /// Arguments and expected return value.
    Call {
        /// Newline-separated JSON arguments (a string) or the argument list (an array).
        args: Value,
        /// Expected return value.
        expected: Value,
    },
}

/// All tests of a problem.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeTests {
    /// Stdin/stdout or call-based.
    pub mode: Mode,
    /// Tests in dataset order (the first ten decide partial credit).
    pub cases: Vec<TestCase>,
}

/// Why a ground truth string is not a usable test set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroundTruthError {
    /// Not JSON.
    #[error("ground truth is not JSON: {0}")]
    Json(String),
    /// A required field is missing or has the wrong type.
    #[error("ground truth field `{0}` is missing or not a list")]
    Field(&'static str),
    /// `inputs` and `outputs` differ in length.
    #[error("ground truth has {inputs} inputs but {outputs} outputs")]
    Lengths {
        /// Number of inputs.
        inputs: usize,
        /// Number of outputs.
        outputs: usize,
    },
    /// No tests at all.
    #[error("ground truth has no tests")]
    Empty,
    /// `fn_name` is present but not a non-empty string.
    #[error("ground truth field `fn_name` must be a non-empty string")]
    FnName,
}

/// Text of a stdin input or expected stdout: strings as they are, lists of lines joined by `\n`,
/// other JSON values in their JSON form.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text_of).collect::<Vec<_>>().join("\n"),
        other => other.to_string(),
    }
}

/// An expected return value: a string holding JSON is parsed, anything else is taken as is.
fn value_of(value: &Value) -> Value {
    match value {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| value.clone()),
        other => other.clone(),
    }
}

impl CodeTests {
    /// Parses a ground truth string.
    pub fn parse(ground_truth: &str) -> Result<CodeTests, GroundTruthError> {
        let root: Value = serde_json::from_str(ground_truth)
            .map_err(|e| GroundTruthError::Json(e.to_string()))?;
        let inputs = root
            .get("inputs")
            .and_then(Value::as_array)
            .ok_or(GroundTruthError::Field("inputs"))?;
        let outputs = root
            .get("outputs")
            .and_then(Value::as_array)
            .ok_or(GroundTruthError::Field("outputs"))?;
        if inputs.len() != outputs.len() {
            return Err(GroundTruthError::Lengths {
                inputs: inputs.len(),
                outputs: outputs.len(),
            });
        }
        if inputs.is_empty() {
            return Err(GroundTruthError::Empty);
        }
        let mode = match root.get("fn_name") {
            None | Some(Value::Null) => Mode::StdinStdout,
            Some(Value::String(name)) if !name.trim().is_empty() => Mode::Call {
                fn_name: name.trim().to_string(),
            },
            Some(_) => return Err(GroundTruthError::FnName),
        };
        let cases = inputs
            .iter()
            .zip(outputs)
            .map(|(input, output)| match mode {
                Mode::StdinStdout => TestCase::Stdin {
                    input: text_of(input),
                    expected: text_of(output),
                },
                Mode::Call { .. } => TestCase::Call {
                    args: input.clone(),
                    expected: value_of(output),
                },
            })
            .collect();
        Ok(CodeTests { mode, cases })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stdin_mode_with_lists_joined() {
        let t = CodeTests::parse(r#"{"inputs": ["1 2\n", ["3", "4"]], "outputs": ["3\n", 7]}"#)
            .expect("valid");
        assert_eq!(t.mode, Mode::StdinStdout);
        assert_eq!(
            t.cases[1],
            TestCase::Stdin {
                input: "3\n4".into(),
                expected: "7".into()
            }
        );
    }

    #[test]
    fn call_mode_parses_expected_json_strings() {
        let gt = r#"{"inputs": ["[2,7,11,15]\n9"], "outputs": ["[0, 1]"], "fn_name": "twoSum"}"#;
        let t = CodeTests::parse(gt).expect("valid");
        assert_eq!(
            t.mode,
            Mode::Call {
                fn_name: "twoSum".into()
            }
        );
        assert_eq!(
            t.cases[0],
            TestCase::Call {
                args: json!("[2,7,11,15]\n9"),
                expected: json!([0, 1])
            }
        );
    }

    #[test]
    fn bad_ground_truths_are_typed_errors() {
        assert!(matches!(
            CodeTests::parse("nope"),
            Err(GroundTruthError::Json(_))
        ));
        assert_eq!(
            CodeTests::parse(r#"{"inputs": [], "outputs": []}"#),
            Err(GroundTruthError::Empty)
        );
        assert_eq!(
            CodeTests::parse(r#"{"inputs": ["1"], "outputs": []}"#),
            Err(GroundTruthError::Lengths {
                inputs: 1,
                outputs: 0
            })
        );
        assert_eq!(
            CodeTests::parse(r#"{"outputs": []}"#),
            Err(GroundTruthError::Field("inputs"))
        );
        assert_eq!(
            CodeTests::parse(r#"{"inputs": ["1"], "outputs": ["1"], "fn_name": 3}"#),
            Err(GroundTruthError::FnName)
        );
    }
}
