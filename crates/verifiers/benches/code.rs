//! Code verifier throughput and sandbox overhead (Linux):
//! - `code/verify_trivial`: full verdicts of a trivial program with one stdin test (driver start,
//!   one forked test, comparison, teardown of the whole sandbox);
//! - `code/verify_trivial_10_tests`: the same program against ten tests (one sandbox, ten forks);
//! - `spawn/sandboxed_python_pass` vs `spawn/bare_python_pass`: `python3 -I -B -c pass` in the
//!   sandbox (namespaces, Landlock, seccomp, rlimits, tmpfs) and as a plain child process; the
//!   difference is the per-run sandbox overhead.

use criterion::{criterion_group, criterion_main, Criterion};

#[cfg(target_os = "linux")]
mod linux {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use criterion::{Criterion, Throughput};
    use prime_verifiers::code::sandbox::channel::{Channel, ChannelError};
    use prime_verifiers::{CodeConfig, CodeVerifier, Reference, Status, Verifier};

    fn reference(tests: usize) -> Reference {
        let inputs: Vec<String> = (0..tests).map(|i| format!("{i}\n")).collect();
        let outputs: Vec<String> = (0..tests).map(|i| format!("{}\n", i + 1)).collect();
        Reference {
            ability: "code".into(),
            data_source: "bench".into(),
            ground_truth: serde_json::json!({"inputs": inputs, "outputs": outputs}).to_string(),
        }
    }

    pub fn bench(c: &mut Criterion) {
        let verifier = CodeVerifier::new(CodeConfig::default());
        let sandbox = match verifier.ready() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("code bench skipped: {e}");
                return;
            }
        };
        let response = "```python\nprint(int(input()) + 1)\n```";

        let mut group = c.benchmark_group("code");
        group.throughput(Throughput::Elements(1));
        group.sample_size(30);
        group.measurement_time(Duration::from_secs(6));
        for tests in [1, 10] {
            let reference = reference(tests);
            let name = if tests == 1 {
                "verify_trivial".to_string()
            } else {
                format!("verify_trivial_{tests}_tests")
            };
            group.bench_function(name, |b| {
                b.iter(|| {
                    let v = verifier.verify(response, &reference);
                    assert_eq!(v.status, Status::Correct, "{v:?}");
                })
            });
        }
        group.finish();

        let mut group = c.benchmark_group("spawn");
        group.sample_size(30);
        group.measurement_time(Duration::from_secs(6));
        let args = ["-I", "-B", "-c", "pass"].map(String::from);
        group.bench_function("sandboxed_python_pass", |b| {
            b.iter(|| {
                let spawned = sandbox.spawn(&args, &[]).expect("spawn");
                let mut channel = Channel::new(spawned, 1024, 1024).expect("channel");
                // stdout closes when python exits; then the sandbox is torn down.
                let end = channel.recv_line(Instant::now() + Duration::from_secs(10));
                assert_eq!(end, Err(ChannelError::Closed));
                channel.kill();
            })
        });
        let python = sandbox.program().to_path_buf();
        group.bench_function("bare_python_pass", |b| {
            b.iter(|| {
                let status = Command::new(&python)
                    .args(&args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .status()
                    .expect("python runs");
                assert!(status.success());
            })
        });
        group.finish();
    }
}

fn bench(c: &mut Criterion) {
    #[cfg(target_os = "linux")]
    linux::bench(c);
    #[cfg(not(target_os = "linux"))]
    let _ = c;
}

criterion_group!(benches, bench);
criterion_main!(benches);
