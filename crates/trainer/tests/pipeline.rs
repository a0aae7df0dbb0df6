//! End-to-end runs of the `prime-train` binary on `configs/smoke.toml`: the whole pipeline,
//! resume after SIGKILL, and switching the advantage estimator by config alone.

mod common;
use common::tensors;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_prime-train");

fn smoke_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/smoke.toml")
}

fn train(run_dir: &Path, extra: &[&str]) -> (String, std::process::ExitStatus) {
    let mut cmd = Command::new(BIN);
    cmd.arg("train")
        .arg("--config")
        .arg(smoke_config())
        .arg("--run-dir")
        .arg(run_dir)
        .args(extra)
        .env("RUST_LOG", "warn");
    let out = cmd.output().expect("run prime-train");
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status,
    )
}

/// `prime-train train --resume RUN_DIR …`, which must succeed; returns its stdout.
fn resume(run_dir: &Path, extra: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["train", "--resume"])
        .arg(run_dir)
        .args(extra)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn last_json(stdout: &str) -> Value {
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {line}"))
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The metrics that must not depend on wall time.
fn deterministic(mut v: Value) -> Value {
    let obj = v.as_object_mut().unwrap();
    obj.retain(|k, _| !k.starts_with("time_") && !k.ends_with("_per_s") && k != "peak_rss_bytes");
    v
}

#[test]
fn smoke_run_writes_everything_and_ends_with_the_summary_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let (stdout, status) = train(&run, &[]);
    assert!(status.success());
    let summary = last_json(&stdout);
    assert_eq!(summary["steps"], 4);
    assert_eq!(summary["run_dir"], run.display().to_string());
    for key in ["accuracy_before", "accuracy_after", "wall_seconds"] {
        assert!(summary[key].is_number(), "{key} in {summary}");
    }
    let metrics = jsonl(&run.join("metrics.jsonl"));
    assert_eq!(metrics.len(), 4);
    for (i, m) in metrics.iter().enumerate() {
        assert_eq!(m["step"], i + 1);
        assert_eq!(m["skipped"], false, "{m}");
        assert!(m["groups_kept"].as_u64().unwrap() == 3, "{m}");
        assert!(m["prm_loss"].as_f64().unwrap().is_finite(), "{m}");
        assert!(m["time_rollout"].as_f64().unwrap() > 0.0);
    }
    // Evaluations before RL, at step 2 and at the end.
    let evals: Vec<u64> = jsonl(&run.join("eval.jsonl"))
        .iter()
        .map(|e| e["step"].as_u64().unwrap())
        .collect();
    assert_eq!(evals, vec![0, 2, 4]);
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(report.contains("<svg") && !report.contains("<script"));
    // keep_last = 2: steps 3 and 4 remain, each complete.
    let mut ckpts: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    ckpts.sort();
    assert_eq!(ckpts, vec!["step-000003", "step-000004"]);
    for f in [
        "policy/model.safetensors",
        "policy/config.json",
        "policy/tokenizer.json",
        "policy_optim.mpk",
        "prm/model.safetensors",
        "prm/prm_optimizer.mpk",
        "state.json",
        "config.toml",
    ] {
        assert!(run.join("checkpoints/step-000004").join(f).exists(), "{f}");
    }
    assert!(run.join("final/model.safetensors").exists());
}

#[test]
fn sigkilled_run_resumes_to_the_same_metrics_and_weights() {
    resumes_exactly(&[]);
}

#[test]
fn a_scratch_qwen3_resumes_exactly() {
    resumes_exactly(&["--set", "model.scratch.family=qwen3"]);
}

#[test]
fn a_lora_run_resumes_exactly() {
    resumes_exactly(&["--set", "lora.rank=4"]);
}

#[test]
fn a_scratch_llama_resumes_exactly() {
    resumes_exactly(&["--set", "model.scratch.family=llama"]);
}

