//! Turning one row, as JSON, into a [`Problem`]: the single place where rows are validated.
//!
//! Parquet rows are converted to JSON first (see `read::arrow_json`), so a malformed row gets the
//! same error whichever format it came from. The ground truth is checked for what its verifier
//! will need ([`check_ground_truth`]): a row no verifier could grade is a row error here, not a
//! verifier error on every sample of the problem during training.

use std::path::Path;

use prime_models::ChatMessage;
use prime_verifiers::code::{CodeTests, GroundTruthError};
use prime_verifiers::math::last_boxed;
use prime_verifiers::Reference;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::DataError;
use crate::problem::Problem;

/// Which layout the rows of a JSON/JSONL file follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Decide per row: `prompt` → veRL, `instruction` → legacy.
    #[default]
    Auto,
    /// `data_source, prompt, ability, reward_model{style, ground_truth}, extra_info`.
    Verl,
    /// The older Eurus-2-RL-Data layout: `id, task, source, instruction, reference`.
    Legacy,
}

/// Where a row sits, for error messages and fallback ids.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowContext<'a> {
    pub path: &'a Path,
    pub row: usize,
}

impl RowContext<'_> {
    pub fn bad(&self, field: impl Into<String>, reason: impl Into<String>) -> DataError {
        DataError::BadRow {
            path: self.path.to_path_buf(),
            row: self.row,
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn fallback_id(&self) -> String {
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{stem}-{}", self.row)
    }
}

/// The JSON type of a value, for messages (`expected a string, found number`).
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// Parse one row in `layout`.
pub(crate) fn problem_from_json(
    value: &Value,
    layout: Layout,
    ctx: RowContext<'_>,
) -> Result<Problem, DataError> {
    let Value::Object(row) = value else {
        return Err(ctx.bad(
            "(row)",
            format!("expected a JSON object, found {}", json_type(value)),
        ));
    };
    let layout = match layout {
        Layout::Auto if row.contains_key("prompt") => Layout::Verl,
        Layout::Auto if row.contains_key("instruction") => Layout::Legacy,
        Layout::Auto => return Err(ctx.bad(
            "prompt",
            "missing (neither `prompt` (veRL layout) nor `instruction` (legacy layout) present)",
        )),
        explicit => explicit,
    };
    match layout {
        Layout::Legacy => legacy_row(row, ctx),
        _ => verl_row(row, ctx),
    }
}

fn verl_row(row: &Map<String, Value>, ctx: RowContext<'_>) -> Result<Problem, DataError> {
    let data_source = required_string(row, "data_source", ctx)?;
    let ability = required_string(row, "ability", ctx)?;
    let messages = messages(row.get("prompt"), "prompt", ctx)?;
    let reward_model = match row.get("reward_model") {
        None | Some(Value::Null) => return Err(ctx.bad("reward_model", "missing")),
        Some(Value::Object(object)) => object,
        Some(other) => {
            return Err(ctx.bad(
                "reward_model",
                format!("expected an object, found {}", json_type(other)),
            ))
        }
    };
    let ground_truth = ground_truth(
        reward_model.get("ground_truth"),
        "reward_model.ground_truth",
        ctx,
    )?;
    check_ground_truth(&ability, &ground_truth, "reward_model.ground_truth", ctx)?;
    let extra = row.get("extra_info").cloned().unwrap_or(Value::Null);
    let id = match row.get("id") {
        Some(value) if !value.is_null() => id_value(value, ctx)?,
        _ => split_index_id(&extra).unwrap_or_else(|| ctx.fallback_id()),
    };
    Ok(Problem {
        id,
        reference: Reference {
            ability: ability.clone(),
            data_source: data_source.clone(),
            ground_truth,
        },
        data_source,
        ability,
        messages,
        extra,
    })
}

fn legacy_row(row: &Map<String, Value>, ctx: RowContext<'_>) -> Result<Problem, DataError> {
    let id = match row.get("id") {
        Some(value) if !value.is_null() => id_value(value, ctx)?,
        _ => ctx.fallback_id(),
    };
    let ability = normalise_task(&required_string(row, "task", ctx)?);
    let data_source = required_string(row, "source", ctx)?;
    let messages = match row.get("instruction") {
        Some(Value::String(text)) if text.trim().is_empty() => {
            return Err(ctx.bad("instruction", "empty"))
        }
        Some(Value::String(text)) => vec![ChatMessage::user(text.clone())],
        other => messages(other, "instruction", ctx)?,
    };
    let ground_truth = ground_truth(row.get("reference"), "reference", ctx)?;
    check_ground_truth(&ability, &ground_truth, "reference", ctx)?;
    let rest: Map<String, Value> = row
        .iter()
        .filter(|(key, _)| {
            !matches!(
                key.as_str(),
                "id" | "task" | "source" | "instruction" | "reference"
            )
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let extra = if rest.is_empty() {
        Value::Null
    } else {
        Value::Object(rest)
    };
    Ok(Problem {
        id,
        reference: Reference {
            ability: ability.clone(),
            data_source: data_source.clone(),
            ground_truth,
        },
        data_source,
        ability,
        messages,
        extra,
    })
}

/// The legacy layout's `task` (`Math`, `Coding`) as a veRL `ability` (`math`, `code`).
fn normalise_task(task: &str) -> String {
    let lower = task.trim().to_ascii_lowercase();
    match lower.as_str() {
        "coding" | "code" | "programming" => "code".into(),
        _ => lower,
    }
}

fn required_string(
    row: &Map<String, Value>,
    field: &str,
    ctx: RowContext<'_>,
) -> Result<String, DataError> {
    match row.get(field) {
        None | Some(Value::Null) => Err(ctx.bad(field, "missing")),
        Some(Value::String(text)) if text.trim().is_empty() => Err(ctx.bad(field, "empty")),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(other) => Err(ctx.bad(
            field,
            format!("expected a string, found {}", json_type(other)),
        )),
    }
}

fn id_value(value: &Value, ctx: RowContext<'_>) -> Result<String, DataError> {
    match value {
        Value::String(text) if !text.is_empty() => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        other => Err(ctx.bad(
            "id",
            format!(
                "expected a non-empty string or a number, found {}",
                json_type(other)
            ),
        )),
    }
}

/// `"{split}-{index}"` when `extra_info` has both (Eurus-2-RL-Data rows have no `id`).
fn split_index_id(extra: &Value) -> Option<String> {
    let split = extra.get("split")?.as_str()?;
    let index = extra.get("index")?;
    let index = match index {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    Some(format!("{split}-{index}"))
}

/// A ground truth: a non-empty string as is; a number as its decimal text; a list or object
/// (code tests stored unencoded) as compact JSON text.
fn ground_truth(
    value: Option<&Value>,
    field: &str,
    ctx: RowContext<'_>,
) -> Result<String, DataError> {
    match value {
        None | Some(Value::Null) => Err(ctx.bad(field, "missing")),
        Some(Value::String(text)) if text.trim().is_empty() => Err(ctx.bad(field, "empty")),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Number(number)) => Ok(number.to_string()),
        Some(value @ (Value::Array(_) | Value::Object(_))) => Ok(value.to_string()),
        Some(Value::Bool(_)) => Err(ctx.bad(field, "expected a string, found boolean")),
    }
}

/// The ground truth holds what the row's verifier needs (by `ability`; others are not checked):
/// - `code`: tests that parse, `{"inputs": [...], "outputs": [...], "fn_name"?: str}` with
///   `inputs` and `outputs` non-empty lists of equal length (the verifier's own
///   [`CodeTests::parse`]); the error names the key (`reward_model.ground_truth.outputs`);
/// - `math`: a non-empty answer (the content of the last `\boxed{}` when there is one).
fn check_ground_truth(
    ability: &str,
    ground_truth: &str,
    field: &str,
    ctx: RowContext<'_>,
) -> Result<(), DataError> {
    match ability {
        "code" => CodeTests::parse(ground_truth).map(drop).map_err(|err| {
            let key = match &err {
                GroundTruthError::Json(_) => None,
                GroundTruthError::Field(name) => Some(*name),
                GroundTruthError::Lengths { .. } => Some("outputs"),
                GroundTruthError::Empty => Some("inputs"),
                GroundTruthError::FnName => Some("fn_name"),
            };
            let field = key.map_or_else(|| field.to_string(), |key| format!("{field}.{key}"));
            ctx.bad(field, format!("code tests: {err}"))
        }),
        "math" => {
            let answer = last_boxed(ground_truth).unwrap_or(ground_truth);
            if answer.trim().is_empty() {
                Err(ctx.bad(field, "empty answer in `\\boxed{}`"))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// A chat: a non-empty list of `{role, content}` with non-empty roles and at least one `user`
/// message.
fn messages(
    value: Option<&Value>,
    field: &str,
    ctx: RowContext<'_>,
) -> Result<Vec<ChatMessage>, DataError> {
    let list = match value {
        None | Some(Value::Null) => return Err(ctx.bad(field, "missing")),
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(ctx.bad(
                field,
                format!(
                    "expected a list of {{role, content}} messages, found {}",
                    json_type(other)
                ),
            ))
        }
    };
    if list.is_empty() {
        return Err(ctx.bad(field, "empty list of messages"));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, message) in list.iter().enumerate() {
        let Value::Object(message) = message else {
            return Err(ctx.bad(
                format!("{field}[{i}]"),
                format!(
                    "expected a {{role, content}} object, found {}",
                    json_type(message)
                ),
            ));
        };
        let role = match message.get("role") {
            Some(Value::String(role)) if !role.trim().is_empty() => role.clone(),
            Some(Value::String(_)) => return Err(ctx.bad(format!("{field}[{i}].role"), "empty")),
            None | Some(Value::Null) => {
                return Err(ctx.bad(format!("{field}[{i}].role"), "missing"))
            }
            Some(other) => {
                return Err(ctx.bad(
                    format!("{field}[{i}].role"),
                    format!("expected a string, found {}", json_type(other)),
                ))
            }
        };
        let content = match message.get("content") {
            Some(Value::String(content)) => content.clone(),
            None | Some(Value::Null) => {
                return Err(ctx.bad(format!("{field}[{i}].content"), "missing"))
            }
            Some(other) => {
                return Err(ctx.bad(
                    format!("{field}[{i}].content"),
                    format!("expected a string, found {}", json_type(other)),
                ))
            }
        };
        out.push(ChatMessage { role, content });
    }
    if !out
        .iter()
        .any(|m| m.role == "user" && !m.content.trim().is_empty())
    {
        return Err(ctx.bad(field, "no non-empty `user` message"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(row: Value) -> Result<Problem, DataError> {
        let ctx = RowContext {
            path: Path::new("rows.jsonl"),
            row: 7,
        };
        problem_from_json(&row, Layout::Auto, ctx)
    }

    fn verl(ability: &str, ground_truth: Value) -> Value {
        json!({
            "data_source": "apps",
            "prompt": [{"role": "user", "content": "q"}],
            "ability": ability,
            "reward_model": {"style": "rule", "ground_truth": ground_truth},
        })
    }

    fn legacy(task: &str, reference: Value) -> Value {
        json!({"id": 1, "task": task, "source": "apps", "instruction": "q", "reference": reference})
    }

    /// The field a bad row names, and its message.
    fn bad_field(row: Value) -> (String, String) {
        match read(row) {
            Err(err @ DataError::BadRow { .. }) => {
                let DataError::BadRow { field, row, .. } = &err else {
                    unreachable!()
                };
                assert_eq!(*row, 7);
                (field.clone(), err.to_string())
            }
            other => panic!("expected a bad row, got {other:?}"),
        }
    }

    #[test]
    fn code_tests_must_parse() {
        let gt = "reward_model.ground_truth";
        let cases = [
            (json!("{not json"), gt.to_string()),
            (
                json!(r#"{"inputs": ["1"], "outputs": []}"#),
                format!("{gt}.outputs"),
            ),
            (json!(r#"{"outputs": ["1"]}"#), format!("{gt}.inputs")),
            (
                json!(r#"{"inputs": [], "outputs": []}"#),
                format!("{gt}.inputs"),
            ),
            (
                json!(r#"{"inputs": ["1"], "outputs": ["1"], "fn_name": ""}"#),
                format!("{gt}.fn_name"),
            ),
            // Stored unencoded as an object, it is checked the same way.
            (
                json!({"inputs": ["1"], "outputs": "1"}),
                format!("{gt}.outputs"),
            ),
        ];
        for (truth, field) in cases {
            let (got, message) = bad_field(verl("code", truth.clone()));
            assert_eq!(got, field, "{truth}");
            assert!(
                message.starts_with("rows.jsonl: row 7, field `"),
                "{message}"
            );
            assert!(message.contains("code tests: ground truth"), "{message}");
        }
        let (field, _) = bad_field(legacy("Coding", json!("{not json")));
        assert_eq!(field, "reference");
    }

    #[test]
    fn valid_code_tests_pass() {
        for truth in [
            json!(r#"{"inputs": ["1 2\n"], "outputs": ["3\n"]}"#),
            json!(r#"{"inputs": ["[1]"], "outputs": ["1"], "fn_name": "f"}"#),
            json!(r#"{"inputs": [["1", "2"]], "outputs": [["3"]], "fn_name": null}"#),
            json!({"inputs": ["1"], "outputs": ["1"]}),
        ] {
            let problem =
                read(verl("code", truth.clone())).unwrap_or_else(|e| panic!("{truth}: {e}"));
            assert_eq!(problem.ability, "code");
        }
        assert!(read(legacy(
            "Coding",
            json!(r#"{"inputs": ["1"], "outputs": ["1"]}"#)
        ))
        .is_ok());
    }

    #[test]
    fn a_math_answer_must_not_be_empty() {
        for truth in [json!(r"\boxed{}"), json!(r"The answer is \boxed{ }.")] {
            let (field, message) = bad_field(verl("math", truth));
            assert_eq!(field, "reward_model.ground_truth");
            assert!(message.contains("empty answer"), "{message}");
        }
        let (field, _) = bad_field(legacy("Math", json!(r"\boxed{}")));
        assert_eq!(field, "reference");
        assert!(read(verl("math", json!(r"\boxed{\frac{1}{2}}"))).is_ok());
        assert!(read(verl("math", json!(3))).is_ok());
        // Other abilities are not checked here: their verifiers own their ground truths.
        assert!(read(verl("arithmetic", json!("{not json"))).is_ok());
    }
}
