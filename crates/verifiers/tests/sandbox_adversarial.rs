//! Hostile programs through the code verifier. Each must end as a failing verdict with a reason,
//! leave nothing behind (no process, no file outside its scratch directory, no connection), and
//! the verifier must go on serving: an ordinary program right after it still scores 1.
//!
//! Short limits keep the suite fast: 1 s per test, 512 MiB, 1 MiB of output.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use prime_verifiers::{CodeConfig, CodeVerifier, Reference, Status, Verdict, Verifier};

fn config(temp_dir: PathBuf) -> CodeConfig {
    std::fs::create_dir_all(&temp_dir).expect("temp dir");
    CodeConfig {
        time_limit: Duration::from_secs(1),
        problem_time_limit: Duration::from_secs(6),
        memory_limit_bytes: 512 << 20,
        output_limit_bytes: 1 << 20,
        temp_dir,
        ..CodeConfig::default()
    }
}

fn temp_root(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("prime-adv-{name}-{}", std::process::id()))
}

/// One verifier shared by the tests of this file (as a trainer would share it).
fn shared() -> Option<&'static CodeVerifier> {
    static VERIFIER: OnceLock<Option<CodeVerifier>> = OnceLock::new();
    VERIFIER
        .get_or_init(|| complete_or_skip(CodeVerifier::new(config(std::env::temp_dir()))))
        .as_ref()
}

/// A verifier whose sandbox is complete here, or `None` (test skipped, loudly) on a host that
/// forbids a required layer (e.g. no user namespaces in a container). A sandbox that cannot start
/// Python at all fails the test.
fn complete_or_skip(verifier: CodeVerifier) -> Option<CodeVerifier> {
    match verifier.sandbox_report() {
        Ok(report) if report.is_complete() => Some(verifier),
        Ok(report) if report.usable.is_ok() || !cfg!(target_os = "linux") => {
            eprintln!("SKIPPED: this host cannot give the full sandbox: {report}");
            None
        }
        Ok(report) => panic!("sandbox unusable: {report}"),
        Err(e) => panic!("no interpreter: {e}"),
    }
}

fn reference(ground_truth: &str) -> Reference {
    Reference {
        ability: "code".into(),
        data_source: "adversarial".into(),
        ground_truth: ground_truth.into(),
    }
}

fn run(v: &CodeVerifier, code: &str, ground_truth: &str) -> Verdict {
    let response = format!("```python\n{code}\n```");
    v.verify(&response, &reference(ground_truth))
}

const ADD_GT: &str = r#"{"inputs": ["2 3\n", "10 -4\n"], "outputs": ["5\n", "6\n"]}"#;
const ADD_CODE: &str = "a, b = map(int, input().split())\nprint(a + b)";

/// Runs a hostile program, checks it failed with a reason, then that an ordinary one still scores 1.
fn hostile(code: &str, ground_truth: &str) -> Option<Verdict> {
    let v = shared()?;
    let started = Instant::now();
    let verdict = run(v, code, ground_truth);
    eprintln!("{:?} in {:?}", verdict, started.elapsed());
    assert!(verdict.score < 1.0, "hostile program scored: {verdict:?}");
    assert_ne!(verdict.status, Status::Correct, "{verdict:?}");
    assert!(!verdict.reason.is_empty());
    let ordinary = run(v, ADD_CODE, ADD_GT);
    assert_eq!(
        ordinary.status,
        Status::Correct,
        "verifier stopped serving: {ordinary:?}"
    );
    assert_eq!(ordinary.score, 1.0);
    Some(verdict)
}

/// Host pids whose `/proc/<pid>/cmdline` or `comm` contains `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let read = |name: &str| std::fs::read(entry.path().join(name)).unwrap_or_default();
        let text = [read("cmdline"), read("comm")].concat();
        if String::from_utf8_lossy(&text).contains(marker) {
            found.push(pid);
        }
    }
    found
}

fn marker(name: &str) -> String {
    // comm holds 15 bytes: keep markers short.
    format!("px{name}{}", std::process::id() % 100_000)
}

