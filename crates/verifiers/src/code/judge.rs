//! Judging test runs and scoring a problem: the partial-credit rule of docs/algorithm.md §13.

use serde_json::Value;

use super::compare::{compare_stdout, compare_value, Match};
use super::ground_truth::TestCase;
use super::report::{tail, RunReport, RunStatus};
use crate::{Status, Verdict};

/// Tests that count for partial credit.
pub const PARTIAL_CREDIT_TESTS: usize = 10;

/// Why a test failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Ran fine, printed or returned the wrong thing.
    WrongAnswer {
        /// Expected output (shortened).
        expected: String,
        /// Actual output (shortened).
        got: String,
    },
    /// Killed at the per-test time limit.
    TimeLimit,
    /// Exited non-zero; the last line of stderr.
    RuntimeError(String),
    /// Killed by a signal.
    Signal(String),
    /// Wrote more than the output cap.
    OutputLimit,
    /// Call mode: returned something that is not JSON.
    NotJson(String),
    /// The driver could not run it, or the sandbox went away.
    Sandbox(String),
    /// Not run: the time budget of the whole problem was spent.
    ProblemTimeLimit,
}

impl Failure {
    /// True for failures that are a matter of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Failure::TimeLimit | Failure::ProblemTimeLimit)
    }

    fn describe(&self) -> String {
        match self {
            Failure::WrongAnswer { expected, got } => {
                format!("wrong answer: expected {expected:?}, got {got:?}")
            }
            Failure::TimeLimit => "time limit exceeded".into(),
            Failure::RuntimeError(line) => format!("runtime error: {line}"),
            Failure::Signal(name) => format!("killed by {name}"),
            Failure::OutputLimit => "output limit exceeded".into(),
            Failure::NotJson(repr) => format!("returned a non-JSON value {repr}"),
            Failure::Sandbox(why) => format!("sandbox: {why}"),
            Failure::ProblemTimeLimit => "not run: problem time budget spent".into(),
        }
    }
}

fn short(text: &str) -> String {
    const MAX: usize = 80;
    let text = text.trim();
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn last_line(stderr: &str) -> String {
    let line = stderr.trim().lines().last().unwrap_or("").trim();
    if line.is_empty() {
        "no message".into()
    } else {
        short(tail(line, 200))
    }
}

/// Judges one run against its test case.
pub fn judge(case: &TestCase, report: &RunReport) -> Result<Option<Match>, Failure> {
    if report.over {
        return Err(Failure::OutputLimit);
    }
    match report.status {
        RunStatus::Ok => {}
        RunStatus::Timeout => return Err(Failure::TimeLimit),
        RunStatus::Signal => {
            let name = if report.detail == "SIGXCPU" {
                "SIGXCPU (CPU time limit)".to_string()
            } else {
                report.detail.clone()
            };
            return Err(Failure::Signal(name));
        }
        RunStatus::Exit => {
            let message = last_line(&report.err);
            // Output beyond RLIMIT_FSIZE fails the write with EFBIG.
            if message.contains("File too large") {
                return Err(Failure::OutputLimit);
            }
            return Err(Failure::RuntimeError(message));
        }
        RunStatus::Error => return Err(Failure::Sandbox(report.detail.clone())),
    }
    match case {
        TestCase::Stdin { expected, .. } => match compare_stdout(&report.out, expected) {
            Some(m) => Ok(Some(m)),
            None => Err(Failure::WrongAnswer {
                expected: short(expected),
                got: short(&report.out),
            }),
        },
        TestCase::Call { expected, .. } => {
            let payload: Value = report
                .result
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or(Value::Null);
            let got = match (payload.get("json"), payload.get("repr")) {
                (Some(Value::String(text)), _) => serde_json::from_str::<Value>(text)
                    .map_err(|_| Failure::NotJson(short(text)))?,
                (_, Some(Value::String(repr))) => return Err(Failure::NotJson(short(repr))),
                _ => return Err(Failure::RuntimeError("no return value recorded".into())),
            };
            if compare_value(&got, expected) {
                Ok(None)
            } else {
                Err(Failure::WrongAnswer {
                    expected: short(&expected.to_string()),
                    got: short(&got.to_string()),
                })
            }
        }
    }
}

/// The outcome of one test, in dataset order.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `Ok` when it passed.
    pub result: Result<(), Failure>,
    /// Wall time, milliseconds (0 when not run).
    pub ms: f64,
}

/// Which tests still need running given what is known: the first
/// [`PARTIAL_CREDIT_TESTS`] always, later ones only while everything passes.
pub fn should_run(index: usize, outcomes: &[Outcome]) -> bool {
    index < PARTIAL_CREDIT_TESTS || outcomes.iter().all(|o| o.result.is_ok())
}

