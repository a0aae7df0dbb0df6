//! The held-out set of hostile and ordinary programs (`tests/data/code/heldout.jsonl`) as one
//! batch through the parallel runner: every hostile program fails with a reason, nothing escapes
//! (no file outside, no connection, no surviving process), and every ordinary program in the same
//! batch gets its exact score.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use prime_verifiers::{
    CodeConfig, CodeVerifier, Reference, RunnerConfig, Status, VerifyItem, VerifyRunner,
};

const ESCAPES: &[&str] = &[
    "/tmp/prime-heldout-escape-rename",
    "/tmp/prime-heldout-escape-link",
    "/tmp/prime-heldout-escape-open",
    "/var/tmp/prime-heldout-escape-dir",
];
const DAEMON_MARKER: &str = "prime-heldout-daemon";

fn processes_with(marker: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(marker).then_some(text)
        })
        .collect()
}

#[test]
fn heldout_hostile_batch() {
    let verifier = CodeVerifier::new(CodeConfig {
        time_limit: Duration::from_secs(1),
        problem_time_limit: Duration::from_secs(6),
        memory_limit_bytes: 512 << 20,
        output_limit_bytes: 1 << 20,
        ..CodeConfig::default()
    });
    match verifier.sandbox_report() {
        Ok(report) if report.is_complete() => {}
        Ok(report) if report.usable.is_ok() || !cfg!(target_os = "linux") => {
            eprintln!("SKIPPED: this host cannot give the full sandbox: {report}");
            return;
        }
        other => panic!("sandbox unusable: {other:?}"),
    }
    for path in ESCAPES {
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_dir(path);
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port().to_string();
    let pid = std::process::id().to_string();

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/code/heldout.jsonl");
    let text = std::fs::read_to_string(&path).expect("held-out set");
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("jsonl row"))
        .collect();
    let items = rows
        .iter()
        .map(|row| {
            let code = row["code"]
                .as_str()
                .expect("code")
                .replace("{PORT}", &port)
                .replace("{PID}", &pid);
            VerifyItem {
                response: format!("My solution:\n```python\n{code}\n```\n"),
                reference: Reference {
                    ability: "code".into(),
                    data_source: "heldout".into(),
                    ground_truth: row["ground_truth"].as_str().expect("gt").into(),
                },
            }
        })
        .collect();
    let runner = VerifyRunner::new(
        Arc::new(verifier),
        RunnerConfig {
            workers: 3,
            ..RunnerConfig::default()
        },
    );
    let batch = runner.run(items);

    let mut failures = Vec::new();
    for (row, verdict) in rows.iter().zip(&batch.verdicts) {
        let name = row["name"].as_str().unwrap_or("?");
        eprintln!(
            "{name:<30} {:?} {:.3} {}",
            verdict.status, verdict.score, verdict.reason
        );
        if row["kind"] == "hostile" {
            if verdict.score >= 1.0
                || verdict.status == Status::Correct
                || verdict.reason.is_empty()
            {
                failures.push(format!("hostile {name} was not failed: {verdict:?}"));
            }
            if verdict.status == Status::Error {
                failures.push(format!("hostile {name} broke the verifier: {verdict:?}"));
            }
        } else {
            let want = row["score"].as_f64().expect("score");
            if (verdict.score - want).abs() > 1e-9 {
                failures.push(format!("ordinary {name}: want {want}, got {verdict:?}"));
            }
        }
    }
    for path in ESCAPES {
        if Path::new(path).exists() {
            failures.push(format!("escaped: {path} exists"));
        }
    }
    if !processes_with(DAEMON_MARKER).is_empty() {
        failures.push(format!("survivors: {:?}", processes_with(DAEMON_MARKER)));
    }
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => failures.push(format!("a program reached the host listener: {other:?}")),
    }
    assert!(failures.is_empty(), "{failures:#?}");
    eprintln!("counts: {:?}", batch.counts);
}
