//! Landlock through raw syscalls: a read-only view of the system plus one writable directory.
//!
//! The ruleset is built in the parent for every spawn (one kernel object per sandbox, so two
//! sandboxes never share rules). The child adds its private work directory after mounting its
//! tmpfs there (rules are bound to inodes, and a mount hides the mount point's inode) and then
//! restricts itself; both are plain syscalls, safe between `clone` and `execve`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const CREATE_RULESET_VERSION: u32 = 1 << 0;
const RULE_PATH_BENEATH: libc::c_int = 1;

/// `LANDLOCK_ACCESS_FS_*` bits (uapi `linux/landlock.h`).
pub mod fs {
    /// Execute a file.
    pub const EXECUTE: u64 = 1 << 0;
    /// Open a file for writing.
    pub const WRITE_FILE: u64 = 1 << 1;
    /// Open a file for reading.
    pub const READ_FILE: u64 = 1 << 2;
    /// List a directory.
    pub const READ_DIR: u64 = 1 << 3;
    /// Truncate a file (ABI 3).
    pub const TRUNCATE: u64 = 1 << 14;
    /// Every right of ABI `abi` (1: bits 0–12, 2: + REFER, 3: + TRUNCATE, 5+: + IOCTL_DEV).
    pub fn all(abi: u32) -> u64 {
        match abi {
            0 => 0,
            1 => (1 << 13) - 1,
            2 => (1 << 14) - 1,
            3 | 4 => (1 << 15) - 1,
            _ => (1 << 16) - 1,
        }
    }
}

/// `LANDLOCK_ACCESS_NET_*` (ABI 4): bind and connect on TCP ports. Handled and never granted.
const NET_ALL: u64 = (1 << 0) | (1 << 1);
/// `LANDLOCK_SCOPE_*` (ABI 6): abstract unix sockets and signals outside the domain.
const SCOPE_ALL: u64 = (1 << 0) | (1 << 1);

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// The Landlock ABI version of the running kernel; 0 where Landlock is unavailable.
pub fn abi_version() -> u32 {
    // SAFETY: the version query takes no pointer (NULL, size 0) and only returns an integer.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(version).unwrap_or(0)
}

/// What one spawn's Landlock ruleset allows outside the work directory.
#[derive(Debug, Clone)]
pub struct ReadOnlyView {
    /// Directories (and files) readable and executable.
    pub read: Vec<std::path::PathBuf>,
    /// Device files readable and writable (`/dev/null`).
    pub read_write_files: Vec<std::path::PathBuf>,
}

/// Creates a ruleset for `abi` handling every filesystem right (and TCP, and scopes where the ABI
/// knows them) and grants the read-only view. Paths that do not exist are skipped.
pub fn build_ruleset(abi: u32, view: &ReadOnlyView) -> std::io::Result<OwnedFd> {
    let attr = RulesetAttr {
        handled_access_fs: fs::all(abi),
        handled_access_net: if abi >= 4 { NET_ALL } else { 0 },
        scoped: if abi >= 6 { SCOPE_ALL } else { 0 },
    };
    let size = match abi {
        1..=3 => 8usize,
        4 | 5 => 16,
        _ => 24,
    };
    // SAFETY: `attr` is a valid `landlock_ruleset_attr` whose first `size` bytes the ABI knows.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const RulesetAttr,
            size,
            0u32,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a fresh file descriptor that nothing else owns.
    let ruleset = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let read_dir = fs::EXECUTE | fs::READ_FILE | fs::READ_DIR;
    let read_file = fs::EXECUTE | fs::READ_FILE;
    for path in &view.read {
        let Some(meta) = std::fs::metadata(path).ok() else {
            continue;
        };
        let rights = if meta.is_dir() { read_dir } else { read_file };
        add_path_rule(&ruleset, path, rights)?;
    }
    let rw = fs::READ_FILE | fs::WRITE_FILE | if abi >= 3 { fs::TRUNCATE } else { 0 };
    for path in &view.read_write_files {
        if path.exists() {
            add_path_rule(&ruleset, path, rw)?;
        }
    }
    Ok(ruleset)
}

fn add_path_rule(ruleset: &OwnedFd, path: &Path, rights: u64) -> std::io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: `c_path` is NUL-terminated; O_PATH opens nothing but a reference.
    let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor, owned here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let rc = add_rule_raw(ruleset.as_raw_fd(), fd.as_raw_fd(), rights);
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `landlock_add_rule(ruleset, PATH_BENEATH, {rights, dir})`: one syscall, async-signal-safe.
pub fn add_rule_raw(ruleset: i32, dir: i32, rights: u64) -> libc::c_long {
    let attr = PathBeneathAttr {
        allowed_access: rights,
        parent_fd: dir,
    };
    // SAFETY: `attr` is a valid packed `landlock_path_beneath_attr` living across the call.
    unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset,
            RULE_PATH_BENEATH,
            &attr as *const PathBeneathAttr,
            0u32,
        )
    }
}

/// `landlock_restrict_self(ruleset, 0)`: one syscall, async-signal-safe.
pub fn restrict_self_raw(ruleset: i32) -> libc::c_long {
    // SAFETY: plain syscall on a descriptor number.
    unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0u32) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_masks_follow_the_abi() {
        assert_eq!(fs::all(1), 0x1fff);
        assert_eq!(fs::all(3), 0x7fff);
        assert_eq!(fs::all(7), 0xffff);
        assert_eq!(std::mem::size_of::<PathBeneathAttr>(), 12);
    }

    #[test]
    fn ruleset_builds_where_landlock_exists() {
        let abi = abi_version();
        if abi == 0 {
            eprintln!("landlock unavailable here; nothing to check");
            return;
        }
        let view = ReadOnlyView {
            read: vec!["/usr".into(), "/does/not/exist".into()],
            read_write_files: vec!["/dev/null".into()],
        };
        assert!(build_ruleset(abi, &view).is_ok());
    }
}