/// The verdict of a problem with `total` tests from the outcomes of the tests that ran (in order;
/// tests never run count as failed). Score 1 when all `total` pass, else
/// `passed / min(total, 10)` over the first ten. Correct only when all pass; Timeout when nothing
/// passed and the first failure was a time limit; Wrong otherwise.
pub fn verdict(outcomes: &[Outcome], total: usize) -> Verdict {
    let counted = total.clamp(1, PARTIAL_CREDIT_TESTS);
    let all_pass = outcomes.len() == total && outcomes.iter().all(|o| o.result.is_ok());
    let passed_first = outcomes
        .iter()
        .take(counted)
        .filter(|o| o.result.is_ok())
        .count();
    let slowest = outcomes.iter().map(|o| o.ms).fold(0.0, f64::max);
    if all_pass {
        return Verdict {
            score: 1.0,
            status: Status::Correct,
            reason: format!("all {total} tests pass (slowest {slowest:.0} ms)"),
        };
    }
    let score = passed_first as f64 / counted as f64;
    let first_failure = outcomes
        .iter()
        .enumerate()
        .find_map(|(i, o)| o.result.as_ref().err().map(|f| (i, f)));
    let (status, what) = match first_failure {
        Some((i, failure)) => {
            let status = if score == 0.0 && failure.is_timeout() {
                Status::Timeout
            } else {
                Status::Wrong
            };
            (status, format!("test {}: {}", i + 1, failure.describe()))
        }
        None => (Status::Wrong, "tests not run".to_string()),
    };
    Verdict {
        score,
        status,
        reason: format!("{passed_first}/{counted} of the first tests pass; {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass() -> Outcome {
        Outcome {
            result: Ok(()),
            ms: 1.0,
        }
    }
    fn fail(f: Failure) -> Outcome {
        Outcome {
            result: Err(f),
            ms: 1.0,
        }
    }
    fn wrong() -> Outcome {
        fail(Failure::WrongAnswer {
            expected: "1".into(),
            got: "2".into(),
        })
    }

    #[test]
    fn all_pass_scores_one() {
        let v = verdict(&[pass(), pass(), pass()], 3);
        assert_eq!((v.score, v.status), (1.0, Status::Correct));
    }

    #[test]
    fn partial_credit_over_the_first_ten() {
        // 4 tests, 3 pass: 3 / min(4, 10).
        let v = verdict(&[pass(), wrong(), pass(), pass()], 4);
        assert_eq!((v.score, v.status), (0.75, Status::Wrong));
        assert!(v.reason.contains("test 2: wrong answer"), "{}", v.reason);
        // 20 tests, 7 of the first 10 pass, the rest never ran: 7 / 10.
        let mut o: Vec<_> = (0..7).map(|_| pass()).collect();
        o.extend((0..3).map(|_| wrong()));
        assert_eq!(verdict(&o, 20).score, 0.7);
        // The rule of docs/algorithm.md §13 taken literally: first ten pass, the 12th fails →
        // 10/10 yet Wrong.
        let mut o: Vec<_> = (0..11).map(|_| pass()).collect();
        o.push(wrong());
        let v = verdict(&o, 15);
        assert_eq!((v.score, v.status), (1.0, Status::Wrong));
    }

    #[test]
    fn timeouts_with_nothing_passed_are_timeouts() {
        let v = verdict(&[fail(Failure::TimeLimit), wrong()], 2);
        assert_eq!((v.score, v.status), (0.0, Status::Timeout));
        let v = verdict(&[pass(), fail(Failure::TimeLimit)], 2);
        assert_eq!((v.score, v.status), (0.5, Status::Wrong));
    }

    #[test]
    fn later_tests_run_only_while_all_pass() {
        assert!(should_run(9, &[wrong()]));
        assert!(!should_run(10, &[wrong()]));
        assert!(should_run(10, &[pass()]));
    }

    #[test]
    fn judging_runs() {
        let case = TestCase::Stdin {
            input: String::new(),
            expected: "5".into(),
        };
        let mut report = RunReport {
            status: RunStatus::Ok,
            ms: 1.0,
            out: "5\n".into(),
            result: None,
            detail: String::new(),
            err: String::new(),
            over: false,
        };
        assert_eq!(judge(&case, &report), Ok(Some(Match::Stripped)));
        report.out = "4".into();
        assert!(matches!(
            judge(&case, &report),
            Err(Failure::WrongAnswer { .. })
        ));
        report.status = RunStatus::Exit;
        report.err = "Traceback\nZeroDivisionError: division by zero\n".into();
        assert_eq!(
            judge(&case, &report),
            Err(Failure::RuntimeError(
                "ZeroDivisionError: division by zero".into()
            ))
        );
        let call = TestCase::Call {
            args: Value::Null,
            expected: serde_json::json!([0, 1]),
        };
        report.status = RunStatus::Ok;
        report.result = Some(r#"{"json": "[0, 1]"}"#.into());
        assert_eq!(judge(&call, &report), Ok(None));
        report.result = Some(r#"{"repr": "<object>"}"#.into());
        assert!(matches!(judge(&call, &report), Err(Failure::NotJson(_))));
    }
}
