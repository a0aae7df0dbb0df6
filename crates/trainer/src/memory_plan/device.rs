//! Whether a plan fits its CUDA device, and how big the device is.
//!
//! burn 0.21's `Backend` reports neither a device's total memory nor its peak use (cubecl's
//! `ComputeClient::memory_usage` gives the bytes in use now, not the card's size), so the size
//! comes from, in order: the environment variable [`DEVICE_MEMORY_ENV`] (bytes), else
//! `nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits -i <device>` (MiB). When
//! neither answers, the check is skipped with a warning.

use std::process::Command;

use super::{gb, MemoryPlan, PlanError};

/// Overrides the device's memory, in bytes (e.g. to plan for a smaller share of a GPU).
pub const DEVICE_MEMORY_ENV: &str = "PRIME_DEVICE_MEMORY_BYTES";

/// Refuses a plan whose total exceeds `device_bytes`, unless `allow_over` (the config's
/// `memory.allow_over_plan`); the error is one line naming the three biggest components.
pub fn check_fits(plan: &MemoryPlan, device_bytes: u64, allow_over: bool) -> Result<(), PlanError> {
    if plan.bytes.total <= device_bytes || allow_over {
        return Ok(());
    }
    let biggest: Vec<String> = plan
        .largest_components()
        .into_iter()
        .take(3)
        .map(|(name, bytes)| format!("{name} {:.1} GB", gb(bytes)))
        .collect();
    Err(PlanError::OverDevice(format!(
        "the memory plan needs {:.1} GB but the device has {:.1} GB (biggest: {}); see `cargo xtask plan --config …`, or set memory.allow_over_plan = true to start anyway",
        gb(plan.bytes.total),
        gb(device_bytes),
        biggest.join(", ")
    )))
}

/// The memory of CUDA device `index`: [`DEVICE_MEMORY_ENV`], else `nvidia-smi`; `Ok(None)` when
/// neither is available.
pub fn device_memory(index: usize) -> Result<Option<u64>, PlanError> {
    if let Ok(value) = std::env::var(DEVICE_MEMORY_ENV) {
        return parse_bytes(&value).map(Some).ok_or_else(|| {
            PlanError::DeviceMemory(format!(
                "{DEVICE_MEMORY_ENV}=`{value}` is not a number of bytes"
            ))
        });
    }
    let output = Command::new("nvidia-smi")
        .args([
            "--query-gpu=memory.total",
            "--format=csv,noheader,nounits",
            "-i",
            &index.to_string(),
        ])
        .output();
    match output {
        Ok(out) if out.status.success() => {
            parse_nvidia_smi_mib(&String::from_utf8_lossy(&out.stdout))
                .map(Some)
                .ok_or_else(|| {
                    PlanError::DeviceMemory(format!(
                        "nvidia-smi printed `{}`, not a size in MiB",
                        String::from_utf8_lossy(&out.stdout).trim()
                    ))
                })
        }
        _ => Ok(None),
    }
}

/// A byte count written as an integer (underscores allowed).
fn parse_bytes(text: &str) -> Option<u64> {
    text.trim().replace('_', "").parse().ok()
}

/// `nvidia-smi`'s `memory.total` without units: MiB on the first line.
pub fn parse_nvidia_smi_mib(text: &str) -> Option<u64> {
    let mib: u64 = text.lines().next()?.trim().parse().ok()?;
    Some(mib * 1024 * 1024)
}

/// The check a CUDA run makes before allocating anything: plan `config`, find the memory of
/// `backend.device`, refuse when the plan does not fit (unless `memory.allow_over_plan`). When
/// the plan cannot be made or the device's size is unknown, it warns and lets the run start.
pub fn check_cuda_start(config: &crate::config::TrainConfig) -> Result<(), PlanError> {
    let plan = match super::plan(config) {
        Ok(plan) => plan,
        Err(e) => {
            tracing::warn!("no memory plan, starting without the check: {e}");
            return Ok(());
        }
    };
    match device_memory(config.backend.device)? {
        Some(bytes) => check_fits(&plan, bytes, config.memory.allow_over_plan),
        None => {
            tracing::warn!(
                "the device's memory is unknown (no nvidia-smi, {DEVICE_MEMORY_ENV} unset): the memory plan ({:.1} GB) is not checked",
                gb(plan.bytes.total)
            );
            Ok(())
        }
    }
}
