//! Starting a sandboxed process: a raw `clone` with namespace flags, then async-signal-safe setup
//! in the child, then `execve`.
//!
//! Why not `std::process::Command::pre_exec`: the process that runs the program must be the first
//! process (pid 1) of a fresh pid namespace, so that killing it kills every process it ever
//! started (double-forked daemons included), and that takes `clone(CLONE_NEWPID)` itself. Between
//! `clone` and `execve` the child of a multi-threaded parent may only make syscalls: everything it
//! touches (paths, argv, envp, map strings, BPF programs, the Landlock ruleset) is prepared by the
//! parent in a `ChildPlan` beforehand, and the child neither allocates nor panics.
//!
//! Order in the child: wait until the parent wrote the uid/gid maps → default signal dispositions
//! and an empty mask → `setsid` → private mounts and a size-limited tmpfs on the work directory →
//! stdio → drop supplementary groups and switch to the unprivileged ids → rlimits → parent-death
//! signal → `no_new_privs` → Landlock → close every other descriptor on exec → seccomp → `execve`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::landlock;
use super::uid_pool::UidLease;
use super::{Layers, SandboxError, SandboxLimits, SetupStep};

/// The uid and gid a sandboxed program has inside its user namespace.
pub const INNER_ID: u32 = 1000;

/// Everything the child needs, prepared by the parent: plain numbers and pointers into buffers the
/// parent keeps alive across `clone` (the child owns a copy-on-write copy of them).
struct ChildPlan {
    sync_read: RawFd,
    sync_write: RawFd,
    err_write: RawFd,
    stdio: [RawFd; 3],
    mount_tmpfs: bool,
    workdir: *const libc::c_char,
    tmpfs_options: *const libc::c_char,
    drop_groups: bool,
    set_ids: Option<(libc::uid_t, libc::gid_t)>,
    rlimits: [(libc::__rlimit_resource_t, libc::rlimit); 8],
    landlock_ruleset: RawFd,
    landlock_workdir_rights: u64,
    seccomp: *const libc::sock_fprog,
    seccomp_count: usize,
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
}

fn errno() -> i32 {
    // SAFETY: reading the calling thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Reports `step` and errno to the parent and exits. Async-signal-safe.
unsafe fn fail(plan: &ChildPlan, step: SetupStep) -> ! {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&(step as u32).to_ne_bytes());
    msg[4..].copy_from_slice(&errno().to_ne_bytes());
    libc::write(plan.err_write, msg.as_ptr().cast(), msg.len());
    libc::_exit(127)
}

