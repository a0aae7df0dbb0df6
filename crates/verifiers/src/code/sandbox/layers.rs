//! What a spawn runs with: the isolation layers in use and the resource limits.

/// Which isolation layers a spawn uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layers {
    /// Own user namespace (id maps written by the parent).
    pub user_namespace: bool,
    /// Own network (and IPC, UTS) namespace.
    pub network_namespace: bool,
    /// Own pid namespace: the program is pid 1.
    pub pid_namespace: bool,
    /// Own mount namespace with a private tmpfs work directory.
    pub mount_namespace: bool,
    /// Runs under a host uid of its own (only possible when the verifier runs as root).
    pub unprivileged_uid: bool,
    /// Landlock ABI in use (0: off).
    pub landlock_abi: u32,
    /// seccomp filter installed.
    pub seccomp: bool,
}

/// Resource limits of one sandbox (all processes in it together where the kernel counts so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxLimits {
    /// `RLIMIT_AS` per process, bytes.
    pub memory_bytes: u64,
    /// `RLIMIT_CPU` per process, seconds (soft; the hard limit is one more).
    pub cpu_seconds: u64,
    /// `RLIMIT_NPROC`: processes and threads of the sandbox's uid.
    pub processes: u64,
    /// `RLIMIT_FSIZE`: largest file a process may write, bytes.
    pub file_size_bytes: u64,
    /// `RLIMIT_NOFILE`: open descriptors per process.
    pub open_files: u64,
    /// Size of the private tmpfs work directory, bytes.
    pub scratch_bytes: u64,
    /// Inodes of the private tmpfs work directory.
    pub scratch_inodes: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            memory_bytes: 2 << 30,
            cpu_seconds: 60,
            processes: 64,
            file_size_bytes: 16 << 20,
            open_files: 256,
            scratch_bytes: 32 << 20,
            scratch_inodes: 4096,
        }
    }
}
