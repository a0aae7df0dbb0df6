//! The JSONL protocol of the `verify` example: one item per input line
//! `{"response": str, "ground_truth": str, "ability"?: str, "data_source"?: str}`, one verdict
//! per output line `{"score": f, "status": str, "reason": str, "micros": n}`, in input order.
//! A line that is not a valid item yields an `error` verdict naming the line, so the output
//! always has exactly one line per input line.

use std::fmt;
use std::io::{BufRead, Write};
use std::str::FromStr;
use std::time::Duration;

use prime::verifiers::{
    BatchResult, Reference, RunnerConfig, StatusCounts, Verdict, VerifyItem, VerifyRunner,
};
use serde::{Deserialize, Serialize};

/// Which verifier the items go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every item is math.
    Math,
    /// Every item is code.
    Code,
    /// The item's `ability` (or `data_source`) decides; without one, a ground truth that is a
    /// JSON object with `inputs` and `outputs` is code, anything else math.
    Auto,
}

/// An unknown mode name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMode(pub String);

impl fmt::Display for UnknownMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown mode `{}` (expected math, code or auto)", self.0)
    }
}

impl FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "math" => Ok(Mode::Math),
            "code" => Ok(Mode::Code),
            "auto" => Ok(Mode::Auto),
            other => Err(UnknownMode(other.to_string())),
        }
    }
}

/// Errors of the JSONL protocol.
#[derive(Debug)]
pub enum JsonlError {
    /// A line is not a valid item.
    BadLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Reading input or writing output failed.
    Io(std::io::Error),
}

impl fmt::Display for JsonlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonlError::BadLine { line, message } => write!(f, "line {line}: {message}"),
            JsonlError::Io(e) => write!(f, "i/o: {e}"),
        }
    }
}

impl From<std::io::Error> for JsonlError {
    fn from(e: std::io::Error) -> Self {
        JsonlError::Io(e)
    }
}

/// One input line.
#[derive(Debug, Clone, Deserialize)]
struct Line {
    response: String,
    ground_truth: String,
    #[serde(default)]
    ability: Option<String>,
    #[serde(default)]
    data_source: Option<String>,
}

/// One output line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictLine {
    /// Outcome score in [0, 1].
    pub score: f64,
    /// `correct`, `wrong`, `no_answer`, `timeout` or `error`.
    pub status: String,
    /// Why.
    pub reason: String,
    /// Wall-clock microseconds spent on the item.
    pub micros: u64,
}

/// `code` when the ground truth looks like a test specification, else `math`.
pub fn guess_ability(ground_truth: &str) -> &'static str {
    let is_tests = serde_json::from_str::<serde_json::Value>(ground_truth)
        .ok()
        .and_then(|v| {
            v.as_object()
                .map(|o| o.contains_key("inputs") && o.contains_key("outputs"))
        })
        .unwrap_or(false);
    if is_tests {
        "code"
    } else {
        "math"
    }
}

/// Parse one input line (`line_no` is 1-based, for messages).
pub fn parse_line(text: &str, line_no: usize, mode: Mode) -> Result<VerifyItem, JsonlError> {
    let line: Line = serde_json::from_str(text).map_err(|e| JsonlError::BadLine {
        line: line_no,
        message: e.to_string(),
    })?;
    let (ability, data_source) = match mode {
        Mode::Math => ("math".to_string(), String::new()),
        Mode::Code => ("code".to_string(), String::new()),
        Mode::Auto => {
            let ability = line
                .ability
                .clone()
                .unwrap_or_else(|| guess_ability(&line.ground_truth).to_string());
            (ability, line.data_source.clone().unwrap_or_default())
        }
    };
    Ok(VerifyItem {
        response: line.response,
        reference: Reference {
            ability,
            data_source,
            ground_truth: line.ground_truth,
        },
    })
}

/// The output line of one verdict.
pub fn verdict_line(verdict: &Verdict, micros: u64) -> VerdictLine {
    VerdictLine {
        score: verdict.score,
        status: verdict.status.as_str().to_string(),
        reason: verdict.reason.clone(),
        micros,
    }
}

/// Usage line of the `verify` example.
pub const USAGE: &str =
    "usage: verify math|code|auto [--workers N] [--timeout-ms MS] < items.jsonl > verdicts.jsonl";

/// Parse the `verify` example's arguments (without the program name): the mode, then
/// `--workers N` and `--timeout-ms MS` in any order. The error is a message with the usage.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<(Mode, RunnerConfig), String> {
    let mut args = args.into_iter();
    let mode: Mode = args
        .next()
        .ok_or_else(|| USAGE.to_string())?
        .parse()
        .map_err(|e| format!("{e}\n{USAGE}"))?;
    let mut config = RunnerConfig::default();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number: u64 = value
            .parse()
            .map_err(|_| format!("{flag}: `{value}` is not a number"))?;
        match flag.as_str() {
            "--workers" => config.workers = number.max(1) as usize,
            "--timeout-ms" => config.item_timeout = Duration::from_millis(number.max(1)),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    Ok((mode, config))
}

