//! The verifier's side of the driver protocol (see `harness.py`): one sandboxed Python process per
//! problem, one request/response line per test, every exchange under a deadline.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::report::{tail, RunReport};
use super::sandbox::channel::{Channel, ChannelError};
use super::sandbox::Sandbox;

/// The driver script, run with `python3 -I -B -c`.
pub const HARNESS: &str = include_str!("harness.py");

/// Why a session could not start or went away.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The sandbox could not start (a verifier-side failure).
    #[error("sandbox: {0}")]
    Spawn(#[from] super::sandbox::SandboxError),
    /// The driver did not come up (a verifier-side failure).
    #[error("driver did not start: {0}")]
    Startup(String),
    /// The driver stopped answering or died mid-run (caused by the program).
    #[error("{0}")]
    Lost(String),
}

/// What the driver needs to know about the problem.
#[derive(Debug, Clone)]
pub struct SessionSpec<'a> {
    /// The program.
    pub code: &'a str,
    /// Call mode: the function name.
    pub fn_name: Option<&'a str>,
    /// Per-test wall-clock limit.
    pub time_limit: Duration,
    /// Per-test stdout cap, bytes.
    pub output_cap: u64,
}

/// A live driver for one problem.
pub struct Session {
    channel: Channel,
    time_limit: Duration,
}

/// Slack on top of the per-test limit for the driver's own work (fork, kill, reap, report).
const DRIVER_GRACE: Duration = Duration::from_secs(2);

/// The environment of the sandbox: nothing of the verifier's, only what Python needs.
fn sandbox_env() -> Vec<String> {
    [
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "LANG=C.UTF-8",
        "LC_ALL=C.UTF-8",
        "HOME=.",
        "TMPDIR=.",
        "PYTHONIOENCODING=utf-8",
        "OMP_NUM_THREADS=1",
        "OPENBLAS_NUM_THREADS=1",
        "MKL_NUM_THREADS=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Session {
    /// Starts the driver and hands it the problem; returns once it says it is ready.
    pub fn start(sandbox: &Sandbox, spec: &SessionSpec<'_>) -> Result<Session, SessionError> {
        let args = ["-I", "-B", "-c", HARNESS].map(String::from);
        let spawned = sandbox.spawn(&args, &sandbox_env())?;
        let cap = spec.output_cap as usize;
        let line_cap = cap.saturating_mul(7).saturating_add(1 << 20);
        let mut channel = Channel::new(spawned, line_cap, 1 << 16)
            .map_err(|e| SessionError::Startup(e.to_string()))?;
        let header = json!({
            "code": spec.code,
            "fn_name": spec.fn_name,
            "time_limit": spec.time_limit.as_secs_f64(),
            "cpu_seconds": spec.time_limit.as_secs_f64().ceil() as u64 + 1,
            "output_cap": spec.output_cap,
            // kill(-1) stays inside the sandbox only in a pid namespace or a signal scope.
            "kill_all": sandbox.layers().pid_namespace || sandbox.layers().landlock_abi >= 6,
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let started = channel
            .send(format!("{header}\n").as_bytes(), deadline)
            .and_then(|()| channel.recv_line(deadline));
        match started {
            Ok(line) if line.starts_with(b"{\"ready\"") => Ok(Session {
                channel,
                time_limit: spec.time_limit,
            }),
            Ok(line) => Err(SessionError::Startup(format!(
                "unexpected {:?}",
                String::from_utf8_lossy(&line)
            ))),
            Err(e) => {
                let stderr = channel.stderr_text();
                channel.kill();
                Err(SessionError::Startup(format!(
                    "{e}; stderr: {}",
                    tail(&stderr, 500)
                )))
            }
        }
    }

    /// Runs one test: `{"input": …}` or `{"args": …}`. The deadline is the per-test limit plus
    /// slack, cut at `hard_deadline`; past it the whole sandbox is killed.
    pub fn run(
        &mut self,
        request: &Value,
        hard_deadline: Instant,
    ) -> Result<RunReport, SessionError> {
        let deadline = (Instant::now() + self.time_limit + DRIVER_GRACE).min(hard_deadline);
        let line = self
            .channel
            .send(format!("{request}\n").as_bytes(), deadline)
            .and_then(|()| self.channel.recv_line(deadline));
        let lost = |channel: &mut Channel, why: String| {
            let stderr = channel.stderr_text();
            channel.kill();
            SessionError::Lost(format!("{why}; driver stderr: {}", tail(&stderr, 300)))
        };
        match line {
            Ok(line) => serde_json::from_slice(&line)
                .map_err(|e| lost(&mut self.channel, format!("bad driver reply: {e}"))),
            Err(ChannelError::Timeout) => Err(lost(
                &mut self.channel,
                "no answer in time; sandbox killed".into(),
            )),
            Err(e) => Err(lost(&mut self.channel, format!("sandbox lost: {e}"))),
        }
    }

    /// Kills the sandbox and everything in it.
    pub fn close(mut self) {
        self.channel.kill();
    }
}
