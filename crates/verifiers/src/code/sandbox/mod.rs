//! A process sandbox for untrusted Python, built from the kernel's own isolation primitives.
//!
//! Layers (each probed once when a [`Sandbox`] is made, see [`SandboxReport`]):
//! - **namespaces**: own user namespace (uid 1000 inside, an unprivileged host uid outside), own
//!   network namespace (only a downed loopback: no network), own pid namespace (the program is
//!   pid 1; killing it kills everything it started), own mount, IPC and UTS namespaces;
//! - **unprivileged uid**: as root, every sandbox gets its own host uid from a pool;
//! - **rlimits**: address space, CPU seconds, processes, file size, open files, no core dumps;
//! - **Landlock**: read-only view of system and Python directories, one writable private tmpfs;
//! - **seccomp**: no sockets but `AF_UNIX`, no tracing, mounts, namespaces, modules, kexec, …;
//! - **cleared environment**, own session and process group, parent-death signal, and a wall-clock
//!   kill by the caller ([`channel::Channel`] deadlines, then [`spawn::Spawned::kill_and_reap`]).
//!
//! Where a layer is unavailable the sandbox still runs with the others and the report says which
//! is missing; callers that need every layer check [`SandboxReport::is_complete`].

#[cfg(target_os = "linux")]
pub mod channel;
mod error;
#[cfg(target_os = "linux")]
mod landlock;
mod layers;
mod report;
#[cfg(target_os = "linux")]
mod seccomp;
#[cfg(target_os = "linux")]
pub mod spawn;
#[cfg(target_os = "linux")]
mod uid_pool;

pub use error::{SandboxError, SetupStep};
pub use layers::{Layers, SandboxLimits};
pub use report::{LayerState, SandboxReport};

use std::path::{Path, PathBuf};

/// How to build a [`Sandbox`].
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The executable every spawn runs (absolute path).
    pub program: PathBuf,
    /// Host paths visible read-only (system libraries, the interpreter's prefix, …).
    pub read_paths: Vec<PathBuf>,
    /// Host files readable and writable (`/dev/null`).
    pub read_write_files: Vec<PathBuf>,
    /// Resource limits.
    pub limits: SandboxLimits,
    /// Where work directories are created (mount points of the private tmpfs).
    pub temp_root: PathBuf,
    /// Arguments (after `program`) of the probe run; it must print `ok` on stdout.
    pub probe_args: Vec<String>,
}

/// A probed sandbox: the layers that work here, compiled filters, and the limits.
#[derive(Debug)]
pub struct Sandbox {
    config: SandboxConfig,
    layers: Layers,
    report: SandboxReport,
    #[cfg(target_os = "linux")]
    seccomp: Vec<seccompiler::BpfProgram>,
}