/// Trains the smoke config with `extra` straight through, and again killed (SIGKILL) between
/// checkpoint 2 and the end, then resumed: metrics, evaluations and weights must be identical.
fn resumes_exactly(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    let (_, status) = train(&straight, extra);
    assert!(status.success());

    let mut killed_mid_run = false;
    let resumed = dir.path().join("resumed");
    for _attempt in 0..3 {
        let _ = std::fs::remove_dir_all(&resumed);
        let mut child = Command::new(BIN)
            .arg("train")
            .arg("--config")
            .arg(smoke_config())
            .arg("--run-dir")
            .arg(&resumed)
            .args(extra)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let marker = resumed.join("checkpoints/step-000002");
        while !marker.exists() && started.elapsed() < Duration::from_secs(300) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if !resumed.join("final").exists() && marker.exists() {
            killed_mid_run = true;
            break;
        }
    }
    assert!(
        killed_mid_run,
        "could not kill the run between checkpoint 2 and the end"
    );

    let summary = last_json(&resume(&resumed, &[]));
    assert_eq!(summary["steps"], 4);

    let a: Vec<Value> = jsonl(&straight.join("metrics.jsonl"))
        .into_iter()
        .map(deterministic)
        .collect();
    let b: Vec<Value> = jsonl(&resumed.join("metrics.jsonl"))
        .into_iter()
        .map(deterministic)
        .collect();
    assert_eq!(a, b);
    let ea: Vec<Value> = jsonl(&straight.join("eval.jsonl"))
        .into_iter()
        .map(|mut e| {
            e["seconds"] = Value::Null;
            e
        })
        .collect();
    let eb: Vec<Value> = jsonl(&resumed.join("eval.jsonl"))
        .into_iter()
        .map(|mut e| {
            e["seconds"] = Value::Null;
            e
        })
        .collect();
    assert_eq!(ea, eb);
    let lora = extra.iter().any(|s| s.starts_with("lora.rank="));
    let prm_weights = if lora {
        "checkpoints/step-000004/prm/adapter_model.safetensors"
    } else {
        "checkpoints/step-000004/prm/model.safetensors"
    };
    for f in ["final/model.safetensors", prm_weights] {
        let x = std::fs::read(straight.join(f)).unwrap();
        let y = std::fs::read(resumed.join(f)).unwrap();
        assert!(x == y, "{f} differs after resume");
    }
    // The family the config named is the family that was trained and written.
    let family = extra
        .iter()
        .find_map(|s| s.strip_prefix("model.scratch.family="))
        .unwrap_or("qwen2");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(resumed.join("final/config.json")).unwrap())
            .unwrap();
    assert_eq!(config["model_type"], family);
}

/// A Qwen3 and a Llama checkpoint written by `transformers` train through `model.path` alone:
/// the family is read from their `config.json`.
#[test]
fn qwen3_and_llama_checkpoints_run_a_step_through_model_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for (fixture, model_type) in [
        ("qwen3_untied_v5", "qwen3"),
        ("llama3_scaled_bias_v4", "llama"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let model = format!(
            "model.path=\"{}\"",
            root.join("crates/models/tests/data")
                .join(fixture)
                .display()
        );
        let (stdout, status) = train(
            &run,
            &[
                "--set",
                &model,
                "--set",
                "sft.enabled=false",
                "--set",
                "steps=1",
                "--set",
                "logging.report=false",
            ],
        );
        assert!(status.success(), "{fixture}");
        assert_eq!(last_json(&stdout)["steps"], 1, "{fixture}");
        let m = &jsonl(&run.join("metrics.jsonl"))[0];
        assert!(
            m["prm_loss"].as_f64().unwrap().is_finite(),
            "{fixture}: {m}"
        );
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("final/config.json")).unwrap())
                .unwrap();
        assert_eq!(config["model_type"], model_type, "{fixture}");
    }
}