/// The child between `clone` and `execve`. Only syscalls; never returns.
unsafe fn child_main(plan: &ChildPlan) -> ! {
    if plan.sync_read >= 0 {
        // Our copy of the write end would keep the read below from seeing the parent die.
        libc::close(plan.sync_write);
        let mut byte = 0u8;
        loop {
            let n = libc::read(plan.sync_read, (&mut byte as *mut u8).cast(), 1);
            if n == 1 {
                break;
            }
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            fail(plan, SetupStep::Sync);
        }
    }
    for signal in 1..32 {
        if signal != libc::SIGKILL && signal != libc::SIGSTOP {
            libc::signal(signal, libc::SIG_DFL);
        }
    }
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    if libc::setsid() < 0 {
        fail(plan, SetupStep::Setsid);
    }
    if plan.mount_tmpfs {
        let root = c"/".as_ptr();
        let flags = libc::MS_REC | libc::MS_PRIVATE;
        if libc::mount(
            std::ptr::null(),
            root,
            std::ptr::null(),
            flags,
            std::ptr::null(),
        ) < 0
        {
            fail(plan, SetupStep::MountPrivate);
        }
        let tmpfs = c"tmpfs".as_ptr();
        let flags = libc::MS_NOSUID | libc::MS_NODEV;
        let data = plan.tmpfs_options.cast();
        if libc::mount(tmpfs, plan.workdir, tmpfs, flags, data) < 0 {
            fail(plan, SetupStep::MountTmpfs);
        }
    }
    for (target, &fd) in plan.stdio.iter().enumerate() {
        if libc::dup2(fd, target as i32) < 0 {
            fail(plan, SetupStep::Stdio);
        }
    }
    // Raw syscalls, not the libc wrappers: glibc's set*id broadcast the change to every thread
    // it believes exists, and after a raw clone those are the parent's threads (a deadlock).
    // Fails only inside a user namespace whose `setgroups` is denied (root of a rootless
    // container): the groups then stay those of the unprivileged user outside, as for a
    // non-root verifier.
    if plan.drop_groups {
        libc::syscall(libc::SYS_setgroups, 0usize, std::ptr::null::<libc::gid_t>());
    }
    if let Some((uid, gid)) = plan.set_ids {
        if libc::syscall(libc::SYS_setresgid, gid, gid, gid) < 0
            || libc::syscall(libc::SYS_setresuid, uid, uid, uid) < 0
        {
            fail(plan, SetupStep::SetIds);
        }
    }
    if libc::chdir(plan.workdir) < 0 {
        fail(plan, SetupStep::Chdir);
    }
    for (resource, limit) in &plan.rlimits {
        if libc::setrlimit(*resource, limit) < 0 {
            fail(plan, SetupStep::Rlimit);
        }
    }
    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) < 0
        || libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0
    {
        fail(plan, SetupStep::Prctl);
    }
    if plan.landlock_ruleset >= 0 {
        let dir = libc::open(plan.workdir, libc::O_PATH | libc::O_CLOEXEC);
        if dir < 0
            || landlock::add_rule_raw(plan.landlock_ruleset, dir, plan.landlock_workdir_rights) < 0
            || landlock::restrict_self_raw(plan.landlock_ruleset) < 0
        {
            fail(plan, SetupStep::Landlock);
        }
        libc::close(dir);
        libc::close(plan.landlock_ruleset);
    }
    let close_range = libc::syscall(
        libc::SYS_close_range,
        3u32,
        u32::MAX,
        libc::CLOSE_RANGE_CLOEXEC,
    );
    if close_range < 0 {
        let mut limit: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        for fd in 3..limit.rlim_cur.min(65_536) as i32 {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
    for i in 0..plan.seccomp_count {
        let prog = plan.seccomp.add(i);
        if libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, prog, 0, 0) < 0 {
            fail(plan, SetupStep::Seccomp);
        }
    }
    libc::execve(plan.program, plan.argv, plan.envp);
    fail(plan, SetupStep::Exec)
}

/// A pipe whose two ends are close-on-exec.
fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(SandboxError::os("pipe2"));
    }
    // SAFETY: fresh descriptors, owned from here on.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A connected unix stream pair (close-on-exec): the sandbox's stdin, so that the parent can
/// write with `MSG_NOSIGNAL` and never takes a SIGPIPE when the sandbox dies.
fn socket_pair() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    let mut fds = [0; 2];
    let kind = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) } < 0 {
        return Err(SandboxError::os("socketpair"));
    }
    // SAFETY: fresh descriptors, owned from here on.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn cstring(bytes: &[u8], what: &str) -> Result<CString, SandboxError> {
    CString::new(bytes).map_err(|_| SandboxError::Setup(format!("{what} contains a NUL byte")))
}

/// A running sandboxed process: the parent's ends of its stdio, and what to clean up.
#[derive(Debug)]
pub struct Spawned {
    /// Its stdin: one end of a unix stream pair (write with `MSG_NOSIGNAL`).
    pub stdin: OwnedFd,
    /// Read end of its stdout.
    pub stdout: OwnedFd,
    /// Read end of its stderr.
    pub stderr: OwnedFd,
    process: Process,
}

/// The sandbox's first process and its resources; killed, reaped and cleaned up on drop.
#[derive(Debug)]
struct Process {
    pid: libc::pid_t,
    workdir: PathBuf,
    pid_namespace: bool,
    lease: Option<UidLease>,
}