/// Read items from `input`, verify them with `runner` in chunks of `chunk` lines, write one
/// verdict line per input line to `output`. Blank lines are skipped. Returns the counts.
pub fn run(
    input: impl BufRead,
    mut output: impl Write,
    mode: Mode,
    runner: &VerifyRunner,
    chunk: usize,
) -> Result<StatusCounts, JsonlError> {
    let mut counts = StatusCounts::default();
    let mut pending: Vec<Result<VerifyItem, JsonlError>> = Vec::new();
    let flush = |pending: &mut Vec<Result<VerifyItem, JsonlError>>,
                 output: &mut dyn Write,
                 counts: &mut StatusCounts|
     -> Result<(), JsonlError> {
        let good: Vec<VerifyItem> = pending
            .iter()
            .filter_map(|p| p.as_ref().ok().cloned())
            .collect();
        let mut results = verdicts_with_micros(runner.run(good)).into_iter();
        for p in pending.drain(..) {
            let (verdict, micros) = match p {
                Ok(_) => results
                    .next()
                    .unwrap_or_else(|| (Verdict::error("runner returned too few verdicts"), 0)),
                Err(e) => (Verdict::error(e.to_string()), 0),
            };
            counts.add(verdict.status);
            let json = serde_json::to_string(&verdict_line(&verdict, micros))
                .map_err(|e| JsonlError::Io(std::io::Error::other(e)))?;
            writeln!(output, "{json}")?;
        }
        output.flush()?;
        Ok(())
    };
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        pending.push(parse_line(&line, i + 1, mode));
        if pending.len() >= chunk.max(1) {
            flush(&mut pending, &mut output, &mut counts)?;
        }
    }
    if !pending.is_empty() {
        flush(&mut pending, &mut output, &mut counts)?;
    }
    Ok(counts)
}

/// Verdicts paired with their wall-clock microseconds, in order.
fn verdicts_with_micros(batch: BatchResult) -> Vec<(Verdict, u64)> {
    batch.verdicts.into_iter().zip(batch.micros).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use prime::verifiers::{Router, Status};

    fn run_text(input: &str, mode: Mode) -> (Vec<VerdictLine>, StatusCounts) {
        let runner = VerifyRunner::new(Arc::new(Router::default()), RunnerConfig::default());
        let mut out = Vec::new();
        let counts = run(input.as_bytes(), &mut out, mode, &runner, 2).expect("run");
        let lines = String::from_utf8(out)
            .expect("utf8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("verdict line"))
            .collect();
        (lines, counts)
    }

    #[test]
    fn one_line_out_per_line_in() {
        let input = concat!(
            r#"{"response": "so \\boxed{\\frac12}", "ground_truth": "0.5"}"#,
            "\n",
            r#"{"response": "so \\boxed{3}", "ground_truth": "4"}"#,
            "\n\n",
            "not json\n",
            r#"{"response": "\\boxed{15}", "ground_truth": "15", "ability": "arithmetic"}"#,
            "\n",
            r#"{"response": "x", "ground_truth": "1", "ability": "poetry"}"#,
            "\n",
        );
        let (lines, counts) = run_text(input, Mode::Auto);
        let statuses: Vec<&str> = lines.iter().map(|l| l.status.as_str()).collect();
        assert_eq!(statuses, ["correct", "wrong", "error", "correct", "error"]);
        assert!(
            lines[2].reason.starts_with("line 4:"),
            "{}",
            lines[2].reason
        );
        assert_eq!(lines[0].score, 1.0);
        assert_eq!((counts.correct, counts.wrong, counts.error), (2, 1, 2));
    }

    #[test]
    fn command_line() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let (mode, config) = parse_args(args("code --workers 3 --timeout-ms 250")).expect("args");
        assert_eq!(mode, Mode::Code);
        assert_eq!(config.workers, 3);
        assert_eq!(config.item_timeout, Duration::from_millis(250));
        assert!(parse_args(args("")).is_err());
        assert!(parse_args(args("math --workers")).is_err());
        assert!(parse_args(args("math --workers x")).is_err());
        assert!(parse_args(args("math --fast 1"))
            .unwrap_err()
            .contains("unknown flag"));
    }

    #[test]
    fn modes_and_guessing() {
        assert_eq!("auto".parse::<Mode>(), Ok(Mode::Auto));
        assert!("maths".parse::<Mode>().is_err());
        assert_eq!(
            guess_ability(r#"{"inputs": ["1"], "outputs": ["2"]}"#),
            "code"
        );
        assert_eq!(guess_ability("12"), "math");
        assert_eq!(guess_ability(r#"{"a": 1}"#), "math");
        let item = parse_line(
            r#"{"response": "r", "ground_truth": "1", "ability": "code"}"#,
            1,
            Mode::Math,
        )
        .expect("item");
        assert_eq!(item.reference.ability, "math");
        let (lines, _) = run_text(
            r#"{"response": "\\boxed{1}", "ground_truth": "1"}"#,
            Mode::Math,
        );
        assert_eq!(lines[0].status, Status::Correct.as_str());
    }
}