#[test]
fn the_estimator_is_switched_by_the_config_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut losses = Vec::new();
    for estimator in ["rloo", "grpo", "reinforce", "reinforce_pp", "prm_value"] {
        let run = dir.path().join(estimator);
        let set = format!("advantage.estimator={estimator}");
        let (stdout, status) = train(
            &run,
            &[
                "--set",
                &set,
                "--set",
                "steps=1",
                "--set",
                "sft.enabled=false",
                "--set",
                "logging.report=false",
            ],
        );
        assert!(status.success(), "{estimator}");
        assert_eq!(last_json(&stdout)["steps"], 1);
        let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
        assert!(
            config.contains(&format!("estimator = \"{estimator}\"")),
            "{config}"
        );
        let m = &jsonl(&run.join("metrics.jsonl"))[0];
        assert_eq!(m["skipped"], false);
        losses.push((
            m["advantage_abs_mean"].as_f64().unwrap(),
            m["policy_loss"].as_f64().unwrap(),
        ));
    }
    // Same samples (same seed, same start), different estimators → different advantages.
    for i in 1..losses.len() {
        assert_ne!(
            losses[0].0, losses[i].0,
            "estimator {i} gave the same advantages as rloo"
        );
    }
}

/// The real-scale path on a machine without a real checkpoint: a Hugging Face Qwen2 directory
/// written by `transformers` (tokenizer and Qwen2.5 chat template included) and a parquet file in
/// the Eurus-2-RL-Data layout (math and code rows, some malformed) go through the same config
/// keys a 7B run uses, and one PRIME step runs.
#[test]
fn a_hf_checkpoint_and_a_eurus_parquet_file_run_a_step_through_the_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model = root.join("crates/models/tests/data/tied_f32");
    let data = root.join("crates/data/tests/data/heldout_verl.parquet");
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let path = |key: &str, p: &Path| format!("{key}=\"{}\"", p.display());
    let files = |key: &str| format!("{key}=[\"{}\"]", data.display());
    let overrides = [
        path("model.path", &model),
        files("data.train_files"),
        files("data.eval_files"),
        "data.eval_size=3".to_string(),
        "sft.enabled=false".to_string(),
        "steps=1".to_string(),
        "rollout.max_response_len=6".to_string(),
        "logging.report=false".to_string(),
    ];
    let mut args: Vec<&str> = Vec::new();
    for o in &overrides {
        args.extend(["--set", o.as_str()]);
    }

    // The file has malformed rows: by default that is an error naming the file, row and field …
    let out = Command::new(BIN)
        .args(["train", "--config"])
        .arg(smoke_config())
        .arg("--run-dir")
        .arg(&run)
        .args(&args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "malformed rows must fail by default");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("heldout_verl.parquet")
            && stderr.contains("row 2, field `reward_model.ground_truth`: missing"),
        "{stderr}"
    );

    // … and with `on_bad_row = "skip"` the 13 valid rows train.
    let _ = std::fs::remove_dir_all(&run);
    args.extend(["--set", "data.on_bad_row=\"skip\""]);
    let (stdout, status) = train(&run, &args);
    assert!(status.success());
    assert_eq!(last_json(&stdout)["steps"], 1);
    let m = &jsonl(&run.join("metrics.jsonl"))[0];
    assert_eq!(m["skipped"], false, "{m}");
    assert_eq!(m["groups_kept"], 3, "{m}");
    assert!(m["prm_loss"].as_f64().unwrap().is_finite(), "{m}");
    // The exported policy is again a Hugging Face checkpoint with the model's tokenizer.
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(run.join("final").join(f).exists(), "{f}");
    }
}

fn hidden_size(model_dir: &Path) -> u64 {
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(model_dir.join("config.json")).unwrap())
            .unwrap();
    config["hidden_size"].as_u64().unwrap()
}

