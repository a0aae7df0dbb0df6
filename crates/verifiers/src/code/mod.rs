//! The code verifier: runs the last ```` ```python ```` block of a response against the problem's
//! tests in a sandbox (see [`sandbox`]) and scores it by docs/algorithm.md §13 (code).
//!
//! One sandboxed Python process (the driver, `harness.py`) serves all tests of a response, each
//! test in a fresh forked child under the per-test time limit; the driver never sees expected
//! outputs. A hostile program fails only itself: its sandbox (a pid namespace) is killed as a
//! whole, and the verifier goes on with the next response.

mod compare;
mod extract;
mod ground_truth;
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod judge;
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod report;
pub mod sandbox;
#[cfg(target_os = "linux")]
mod session;

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

pub use compare::{compare_stdout, compare_value, Match};
pub use extract::last_python_block;
pub use ground_truth::{CodeTests, GroundTruthError, Mode, TestCase};
pub use judge::PARTIAL_CREDIT_TESTS;
pub use sandbox::{SandboxLimits, SandboxReport};

use crate::{Reference, Status, Verdict, Verifier};
use sandbox::{Sandbox, SandboxConfig};

/// Settings of the code verifier. `Default` follows docs/algorithm.md §13 (6 s per test) and
/// refuses to run code unless every required sandbox layer works.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeConfig {
    /// The Python interpreter. It must be reachable by an unprivileged user when the verifier runs
    /// as root (an interpreter under `/root` is not). Default: the first of `/usr/bin/python3`,
    /// `/usr/local/bin/python3`, else `python3` on `PATH`.
    pub python: PathBuf,
    /// Wall-clock limit of one test run (reference: 6 s).
    pub time_limit: Duration,
    /// Wall-clock budget of all tests of one response; tests not run by then count as failed.
    pub problem_time_limit: Duration,
    /// Address-space limit of every process, bytes.
    pub memory_limit_bytes: u64,
    /// Cap on one test's stdout (and on any file written), bytes.
    pub output_limit_bytes: u64,
    /// Processes and threads of one sandbox.
    pub max_processes: u64,
    /// Open descriptors per process.
    pub max_open_files: u64,
    /// Size of the private writable scratch directory, bytes.
    pub scratch_bytes: u64,
    /// Refuse to run code (verdict `Error`) when a required sandbox layer is missing.
    pub require_sandbox: bool,
    /// Where sandbox work directories are created.
    pub temp_dir: PathBuf,
}

impl Default for CodeConfig {
    fn default() -> Self {
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("python3"));
        CodeConfig {
            python,
            time_limit: Duration::from_secs(6),
            problem_time_limit: Duration::from_secs(60),
            memory_limit_bytes: 2 << 30,
            output_limit_bytes: 8 << 20,
            max_processes: 64,
            max_open_files: 256,
            scratch_bytes: 32 << 20,
            require_sandbox: true,
            temp_dir: std::env::temp_dir(),
        }
    }
}

/// The interpreter as Python itself reports it: the real executable and the directories it
/// imports from (granted read-only in the sandbox).
#[derive(Debug, Clone)]
struct Interpreter {
    executable: PathBuf,
    dirs: Vec<PathBuf>,
}

