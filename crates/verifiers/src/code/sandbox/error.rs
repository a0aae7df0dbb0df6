//! Why a sandbox could not be set up or started, and the child's setup step that failed.

#[cfg(target_os = "linux")]
use std::path::Path;
use std::path::PathBuf;

/// Why a sandbox could not be set up or started.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The platform has no sandbox implementation.
    #[error("no code sandbox on this platform ({0})")]
    Unsupported(&'static str),
    /// A system call in the parent failed.
    #[error("{call} failed: {error}")]
    Os {
        /// The call.
        call: &'static str,
        /// The OS error.
        error: std::io::Error,
    },
    /// A file operation in the parent failed.
    #[error("{what} {path}: {error}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// The child failed while setting up the sandbox before `execve`.
    #[error("sandbox setup failed at {step:?}: {error}")]
    ChildSetup {
        /// The failing step (None if the child sent an unknown code).
        step: Option<SetupStep>,
        /// Kernel error text.
        error: String,
    },
    /// Anything else in preparing the spawn.
    #[error("sandbox setup: {0}")]
    Setup(String),
}

impl SandboxError {
    #[cfg(target_os = "linux")]
    pub(super) fn os(call: &'static str) -> SandboxError {
        SandboxError::Os {
            call,
            error: std::io::Error::last_os_error(),
        }
    }

    #[cfg(target_os = "linux")]
    pub(super) fn io(what: &'static str, path: &Path, error: std::io::Error) -> SandboxError {
        SandboxError::Io {
            what,
            path: path.to_path_buf(),
            error,
        }
    }
}

/// Where the child's setup failed, reported to the parent through the error pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum SetupStep {
    /// Waiting for the parent to write the id maps.
    Sync = 1,
    /// `setsid`.
    Setsid,
    /// Making mounts private.
    MountPrivate,
    /// Mounting the tmpfs work directory.
    MountTmpfs,
    /// `dup2` onto stdio.
    Stdio,
    /// `setresgid` / `setresuid`.
    SetIds,
    /// `chdir` into the work directory.
    Chdir,
    /// `setrlimit`.
    Rlimit,
    /// `prctl` (parent-death signal, no_new_privs).
    Prctl,
    /// Landlock rule or restriction.
    Landlock,
    /// Marking descriptors close-on-exec.
    CloseFds,
    /// Installing the seccomp filter.
    Seccomp,
    /// `execve` itself.
    Exec,
}

impl SetupStep {
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(super) fn from_code(code: u32) -> Option<SetupStep> {
        use SetupStep::*;
        [
            Sync,
            Setsid,
            MountPrivate,
            MountTmpfs,
            Stdio,
            SetIds,
            Chdir,
            Rlimit,
            Prctl,
            Landlock,
            CloseFds,
            Seccomp,
            Exec,
        ]
        .into_iter()
        .find(|s| *s as u32 == code)
    }
}
