//! What the driver reports for one test run (the reply lines of the protocol in `harness.py`).

use serde::Deserialize;

/// How one test run ended inside the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Exit status 0.
    Ok,
    /// Non-zero exit status (an uncaught exception included).
    Exit,
    /// Killed by a signal (CPU limit, …).
    Signal,
    /// Killed at the time limit.
    Timeout,
    /// The driver could not run it (fork failed).
    Error,
}

/// The driver's report of one test.
#[derive(Debug, Clone, Deserialize)]
pub struct RunReport {
    /// How it ended.
    pub status: RunStatus,
    /// Wall time of the test, milliseconds.
    pub ms: f64,
    /// Captured stdout (up to the cap).
    #[serde(default)]
    pub out: String,
    /// Call mode: `{"json": text}` or `{"repr": text}` of the return value.
    #[serde(default)]
    pub result: Option<String>,
    /// Signal name, exit status or driver error.
    #[serde(default)]
    pub detail: String,
    /// Tail of stderr.
    #[serde(default)]
    pub err: String,
    /// Whether stdout exceeded the cap.
    #[serde(default)]
    pub over: bool,
}

/// The last `max` bytes of `text` (on a char boundary).
pub fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
