//! A vLLM server the trainer starts (`rollout.vllm.launch = true`): a child process in its own
//! process group on a free local port, stopped (the whole group) when dropped — at the end of
//! the run, on an error, after Ctrl-C — and, on Linux, also when the trainer dies without
//! unwinding (the parent-death signal).

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::client::Client;
use super::error::VllmError;

/// Environment variable naming the Python that has vLLM.
pub const PYTHON_ENV: &str = "PRIME_VLLM_PYTHON";

/// What to start.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// The Python interpreter with vLLM ([`python`]).
    pub python: String,
    /// HF model directory (weights, config, tokenizer).
    pub model_dir: PathBuf,
    /// The name requests use.
    pub served_name: String,
    /// `--dtype`.
    pub dtype: String,
    /// `--max-model-len`.
    pub max_model_len: usize,
    /// `--seed`.
    pub seed: u64,
    /// Appended to the command line.
    pub extra_args: Vec<String>,
    /// Extra environment variables of the server.
    pub env: Vec<(String, String)>,
    /// Where the server's stdout and stderr go.
    pub log: PathBuf,
    /// How long `/health` may take to answer 200.
    pub startup_timeout: Duration,
}

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct LaunchedServer {
    child: Child,
    url: String,
    log: PathBuf,
}

impl LaunchedServer {
    /// Starts the server and waits until `/health` answers (or the process exits, or the
    /// startup timeout passes, or `cancelled()` says so: then it is stopped and the error names
    /// its log).
    pub fn start(spec: &LaunchSpec, cancelled: impl Fn() -> bool) -> Result<Self, VllmError> {
        let python = spec.python.clone();
        let fail = |message: String| VllmError::Launch {
            python: python.clone(),
            message,
            log: spec.log.clone(),
        };
        let port = free_port().map_err(|e| fail(format!("no free local port: {e}")))?;
        if let Some(dir) = spec.log.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
        }
        let log =
            File::create(&spec.log).map_err(|e| fail(format!("{}: {e}", spec.log.display())))?;
        let log_err = log.try_clone().map_err(|e| fail(e.to_string()))?;
        let mut command = Command::new(&python);
        command
            .args(["-m", "vllm.entrypoints.openai.api_server", "--model"])
            .arg(&spec.model_dir)
            .args(["--served-model-name", &spec.served_name])
            .args(["--dtype", &spec.dtype])
            .args(["--max-model-len", &spec.max_model_len.to_string()])
            .args(["--seed", &spec.seed.to_string()])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(&spec.extra_args)
            // `/collective_rpc` and `/reset_prefix_cache` exist only in dev mode.
            .env("VLLM_SERVER_DEV_MODE", "1")
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            // Its own process group: the terminal's Ctrl-C reaches the trainer only, which stops
            // the server (and vLLM's engine processes with it) itself.
            .process_group(0);
        if std::env::var_os("VLLM_CPU_KVCACHE_SPACE").is_none() {
            // GiB of KV cache on the CPU build (its default, 4, is more than tests need).
            command.env("VLLM_CPU_KVCACHE_SPACE", "1");
        }
        die_with_parent(&mut command);
        tracing::info!(python, port, model = %spec.model_dir.display(), log = %spec.log.display(), "launching the vLLM server");
        let child = command
            .spawn()
            .map_err(|e| fail(format!("cannot run `{python}`: {e} (set {PYTHON_ENV}; tools/setup_vllm_cpu.sh installs vLLM)")))?;
        let mut server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log: spec.log.clone(),
        };
        server
            .wait_healthy(spec.startup_timeout, cancelled)
            .map_err(fail)?;
        Ok(server)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's process id (its process group's id too).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_healthy(
        &mut self,
        timeout: Duration,
        cancelled: impl Fn() -> bool,
    ) -> Result<(), String> {
        let started = Instant::now();
        let client = Client::new(
            &self.url,
            Duration::from_secs(5),
            super::client::RetryPolicy {
                retries: 0,
                backoff: Duration::ZERO,
            },
        );
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "the server exited ({status}) before answering: {}",
                    last_lines(&self.log, 5)
                ));
            }
            if client.healthy(Duration::from_secs(5)).is_ok() {
                tracing::info!(url = %self.url, seconds = started.elapsed().as_secs_f64(), "vLLM server up");
                return Ok(());
            }
            if cancelled() {
                return Err("interrupted while the server started".into());
            }
            if started.elapsed() > timeout {
                return Err(format!(
                    "no answer from {}/health after {:.0} s",
                    self.url,
                    timeout.as_secs_f64()
                ));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Stops the server's process group: SIGTERM, then SIGKILL after 15 s.
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let group = -(self.child.id() as i32);
        // SAFETY: kill(2) on the process group this struct started; no memory is involved.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // vLLM's engine processes share the group; make sure none outlives the server.
                // SAFETY: as above.
                unsafe { libc::kill(group, libc::SIGKILL) };
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        tracing::warn!(
            pid = self.child.id(),
            "the vLLM server ignored SIGTERM; killing it"
        );
        // SAFETY: as above.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for LaunchedServer {
    fn drop(&mut self) {
        tracing::info!(url = %self.url, "stopping the vLLM server");
        self.stop();
    }
}

/// `$PRIME_VLLM_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".into())
}

/// A port nobody listens on now (the OS picks it; it is free again once the probe closes).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The last `n` lines of `path`, joined with ` | ` (for one-line errors).
fn last_lines(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// On Linux, the child gets SIGTERM when the trainer's thread that started it dies (even by
/// SIGKILL or `process::exit`), so no server is left orphaned.
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2), which
    // is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_without_vllm_fails_with_the_servers_last_words() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("fake-python");
        let spec = LaunchSpec {
            python: fake.display().to_string(),
            model_dir: dir.path().to_path_buf(),
            served_name: "m".into(),
            dtype: "float32".into(),
            max_model_len: 8,
            seed: 0,
            extra_args: vec![],
            env: vec![],
            log: dir.path().join("logs/server.log"),
            startup_timeout: Duration::from_secs(30),
        };
        // A "server" that says why it cannot start, and exits.
        std::fs::write(
            &fake,
            "#!/bin/sh\necho 'No module named vllm' >&2\nexit 3\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let err = LaunchedServer::start(&spec, || false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exited") && err.contains("No module named vllm"),
            "{err}"
        );
        assert!(err.contains("server.log"), "{err}");
    }
}