static NEXT_WORKDIR: AtomicU64 = AtomicU64::new(0);

/// What [`spawn`] needs from the sandbox.
pub struct SpawnRequest<'a> {
    /// Active layers.
    pub layers: &'a Layers,
    /// Resource limits.
    pub limits: &'a SandboxLimits,
    /// The executable (absolute path).
    pub program: &'a Path,
    /// Full argv, `argv[0]` included.
    pub argv: &'a [String],
    /// The complete environment (`KEY=value`).
    pub env: &'a [String],
    /// Read-only view of the host for Landlock.
    pub view: &'a landlock::ReadOnlyView,
    /// Compiled seccomp programs (empty when the layer is off).
    pub seccomp: &'a [seccompiler::BpfProgram],
    /// Where per-sandbox work directories are created.
    pub temp_root: &'a Path,
}

/// Starts `request.program` in a fresh sandbox. On success the process runs; its stdio ends are
/// in the returned [`Spawned`], which kills and reaps it (and cleans up) when dropped.
pub fn spawn(request: &SpawnRequest<'_>) -> Result<Spawned, SandboxError> {
    let layers = request.layers;
    let limits = request.limits;
    // SAFETY: trivial getters.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let lease = if layers.unprivileged_uid {
        Some(UidLease::acquire().ok_or_else(|| SandboxError::Setup("uid pool exhausted".into()))?)
    } else {
        None
    };
    let (host_uid, host_gid) = lease.as_ref().map_or((euid, egid), |l| (l.id(), l.id()));
    let (inner_uid, inner_gid) = if layers.user_namespace {
        (INNER_ID, INNER_ID)
    } else {
        (host_uid, host_gid)
    };

    let serial = NEXT_WORKDIR.fetch_add(1, Ordering::Relaxed);
    let workdir = request
        .temp_root
        .join(format!("prime-sandbox-{}-{serial}", std::process::id()));
    std::fs::create_dir(&workdir).map_err(|e| SandboxError::io("create work dir", &workdir, e))?;
    let mut guard = Process {
        pid: 0,
        workdir,
        pid_namespace: layers.pid_namespace,
        lease,
    };
    let drop_uid = guard.lease.is_some();
    set_mode_and_owner(&guard.workdir, host_uid, host_gid, drop_uid)?;

    let (stdin_read, stdin_write) = socket_pair()?;
    let (stdout_read, stdout_write) = pipe()?;
    let (stderr_read, stderr_write) = pipe()?;
    let (err_read, err_write) = pipe()?;
    let sync = if layers.user_namespace {
        Some(pipe()?)
    } else {
        None
    };

    let ruleset = if layers.landlock_abi > 0 {
        Some(
            landlock::build_ruleset(layers.landlock_abi, request.view)
                .map_err(|e| SandboxError::Setup(format!("landlock ruleset: {e}")))?,
        )
    } else {
        None
    };

    let workdir_c = cstring(guard.workdir.as_os_str().as_bytes(), "work dir")?;
    let tmpfs_options = cstring(
        format!(
            "size={},nr_inodes={},mode=0700,uid={inner_uid},gid={inner_gid}",
            limits.scratch_bytes, limits.scratch_inodes
        )
        .as_bytes(),
        "tmpfs options",
    )?;
    let program = cstring(request.program.as_os_str().as_bytes(), "program")?;
    let argv_c = request
        .argv
        .iter()
        .map(|a| cstring(a.as_bytes(), "argument"))
        .collect::<Result<Vec<_>, _>>()?;
    let env_c = request
        .env
        .iter()
        .map(|a| cstring(a.as_bytes(), "environment"))
        .collect::<Result<Vec<_>, _>>()?;
    let argv_ptrs = null_terminated(&argv_c);
    let env_ptrs = null_terminated(&env_c);
    let fprogs: Vec<libc::sock_fprog> = request.seccomp.iter().map(super::seccomp::fprog).collect();

    let rlim = |soft: u64, hard: u64| libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    let plan = ChildPlan {
        sync_read: sync.as_ref().map_or(-1, |(r, _)| r.as_raw_fd()),
        sync_write: sync.as_ref().map_or(-1, |(_, w)| w.as_raw_fd()),
        err_write: err_write.as_raw_fd(),
        stdio: [
            stdin_read.as_raw_fd(),
            stdout_write.as_raw_fd(),
            stderr_write.as_raw_fd(),
        ],
        mount_tmpfs: layers.mount_namespace,
        workdir: workdir_c.as_ptr(),
        tmpfs_options: tmpfs_options.as_ptr(),
        drop_groups: euid == 0,
        set_ids: (layers.user_namespace || drop_uid).then_some((inner_uid, inner_gid)),
        rlimits: [
            (
                libc::RLIMIT_AS,
                rlim(limits.memory_bytes, limits.memory_bytes),
            ),
            (
                libc::RLIMIT_CPU,
                rlim(limits.cpu_seconds, limits.cpu_seconds + 1),
            ),
            (libc::RLIMIT_NPROC, rlim(limits.processes, limits.processes)),
            (
                libc::RLIMIT_FSIZE,
                rlim(limits.file_size_bytes, limits.file_size_bytes),
            ),
            (
                libc::RLIMIT_NOFILE,
                rlim(limits.open_files, limits.open_files),
            ),
            (libc::RLIMIT_CORE, rlim(0, 0)),
            (libc::RLIMIT_MEMLOCK, rlim(0, 0)),
            (libc::RLIMIT_MSGQUEUE, rlim(0, 0)),
        ],
        landlock_ruleset: ruleset.as_ref().map_or(-1, |r| r.as_raw_fd()),
        landlock_workdir_rights: landlock::fs::all(layers.landlock_abi),
        seccomp: fprogs.as_ptr(),
        seccomp_count: fprogs.len(),
        program: program.as_ptr(),
        argv: argv_ptrs.as_ptr(),
        envp: env_ptrs.as_ptr(),
    };

    let mut flags = libc::SIGCHLD as libc::c_ulong;
    if layers.user_namespace {
        flags |= libc::CLONE_NEWUSER as libc::c_ulong;
    }
    if layers.network_namespace {
        flags |= (libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS) as libc::c_ulong;
    }
    if layers.pid_namespace {
        flags |= libc::CLONE_NEWPID as libc::c_ulong;
    }
    if layers.mount_namespace {
        flags |= libc::CLONE_NEWNS as libc::c_ulong;
    }
    // SAFETY: a fork-like clone (no CLONE_VM, no new stack). The child runs `child_main`, which
    // only makes syscalls on data prepared above, and ends in `execve` or `_exit`.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid == 0 {
        // SAFETY: see above; this is the child.
        unsafe { child_main(&plan) }
    }
    if pid < 0 {
        return Err(SandboxError::os("clone"));
    }
    guard.pid = pid as libc::pid_t;
    drop((stdin_read, stdout_write, stderr_write, err_write, ruleset));

    if let Some((sync_read, sync_write)) = sync {
        drop(sync_read);
        write_id_maps(guard.pid, euid, (host_uid, host_gid))?;
        // SAFETY: writing one byte from a live buffer.
        if unsafe { libc::write(sync_write.as_raw_fd(), [1u8].as_ptr().cast(), 1) } != 1 {
            return Err(SandboxError::os("sync pipe"));
        }
    }
    let mut msg = [0u8; 8];
    let n = read_full(&err_read, &mut msg);
    if n == msg.len() {
        let step = u32::from_ne_bytes([msg[0], msg[1], msg[2], msg[3]]);
        let code = i32::from_ne_bytes([msg[4], msg[5], msg[6], msg[7]]);
        let step = SetupStep::from_code(step);
        return Err(SandboxError::ChildSetup {
            step,
            error: std::io::Error::from_raw_os_error(code).to_string(),
        });
    }
    Ok(Spawned {
        stdin: stdin_write,
        stdout: stdout_read,
        stderr: stderr_read,
        process: guard,
    })
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