#[test]
fn fork_bomb() {
    let m = marker("fb");
    let code = format!(
        "import ctypes, os\nctypes.CDLL(None).prctl(15, b'{m}', 0, 0, 0)\n\
         while True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    );
    let Some(verdict) = hostile(&code, ADD_GT) else {
        return;
    };
    assert_eq!(verdict.status, Status::Timeout, "{verdict:?}");
    assert!(processes_with(&m).is_empty(), "fork bomb survived");
}

#[test]
fn memory_bomb() {
    let code = "blocks = []\nwhile True:\n    blocks.append(bytearray(64 << 20))";
    let Some(verdict) = hostile(code, ADD_GT) else {
        return;
    };
    // Touching 512 MiB takes a while on a loaded machine: out of memory or out of time.
    assert!(
        verdict.reason.contains("MemoryError") || verdict.status == Status::Timeout,
        "{verdict:?}"
    );
    let code = "x = bytearray(16 << 30)";
    let Some(verdict) = hostile(code, ADD_GT) else {
        return;
    };
    assert!(verdict.reason.contains("MemoryError"), "{verdict:?}");
}

#[test]
fn busy_loop_and_sleep_time_out() {
    for code in ["while True:\n    pass", "import time\ntime.sleep(100)"] {
        let started = Instant::now();
        let Some(verdict) = hostile(code, ADD_GT) else {
            return;
        };
        assert_eq!(verdict.status, Status::Timeout, "{verdict:?}");
        assert!(verdict.reason.contains("time limit"), "{verdict:?}");
        // Both tests of the problem run (partial credit counts the first ten) at 1 s each.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}

#[test]
fn huge_output_is_capped() {
    let Some(verdict) = hostile(
        "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)",
        ADD_GT,
    ) else {
        return;
    };
    assert!(verdict.reason.contains("output limit"), "{verdict:?}");
    let Some(verdict) = hostile("print('y' * (4 << 20))", ADD_GT) else {
        return;
    };
    assert!(verdict.reason.contains("output limit"), "{verdict:?}");
}

#[test]
fn writes_outside_the_scratch_dir_fail() {
    // A world-writable host directory: only Landlock stands between the program and it.
    let outside = temp_root("escape");
    std::fs::create_dir_all(&outside).expect("dir");
    std::fs::set_permissions(
        &outside,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    let targets = [
        outside.join("direct"),
        PathBuf::from("/tmp").join(format!("prime-adv-file-{}", std::process::id())),
        PathBuf::from("/dev/shm").join(format!("prime-adv-{}", std::process::id())),
        PathBuf::from("/var/tmp").join(format!("prime-adv-{}", std::process::id())),
    ];
    let list = targets
        .iter()
        .map(|p| format!("{:?}", p.display().to_string()))
        .collect::<Vec<_>>()
        .join(", ");
    let code = format!(
        "import os\nescaped = []\nfor path in [{list}, '../escape-rel', '/root/x', '/etc/x', '/usr/x']:\n\
         \x20   try:\n        with open(path, 'w') as f:\n            f.write('pwned')\n\
         \x20       escaped.append(path)\n    except OSError:\n        pass\n\
         with open('inside.txt', 'w') as f:\n    f.write('fine')\n\
         print(' '.join(escaped) if escaped else 'contained', open('inside.txt').read())"
    );
    let gt = r#"{"inputs": [""], "outputs": ["escaped fine"]}"#;
    let Some(verdict) = hostile(&code, gt) else {
        return;
    };
    assert!(verdict.reason.contains("contained fine"), "{verdict:?}");
    for target in &targets {
        assert!(!target.exists(), "{} was written", target.display());
    }
    assert!(!std::env::temp_dir().join("escape-rel").exists());
    let _ = std::fs::remove_dir_all(&outside);
}

#[test]
fn network_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let code = format!(
        "import socket\nresults = []\n\
         for family, addr in [(socket.AF_INET, ('127.0.0.1', {port})), (socket.AF_INET, ('1.1.1.1', 53)),\n\
         \x20                    (socket.AF_INET6, ('::1', {port}))]:\n\
         \x20   try:\n        s = socket.socket(family, socket.SOCK_STREAM)\n        s.settimeout(0.5)\n\
         \x20       s.connect(addr)\n        results.append('connected')\n\
         \x20   except OSError as e:\n        results.append('blocked')\n\
         try:\n    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         \x20   u.sendto(b'x', ('127.0.0.1', {port}))\n    results.append('sent')\n\
         except OSError:\n    results.append('blocked')\n\
         print(' '.join(results))"
    );
    let gt = r#"{"inputs": [""], "outputs": ["connected connected connected sent"]}"#;
    let Some(verdict) = hostile(&code, gt) else {
        return;
    };
    assert!(
        verdict.reason.contains("blocked blocked blocked blocked"),
        "{verdict:?}"
    );
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the sandbox reached the host: {other:?}"),
    }
}

#[test]
fn environment_secrets_are_not_visible() {
    // The verifier's environment (PATH at least) must not reach the program, neither through
    // os.environ nor through /proc of the verifier.
    let secret = std::env::var("CARGO_MANIFEST_DIR")
        .or_else(|_| std::env::var("PATH"))
        .expect("some variable");
    let pid = std::process::id();
    let code = format!(
        "import os\nfound = [v for v in os.environ.values() if v == {secret:?}]\n\
         try:\n    found.append(open('/proc/{pid}/environ').read())\nexcept OSError:\n    pass\n\
         try:\n    found.append(open('/proc/1/environ').read())\nexcept OSError:\n    pass\n\
         print('leaked' if any({secret:?} in f for f in found) else 'clean')"
    );
    let gt = r#"{"inputs": [""], "outputs": ["leaked"]}"#;
    let Some(verdict) = hostile(&code, gt) else {
        return;
    };
    assert!(verdict.reason.contains("got \"clean\""), "{verdict:?}");
}

#[test]
fn killing_the_parent_fails_only_itself() {
    let pid = std::process::id();
    let code = format!(
        "import os, signal\nfor target in (os.getppid(), 1, {pid}, -1, 0):\n\
         \x20   try:\n        os.kill(target, signal.SIGKILL)\n    except OSError:\n        pass\n\
         print('still here')"
    );
    // kill(0) kills the program's own process group: the test ends by a signal or prints.
    let Some(verdict) = hostile(&code, ADD_GT) else {
        return;
    };
    assert_eq!(verdict.status, Status::Wrong, "{verdict:?}");
}

#[test]
fn daemon_does_not_outlive_the_run() {
    let m = marker("dm");
    let code = format!(
        "import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n\
         \x20       os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(30)', '{m}'])\n\
         \x20   os._exit(0)\ntime.sleep(0.2)\nprint('daemon started')"
    );
    let Some(verdict) = hostile(&code, ADD_GT) else {
        return;
    };
    assert_eq!(verdict.status, Status::Wrong, "{verdict:?}");
    assert!(verdict.reason.contains("daemon started"), "{verdict:?}");
    assert!(processes_with(&m).is_empty(), "daemon survived the sandbox");
}

#[test]
fn kernel_surface_and_host_files_are_closed() {
    // seccomp (unshare, mount, ptrace, raw sockets) and Landlock (host files outside the view).
    let code = "import ctypes, os, socket\nlibc = ctypes.CDLL(None, use_errno=True)\nopen_ = []\n\
        if libc.unshare(0x10000000) == 0: open_.append('unshare')\n\
        if libc.mount(b'none', b'.', b'tmpfs', 0, None) == 0: open_.append('mount')\n\
        if libc.ptrace(0, 0, None, None) == 0: open_.append('ptrace')\n\
        for fam in (socket.AF_NETLINK, socket.AF_PACKET, socket.AF_INET):\n\
        \x20   try:\n        socket.socket(fam, socket.SOCK_RAW if fam == socket.AF_PACKET else socket.SOCK_DGRAM)\n\
        \x20       open_.append(str(fam))\n    except OSError:\n        pass\n\
        for path in ('/etc/passwd', '/etc/hostname', '/proc/self/environ', '/root', '/home'):\n\
        \x20   try:\n        os.listdir(path) if os.path.isdir(path) else open(path).read()\n\
        \x20       open_.append(path)\n    except OSError:\n        pass\n\
        print(' '.join(open_) or 'closed')";
    let gt = r#"{"inputs": [""], "outputs": ["open"]}"#;
    let Some(verdict) = hostile(code, gt) else {
        return;
    };
    assert!(verdict.reason.contains("got \"closed\""), "{verdict:?}");
}

#[test]
fn fd_exhaustion_fails() {
    let code = "files = []\nwhile True:\n    files.append(open('/dev/null'))";
    let Some(verdict) = hostile(code, ADD_GT) else {
        return;
    };
    assert!(
        verdict.reason.contains("Too many open files"),
        "{verdict:?}"
    );
}

#[test]
fn stdin_flood_does_not_block() {
    // 24 MiB of input to a program that never reads it, and one that spins on an exhausted stdin.
    let big = "7 ".repeat(12 << 20);
    let gt = serde_json::json!({"inputs": [big], "outputs": ["0"]}).to_string();
    let started = Instant::now();
    let Some(verdict) = hostile("print('ignored')", &gt) else {
        return;
    };
    assert!(verdict.reason.contains("wrong answer"), "{verdict:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let Some(verdict) = hostile("import sys\nwhile True:\n    sys.stdin.read()", &gt) else {
        return;
    };
    assert_eq!(verdict.status, Status::Timeout, "{verdict:?}");
    // And a program that reads all of it is judged normally.
    let Some(v) = shared() else { return };
    let count = run(
        v,
        "import sys\nprint(len(sys.stdin.read().split()) * 0)",
        &gt,
    );
    assert_eq!(count.status, Status::Correct, "{count:?}");
}

/// A mixed batch on several threads over one verifier with its own temp dir: hostile programs
/// fail, ordinary ones score 1, and no work directory is left behind.
#[test]
fn mixed_batch_keeps_serving_and_cleans_up() {
    let root = temp_root("batch");
    let Some(verifier) = complete_or_skip(CodeVerifier::new(config(root.clone()))) else {
        return;
    };
    let verifier = Arc::new(verifier);
    let hostile = [
        "while True:\n    pass",
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
        "x = bytearray(16 << 30)",
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
        "print('z' * (4 << 20))",
    ];
    let mut handles = Vec::new();
    for (i, code) in hostile.iter().enumerate() {
        let v = Arc::clone(&verifier);
        let code = code.to_string();
        handles.push(std::thread::spawn(move || {
            (false, i, run(&v, &code, ADD_GT))
        }));
        let v = Arc::clone(&verifier);
        handles.push(std::thread::spawn(move || {
            (true, i, run(&v, ADD_CODE, ADD_GT))
        }));
    }
    for handle in handles {
        let (ordinary, i, verdict) = handle.join().expect("thread");
        if ordinary {
            assert_eq!(verdict.score, 1.0, "ordinary program {i}: {verdict:?}");
        } else {
            assert!(verdict.score < 1.0, "hostile program {i}: {verdict:?}");
        }
    }
    assert_eq!(leftovers(&root), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&root);
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}