fn find_on_path(name: &Path) -> Option<PathBuf> {
    if name.components().count() > 1 {
        return Some(name.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Asks the (trusted) interpreter, outside any sandbox, where it lives.
fn inspect_interpreter(python: &Path) -> Result<Interpreter, String> {
    let found = find_on_path(python).ok_or_else(|| format!("{} not found", python.display()))?;
    let script = "import sys, json; print(json.dumps([sys.executable, sys.prefix, \
                  sys.base_prefix, sys.exec_prefix] + [p for p in sys.path if p]))";
    let output = std::process::Command::new(&found)
        .args(["-I", "-c", script])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", found.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed: {}",
            found.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let paths: Vec<String> = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("unexpected answer from {}: {e}", found.display()))?;
    let executable = std::fs::canonicalize(paths.first().map_or("", String::as_str))
        .map_err(|e| format!("interpreter path: {e}"))?;
    let mut dirs: Vec<PathBuf> = paths.iter().skip(1).map(PathBuf::from).collect();
    if let Some(parent) = executable.parent() {
        dirs.push(parent.to_path_buf());
    }
    // Symlinked prefixes (Debian's /etc/python3.x) resolve elsewhere: grant both.
    let resolved: Vec<PathBuf> = dirs.iter().filter_map(|d| d.canonicalize().ok()).collect();
    dirs.extend(resolved);
    Ok(Interpreter { executable, dirs })
}

/// System paths every sandbox may read: libraries, the dynamic loader's files, time zone data.
fn system_read_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = [
        "/usr",
        "/lib",
        "/lib64",
        "/lib32",
        "/bin",
        "/sbin",
        "/etc/ld.so.cache",
        "/etc/ld.so.conf",
        "/etc/ld.so.conf.d",
        "/etc/localtime",
        "/etc/alternatives",
        "/dev/urandom",
        "/dev/random",
        "/dev/zero",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    if let Ok(entries) = std::fs::read_dir("/etc") {
        paths.extend(
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
                .map(|e| e.path()),
        );
    }
    paths
}

/// Runs Python code in the sandbox and scores it against the problem's tests.
#[derive(Debug)]
pub struct CodeVerifier {
    config: CodeConfig,
    sandbox: Result<Sandbox, String>,
}

static REPORT_ONCE: Once = Once::new();

impl CodeVerifier {
    /// Finds the interpreter and probes the sandbox (starting a few sandboxed processes). The
    /// first verifier of the process logs the [`SandboxReport`] once on stderr.
    pub fn new(config: CodeConfig) -> CodeVerifier {
        let sandbox = inspect_interpreter(&config.python).map(|python| {
            let mut read_paths = system_read_paths();
            read_paths.extend(python.dirs);
            Sandbox::new(SandboxConfig {
                program: python.executable,
                read_paths,
                read_write_files: vec![PathBuf::from("/dev/null")],
                limits: SandboxLimits {
                    memory_bytes: config.memory_limit_bytes,
                    cpu_seconds: config.problem_time_limit.as_secs() + 5,
                    processes: config.max_processes,
                    // The driver holds test inputs in memory files; each test child lowers
                    // this to the output cap before the program starts.
                    file_size_bytes: config.output_limit_bytes.max(1 << 30) + 1,
                    open_files: config.max_open_files,
                    scratch_bytes: config.scratch_bytes,
                    scratch_inodes: 4096,
                },
                temp_root: config.temp_dir.clone(),
                probe_args: ["-I", "-B", "-c", "print('ok')"].map(String::from).to_vec(),
            })
        });
        REPORT_ONCE.call_once(|| match &sandbox {
            Ok(sandbox) => eprintln!("prime-verifiers: {}", sandbox.report()),
            Err(e) => eprintln!("prime-verifiers: code verifier has no interpreter: {e}"),
        });
        CodeVerifier { config, sandbox }
    }

    /// What the sandbox provides here (`Err` when the interpreter could not be found).
    pub fn sandbox_report(&self) -> Result<&SandboxReport, &str> {
        self.sandbox
            .as_ref()
            .map(Sandbox::report)
            .map_err(String::as_str)
    }

    /// The settings.
    pub fn config(&self) -> &CodeConfig {
        &self.config
    }

    /// Whether code runs at all under this configuration; `Err` gives the reason.
    pub fn ready(&self) -> Result<&Sandbox, String> {
        let sandbox = self
            .sandbox
            .as_ref()
            .map_err(|e| format!("no interpreter: {e}"))?;
        check_ready(sandbox.report(), self.config.require_sandbox)?;
        Ok(sandbox)
    }

    /// Runs `code` against `tests` and scores it.
    #[cfg(target_os = "linux")]
    pub fn run_tests(&self, code: &str, tests: &CodeTests) -> Verdict {
        use judge::{judge, should_run, verdict, Failure, Outcome};
        use session::{Session, SessionError, SessionSpec};
        use std::time::Instant;

        let sandbox = match self.ready() {
            Ok(s) => s,
            Err(reason) => return error(reason),
        };
        let start = Instant::now();
        let problem_deadline = start + self.config.problem_time_limit;
        let fn_name = match &tests.mode {
            Mode::Call { fn_name } => Some(fn_name.as_str()),
            Mode::StdinStdout => None,
        };
        let spec = SessionSpec {
            code,
            fn_name,
            time_limit: self.config.time_limit,
            output_cap: self.config.output_limit_bytes,
        };
        let mut session = match Session::start(sandbox, &spec) {
            Ok(s) => s,
            Err(e) => return error(format!("cannot start the code sandbox: {e}")),
        };
        let mut outcomes: Vec<Outcome> = Vec::new();
        for (index, case) in tests.cases.iter().enumerate() {
            if !should_run(index, &outcomes) {
                break;
            }
            if Instant::now() >= problem_deadline {
                outcomes.push(Outcome {
                    result: Err(Failure::ProblemTimeLimit),
                    ms: 0.0,
                });
                break;
            }
            let request = match case {
                TestCase::Stdin { input, .. } => serde_json::json!({ "input": input }),
                TestCase::Call { args, .. } => serde_json::json!({ "args": args }),
            };
            let hard_deadline = problem_deadline + Duration::from_secs(2);
            match session.run(&request, hard_deadline) {
                Ok(report) => outcomes.push(Outcome {
                    result: judge(case, &report).map(|_| ()),
                    ms: report.ms,
                }),
                Err(SessionError::Lost(why)) => {
                    let failure = if Instant::now() >= problem_deadline {
                        Failure::ProblemTimeLimit
                    } else {
                        Failure::Sandbox(why)
                    };
                    outcomes.push(Outcome {
                        result: Err(failure),
                        ms: 0.0,
                    });
                    return verdict(&outcomes, tests.cases.len());
                }
                Err(e) => return error(e.to_string()),
            }
        }
        session.close();
        verdict(&outcomes, tests.cases.len())
    }

    /// No sandbox outside Linux.
    #[cfg(not(target_os = "linux"))]
    pub fn run_tests(&self, _code: &str, _tests: &CodeTests) -> Verdict {
        error("the code sandbox is implemented for Linux only".into())
    }
}

/// Whether code may run given what the sandbox provides: never when no process starts, and with
/// `require_sandbox` only when every required layer is active.
fn check_ready(report: &SandboxReport, require_sandbox: bool) -> Result<(), String> {
    if let Err(e) = &report.usable {
        return Err(format!("sandbox unusable: {e}"));
    }
    if require_sandbox && !report.is_complete() {
        return Err(format!(
            "sandbox incomplete (missing {}); refusing to run code (require_sandbox = true)",
            report.missing().join(", ")
        ));
    }
    Ok(())
}

fn error(reason: String) -> Verdict {
    Verdict {
        score: 0.0,
        status: Status::Error,
        reason,
    }
}

impl Verifier for CodeVerifier {
    fn verify(&self, response: &str, reference: &Reference) -> Verdict {
        let tests = match CodeTests::parse(&reference.ground_truth) {
            Ok(t) => t,
            Err(e) => return error(e.to_string()),
        };
        let Some(code) = last_python_block(response) else {
            return Verdict {
                score: 0.0,
                status: Status::NoAnswer,
                reason: "no ```python block in the response".into(),
            };
        };
        self.run_tests(code, &tests)
    }
}

#[cfg(test)]
mod tests {
    use super::sandbox::LayerState;
    use super::*;

    fn report(seccomp: bool, usable: Result<(), String>) -> SandboxReport {
        SandboxReport {
            layers: vec![LayerState {
                name: "seccomp",
                active: seccomp,
                detail: String::new(),
                required: true,
            }],
            usable,
        }
    }

    #[test]
    fn require_sandbox_refuses_an_incomplete_sandbox() {
        assert_eq!(check_ready(&report(true, Ok(())), true), Ok(()));
        let refused = check_ready(&report(false, Ok(())), true).unwrap_err();
        assert!(refused.contains("missing seccomp"), "{refused}");
        assert!(refused.contains("refusing to run code"), "{refused}");
        // Opting out runs with what there is; an unusable sandbox never runs.
        assert_eq!(check_ready(&report(false, Ok(())), false), Ok(()));
        assert!(check_ready(&report(true, Err("x".into())), false).is_err());
    }
}