fn set_mode_and_owner(dir: &Path, uid: u32, gid: u32, chown: bool) -> Result<(), SandboxError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| SandboxError::io("chmod work dir", dir, e))?;
    if chown {
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))
            .map_err(|e| SandboxError::io("chown work dir", dir, e))?;
    }
    Ok(())
}

/// Maps [`INNER_ID`] to the host ids. A privileged parent may map any id (and keeps `setgroups`
/// allowed so the child can drop root's supplementary groups); an unprivileged one maps its own.
fn write_id_maps(pid: libc::pid_t, euid: u32, (uid, gid): (u32, u32)) -> Result<(), SandboxError> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let write = |name: &str, text: String| {
        let path = proc.join(name);
        std::fs::write(&path, text).map_err(|e| SandboxError::io("write id map", &path, e))
    };
    if euid != 0 {
        write("setgroups", "deny".into())?;
    }
    write("uid_map", format!("{INNER_ID} {uid} 1\n"))?;
    write("gid_map", format!("{INNER_ID} {gid} 1\n"))
}

fn read_full(fd: &OwnedFd, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reading into the unfilled tail of `buf`.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                buf[got..].as_mut_ptr().cast(),
                buf.len() - got,
            )
        };
        if n > 0 {
            got += n as usize;
        } else if n < 0 && errno() == libc::EINTR {
            continue;
        } else {
            break;
        }
    }
    got
}