/// `[prm.scratch]`: a PRM of its own size gets the SFT warm-up and is its own frozen reference.
/// With `prm.update = "none"` it never moves, so every implicit reward is exactly 0, also after a
/// resume; a reference of the policy's size (the default source) would give non-zero rewards.
#[test]
fn a_scratch_prm_of_another_size_is_warmed_up_and_is_its_own_reference() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let scratch = [
        "--set",
        "prm.scratch.hidden_size=48",
        "--set",
        "prm.scratch.intermediate_size=96",
        "--set",
        "prm.scratch.num_hidden_layers=1",
        "--set",
        "prm.scratch.num_attention_heads=2",
        "--set",
        "prm.scratch.num_key_value_heads=1",
        "--set",
        "prm.update=none",
        "--set",
        "steps=2",
    ];
    let (_, status) = train(&run, &scratch);
    assert!(status.success());
    assert_eq!(hidden_size(&run.join("init/prm")), 48);
    assert_eq!(hidden_size(&run.join("init/policy")), 32);
    assert_eq!(hidden_size(&run.join("checkpoints/step-000002/prm")), 48);

    resume(&run, &["--set", "steps=4"]);
    let metrics = jsonl(&run.join("metrics.jsonl"));
    assert_eq!(metrics.len(), 4);
    for m in &metrics {
        assert_eq!(m["process_reward_mean"].as_f64(), Some(0.0), "{m}");
    }
    let samples = jsonl(&run.join("samples.jsonl"));
    assert!(!samples.is_empty());
    for s in &samples {
        let rewards = s["rewards"].as_array().unwrap();
        assert!(rewards.iter().all(|r| r.as_f64() == Some(0.0)), "{s}");
    }
}

/// With `lora.rank > 0` the checkpoints hold adapters (PEFT layout) and optimizer state only,
/// the PRM's first rewards are exactly 0 (zero-initialised `B`: PRM = reference), and the final
/// model is the frozen base plus `(α/r)·A·B` on the targets and nothing else.
#[test]
fn a_lora_run_trains_adapters_only_over_a_frozen_base() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let (stdout, status) = train(
        &run,
        &[
            "--set",
            "lora.rank=4",
            "--set",
            "lora.targets=[\"q_proj\",\"down_proj\"]",
            // One PRM mini-batch: every step-1 reward is scored before the PRM's first update.
            "--set",
            "prm.mini_batch_size=64",
        ],
    );
    assert!(status.success());
    assert_eq!(last_json(&stdout)["steps"], 4);

    let step4 = run.join("checkpoints/step-000004");
    for f in [
        "policy/adapter_config.json",
        "policy/adapter_model.safetensors",
        "policy_optim.mpk",
        "prm/adapter_config.json",
        "prm/adapter_model.safetensors",
        "prm/prm_optimizer.mpk",
        "state.json",
    ] {
        assert!(step4.join(f).exists(), "{f}");
    }
    for f in ["policy/model.safetensors", "prm/model.safetensors"] {
        assert!(
            !step4.join(f).exists(),
            "{f}: a LoRA checkpoint holds no full weights"
        );
    }
    assert!(run.join("final/model.safetensors").exists());
    assert!(run.join("final/adapter/adapter_config.json").exists());

    // Step 1: the PRM is its reference plus a zero update, so every token reward is exactly 0.
    let samples = jsonl(&run.join("samples.jsonl"));
    let first: Vec<&Value> = samples.iter().filter(|s| s["step"] == 1).collect();
    assert!(!first.is_empty());
    for sample in first {
        let rewards = sample["rewards"].as_array().unwrap();
        assert!(!rewards.is_empty());
        assert!(rewards.iter().all(|r| r.as_f64() == Some(0.0)), "{sample}");
    }
    let later = samples.iter().filter(|s| s["step"] == 4);
    assert!(
        later
            .flat_map(|s| s["rewards"].as_array().unwrap().iter())
            .any(|r| r.as_f64() != Some(0.0)),
        "after three PRM updates the rewards must move"
    );

    // final = base + (α/r)·A·B on q_proj and down_proj; every other tensor is the base's, bitwise.
    let base = tensors(&run.join("init/policy/model.safetensors"));
    let merged = tensors(&run.join("final/model.safetensors"));
    let adapter = tensors(&run.join("final/adapter/adapter_model.safetensors"));
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("final/adapter/adapter_config.json")).unwrap(),
    )
    .unwrap();
    let scale = config["lora_alpha"].as_f64().unwrap() / config["r"].as_f64().unwrap();
    assert_eq!(
        base.keys().collect::<Vec<_>>(),
        merged.keys().collect::<Vec<_>>()
    );
    for (name, (shape, values)) in &merged {
        let module = name.strip_suffix(".weight").unwrap_or(name);
        let a = adapter.get(&format!("base_model.model.{module}.lora_A.weight"));
        let b = adapter.get(&format!("base_model.model.{module}.lora_B.weight"));
        let targeted = module.ends_with("q_proj") || module.ends_with("down_proj");
        assert_eq!(a.is_some(), targeted, "{name}");
        let base_values = &base[name].1;
        match (a, b) {
            (Some((a_shape, a)), Some((_, b))) => {
                // HF layout: W' [out, in] = W + scale · Bᵀᵀ... i.e. lora_B [out, r] · lora_A [r, in].
                let (out, r, inp) = (shape[0], a_shape[0], shape[1]);
                let mut max_diff = 0f32;
                let mut delta_max = 0f32;
                for o in 0..out {
                    for i in 0..inp {
                        let delta: f32 = (0..r).map(|k| b[o * r + k] * a[k * inp + i]).sum::<f32>()
                            * scale as f32;
                        let expected = base_values[o * inp + i] + delta;
                        max_diff = max_diff.max((values[o * inp + i] - expected).abs());
                        delta_max = delta_max.max(delta.abs());
                    }
                }
                assert!(delta_max > 0.0, "{name}: the adapter never moved");
                assert!(
                    max_diff < 1e-6,
                    "{name}: merged ≠ base + scale·B·A ({max_diff})"
                );
            }
            _ => assert!(values == base_values, "{name} changed without an adapter"),
        }
    }
}

