//! `prime-train` under `mpirun` (a build with `--features mpi`; CI installs OpenMPI): two ranks
//! end with the weights and per-step metrics of one, and a rank killed mid-run ends the job with
//! one line naming it and a checkpoint directory that resumes exactly.
#![cfg(feature = "mpi")]

mod common;
use common::relative_error;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn smoke_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/smoke.toml")
}

/// `mpirun -n N prime-train train ARGS`, one compute thread per rank.
fn mpirun(n: usize, args: &[&str]) -> Command {
    let mut cmd = Command::new("mpirun");
    cmd.args(["-n", &n.to_string(), "--oversubscribe", "--bind-to", "none"]);
    if is_root() {
        cmd.arg("--allow-run-as-root");
    }
    cmd.args(["-x", "RAYON_NUM_THREADS=1", "-x", "PRIME_MPI_TEST=1"])
        .arg(env!("CARGO_BIN_EXE_prime-train"))
        .arg("train")
        .args(args);
    cmd
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn run(mut cmd: Command) -> Output {
    let out = cmd
        .output()
        .expect("mpirun runs (apt-get install openmpi-bin)");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn train(n: usize, run_dir: &Path, extra: &[&str]) -> Output {
    let config = smoke_config();
    let mut args = vec![
        "--config",
        config.to_str().unwrap(),
        "--run-dir",
        run_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(mpirun(n, &args))
}

/// Per-step metrics without wall times.
fn metrics(run_dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let obj = v.as_object_mut().unwrap();
            obj.retain(|k, _| {
                !k.starts_with("time_") && !k.ends_with("_per_s") && k != "peak_rss_bytes"
            });
            v
        })
        .collect()
}

fn assert_close_metrics(a: &[Value], b: &[Value]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        for (key, u) in x.as_object().unwrap() {
            let w = &y[key];
            match (u.as_f64(), w.as_f64()) {
                (Some(u), Some(w)) => assert!(
                    (u - w).abs() <= 1e-5 * u.abs().max(1.0),
                    "step {}: {key} {u} vs {w}",
                    x["step"]
                ),
                _ => assert_eq!(u, w, "step {}: {key}", x["step"]),
            }
        }
    }
}

#[test]
fn two_mpi_ranks_end_like_one() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    train(1, &one, &[]);
    let out = train(2, &two, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("\"steps\":4").count(),
        1,
        "rank 0 alone prints the summary: {stdout}"
    );
    let error = relative_error(
        &one.join("final/model.safetensors"),
        &two.join("final/model.safetensors"),
    );
    eprintln!("final policy weights, 2 ranks vs 1: relative error {error:e}");
    assert!(error <= 1e-5, "relative error {error:e}");
    assert_close_metrics(&metrics(&one), &metrics(&two));
}

/// The pid of rank `rank` of the test's mpirun job.
fn rank_pid(rank: usize) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let vars: Vec<&[u8]> = environ.split(|&b| b == 0).collect();
        let has = |v: &str| vars.contains(&v.as_bytes());
        if has("PRIME_MPI_TEST=1") && has(&format!("OMPI_COMM_WORLD_RANK={rank}")) {
            return Some(pid);
        }
    }
    None
}

#[test]
fn a_killed_rank_ends_the_job_and_the_checkpoints_resume_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (straight, killed) = (dir.path().join("straight"), dir.path().join("killed"));
    let steps = ["--set", "steps=12", "--set", "eval.every=0"];
    train(2, &straight, &steps);

    let config = smoke_config();
    let mut args = vec![
        "--config",
        config.to_str().unwrap(),
        "--run-dir",
        killed.to_str().unwrap(),
    ];
    args.extend_from_slice(&steps);
    let job = mpirun(2, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let third = killed.join("checkpoints/step-000003");
    let started = Instant::now();
    while !third.exists() {
        assert!(started.elapsed() < Duration::from_secs(300), "no step 3");
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = rank_pid(1).expect("rank 1 runs");
    Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    let out = job.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("process rank 1") && stderr.contains("signal 9"),
        "mpirun names the rank: {stderr}"
    );
    assert!(
        !killed.join("final").exists(),
        "the job stopped before the end"
    );
    let partial: Vec<_> = std::fs::read_dir(killed.join("checkpoints"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("step-"))
        .collect();
    assert!(partial.is_empty() || partial.iter().all(|n| n.starts_with(".tmp-")));

    run(mpirun(2, &["--resume", killed.to_str().unwrap()]));
    let error = relative_error(
        &straight.join("final/model.safetensors"),
        &killed.join("final/model.safetensors"),
    );
    assert_eq!(error, 0.0, "the resumed run ends bit-identical");
    assert_eq!(metrics(&straight), metrics(&killed));
}