impl Spawned {
    /// Kills the sandbox (its whole pid namespace, or its process group and every process of its
    /// uid where there is no pid namespace), reaps it and removes its work directory. Idempotent.
    pub fn kill_and_reap(&mut self) {
        self.process.kill_and_reap();
    }

    /// Host pid of the sandbox's first process (0 once reaped).
    pub fn pid(&self) -> libc::pid_t {
        self.process.pid
    }

    /// The work directory on the host (a private tmpfs inside the sandbox where mounts are on).
    pub fn workdir(&self) -> &Path {
        &self.process.workdir
    }
}

impl Process {
    fn kill_and_reap(&mut self) {
        if self.pid > 0 {
            // SAFETY: signalling and reaping our own unreaped child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                if !self.pid_namespace {
                    libc::kill(-self.pid, libc::SIGKILL);
                }
                let mut status = 0;
                while libc::waitpid(self.pid, &mut status, libc::__WALL) < 0
                    && errno() == libc::EINTR
                {}
            }
            self.pid = 0;
        }
        if !self.pid_namespace {
            if let Some(lease) = &self.lease {
                sweep_uid(lease.id());
            }
        }
        if self.workdir.exists() {
            // Empty when it held a tmpfs; the program's files when it did not.
            let _ = std::fs::remove_dir_all(&self.workdir);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// Kills every process of host uid `uid`: a short-lived child takes that uid and sends
/// `kill(-1, SIGKILL)` (which reaches exactly the processes of its own uid), a few times to catch
/// forks in flight. Used only without a pid namespace.
fn sweep_uid(uid: u32) {
    // SAFETY: fork-like clone; the child only makes syscalls and `_exit`s.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid == 0 {
        // SAFETY: child side, syscalls only.
        unsafe {
            if libc::syscall(libc::SYS_setresgid, uid, uid, uid) == 0
                && libc::syscall(libc::SYS_setresuid, uid, uid, uid) == 0
            {
                for _ in 0..4 {
                    libc::kill(-1, libc::SIGKILL);
                }
            }
            libc::_exit(0);
        }
    }
    if pid > 0 {
        let mut status = 0;
        // SAFETY: reaping our own child.
        unsafe {
            while libc::waitpid(pid as libc::pid_t, &mut status, 0) < 0 && errno() == libc::EINTR {}
        }
    }
}