/// The PRM equals its reference at step 1 in every scoring mode (chunked log-probs, per-layer
/// recomputation, both): its first rewards are exactly 0.
#[test]
fn lora_prm_rewards_are_exactly_zero_at_step_one_in_every_scoring_mode() {
    let dir = tempfile::tempdir().unwrap();
    for (i, extra) in [
        [
            "memory.logprob_chunk=0",
            "memory.checkpoint_activations=false",
        ],
        [
            "memory.logprob_chunk=5",
            "memory.checkpoint_activations=false",
        ],
        [
            "memory.logprob_chunk=0",
            "memory.checkpoint_activations=true",
        ],
        [
            "memory.logprob_chunk=5",
            "memory.checkpoint_activations=true",
        ],
    ]
    .iter()
    .enumerate()
    {
        let run = dir.path().join(format!("run{i}"));
        let mut args = vec!["--set", "lora.rank=4", "--set", "prm.mini_batch_size=64"];
        args.extend(["--set", "seed=3", "--set", "steps=1", "--set", extra[0]]);
        args.extend(["--set", extra[1]]);
        let (_, status) = train(&run, &args);
        assert!(status.success(), "{extra:?}");
        let rewards: Vec<f64> = jsonl(&run.join("samples.jsonl"))
            .iter()
            .filter(|s| s["step"] == 1)
            .flat_map(|s| s["rewards"].as_array().unwrap().clone())
            .map(|r| r.as_f64().unwrap())
            .collect();
        assert!(!rewards.is_empty(), "{extra:?}");
        assert!(rewards.iter().all(|&r| r == 0.0), "{extra:?}: {rewards:?}");
    }
}