impl Sandbox {
    /// Probes what works on this machine by starting the probe program with every layer and
    /// dropping the layers that fail, one by one.
    #[cfg(target_os = "linux")]
    pub fn new(config: SandboxConfig) -> Sandbox {
        // SAFETY: trivial getter.
        let is_root = unsafe { libc::geteuid() } == 0;
        let (seccomp, seccomp_error) = match seccomp::build_programs() {
            Ok(p) => (p, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        let mut layers = Layers {
            user_namespace: true,
            network_namespace: true,
            pid_namespace: true,
            mount_namespace: true,
            unprivileged_uid: is_root,
            landlock_abi: landlock::abi_version(),
            seccomp: seccomp_error.is_none(),
        };
        let mut sandbox = Sandbox {
            config,
            layers: layers.clone(),
            report: SandboxReport::from_layers(&layers, is_root, Ok(())),
            seccomp,
        };
        let mut usable = Err("no probe ran".to_string());
        for _attempt in 0..8 {
            sandbox.layers = layers.clone();
            match sandbox.probe_once() {
                Ok(()) => {
                    usable = Ok(());
                    break;
                }
                Err(error) => {
                    usable = Err(error.to_string());
                    if !degrade(&mut layers, &error, is_root) {
                        break;
                    }
                }
            }
        }
        sandbox.layers = layers.clone();
        sandbox.report = SandboxReport::from_layers(&layers, is_root, usable);
        sandbox
    }

    /// No sandbox outside Linux: the report says so and every spawn fails.
    #[cfg(not(target_os = "linux"))]
    pub fn new(config: SandboxConfig) -> Sandbox {
        let layers = Layers {
            user_namespace: false,
            network_namespace: false,
            pid_namespace: false,
            mount_namespace: false,
            unprivileged_uid: false,
            landlock_abi: 0,
            seccomp: false,
        };
        let report = SandboxReport::from_layers(
            &layers,
            false,
            Err("the code sandbox is implemented for Linux only".into()),
        );
        Sandbox {
            config,
            layers,
            report,
        }
    }

    /// What this sandbox provides.
    pub fn report(&self) -> &SandboxReport {
        &self.report
    }

    /// Active layers.
    pub fn layers(&self) -> &Layers {
        &self.layers
    }

    /// Resource limits.
    pub fn limits(&self) -> &SandboxLimits {
        &self.config.limits
    }

    /// The program every spawn runs.
    pub fn program(&self) -> &Path {
        &self.config.program
    }

    /// Starts `program args…` with the active layers and the given environment (nothing else of
    /// the verifier's environment is passed).
    #[cfg(target_os = "linux")]
    pub fn spawn(&self, args: &[String], env: &[String]) -> Result<spawn::Spawned, SandboxError> {
        let mut argv = Vec::with_capacity(args.len() + 1);
        argv.push(self.config.program.to_string_lossy().into_owned());
        argv.extend(args.iter().cloned());
        let view = landlock::ReadOnlyView {
            read: self.config.read_paths.clone(),
            read_write_files: self.config.read_write_files.clone(),
        };
        spawn::spawn(&spawn::SpawnRequest {
            layers: &self.layers,
            limits: &self.config.limits,
            program: &self.config.program,
            argv: &argv,
            env,
            view: &view,
            seccomp: if self.layers.seccomp {
                &self.seccomp
            } else {
                &[]
            },
            temp_root: &self.config.temp_root,
        })
    }

    #[cfg(target_os = "linux")]
    fn probe_once(&self) -> Result<(), SandboxError> {
        use std::time::{Duration, Instant};
        let spawned = self.spawn(&self.config.probe_args, &[])?;
        let mut channel = channel::Channel::new(spawned, 4096, 4096)
            .map_err(|e| SandboxError::Setup(e.to_string()))?;
        let line = channel.recv_line(Instant::now() + Duration::from_secs(20));
        let stderr = channel.stderr_text();
        channel.kill();
        match line {
            Ok(line) if line == b"ok" => Ok(()),
            Ok(line) => Err(SandboxError::Setup(format!(
                "probe printed {:?}; stderr: {stderr}",
                String::from_utf8_lossy(&line)
            ))),
            Err(e) => Err(SandboxError::Setup(format!("probe: {e}; stderr: {stderr}"))),
        }
    }
}

/// Turns off the layer a probe failure points at. Returns false when nothing is left to try.
#[cfg(target_os = "linux")]
fn degrade(layers: &mut Layers, error: &SandboxError, is_root: bool) -> bool {
    let namespaces_off = |layers: &mut Layers| {
        layers.user_namespace = false;
        if !is_root {
            layers.network_namespace = false;
            layers.pid_namespace = false;
            layers.mount_namespace = false;
        }
    };
    match error {
        SandboxError::Os { call: "clone", .. }
        | SandboxError::Io {
            what: "write id map",
            ..
        } => {
            if layers.user_namespace {
                namespaces_off(layers);
            } else if layers.network_namespace || layers.mount_namespace {
                layers.network_namespace = false;
                layers.pid_namespace = false;
                layers.mount_namespace = false;
            } else {
                return false;
            }
        }
        // Root inside a user namespace that does not map the uid pool.
        SandboxError::Io {
            what: "chown work dir",
            ..
        } if layers.unprivileged_uid => layers.unprivileged_uid = false,
        SandboxError::ChildSetup { step, .. } => match step {
            Some(SetupStep::MountPrivate) | Some(SetupStep::MountTmpfs)
                if layers.mount_namespace =>
            {
                layers.mount_namespace = false
            }
            Some(SetupStep::Landlock) if layers.landlock_abi > 0 => layers.landlock_abi = 0,
            Some(SetupStep::Seccomp) if layers.seccomp => layers.seccomp = false,
            Some(SetupStep::SetIds) if layers.unprivileged_uid => layers.unprivileged_uid = false,
            _ => return false,
        },
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    fn full() -> Layers {
        Layers {
            user_namespace: true,
            network_namespace: true,
            pid_namespace: true,
            mount_namespace: true,
            unprivileged_uid: true,
            landlock_abi: 6,
            seccomp: true,
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn probe_failures_turn_off_the_matching_layer() {
        let setup = |step| SandboxError::ChildSetup {
            step: Some(step),
            error: "EPERM".into(),
        };
        let mut layers = full();
        assert!(degrade(&mut layers, &setup(SetupStep::Landlock), true));
        assert_eq!(layers.landlock_abi, 0);
        assert!(degrade(&mut layers, &setup(SetupStep::MountTmpfs), true));
        assert!(!layers.mount_namespace);
        // Nothing left to turn off for this step: stop probing.
        assert!(!degrade(&mut layers, &setup(SetupStep::Landlock), true));
        assert!(!degrade(&mut layers, &setup(SetupStep::Exec), true));
        let clone_failed = SandboxError::Os {
            call: "clone",
            error: std::io::Error::from_raw_os_error(libc::EPERM),
        };
        let chown_failed = SandboxError::Io {
            what: "chown work dir",
            path: "/tmp/x".into(),
            error: std::io::Error::from_raw_os_error(libc::EINVAL),
        };
        let mut layers = full();
        assert!(degrade(&mut layers, &chown_failed, true));
        assert!(!layers.unprivileged_uid && layers.user_namespace);
        let mut layers = full();
        assert!(degrade(&mut layers, &clone_failed, false));
        assert!(!layers.user_namespace && !layers.network_namespace && !layers.pid_namespace);
    }
}
