//! The shipped 7B configs against the memory planner (issue 19): the paper's full fine-tuning
//! recipe does not fit one 80 GB GPU, its LoRA version fits with headroom (≤ 70 GB); the 0.5B
//! CPU config's LoRA plan is at most a third of the same run fully fine-tuned.

use std::path::{Path, PathBuf};

use prime_models::Qwen2Config;
use prime_trainer::memory_plan::{self, plan_for, Architecture};
use prime_trainer::TrainConfig;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(name: &str, overrides: &[&str]) -> TrainConfig {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    TrainConfig::load(&repo().join("configs").join(name), &overrides).unwrap()
}

/// The 7B shape from its checked-in `config.json` (the tests run in the crate's directory, so
/// not through `memory_plan::plan`'s relative `configs/shapes`).
fn qwen_7b() -> Architecture {
    let path = repo().join("configs/shapes/Eurus-2-7B-SFT/config.json");
    let config = Qwen2Config::from_file(&path).unwrap();
    Architecture::of_config(&config, path.display().to_string())
}

#[test]
fn the_paper_recipe_does_not_fit_80_gb_and_its_lora_version_fits_70() {
    let arch = qwen_7b();
    // Qwen2.5-Math-7B: 7,615,616,512 parameters.
    assert_eq!(arch.params(), 7_615_616_512);
    let full = plan_for(&load("prime-qwen2.5-math-7b.toml", &[]), &arch, None);
    assert!(full.bytes.total > 80_000_000_000, "{}", full.table());
    // Policy, PRM and the PRM's reference in f32: 3 · 4 · 7.6B bytes.
    assert_eq!(full.bytes.weights, 12 * 7_615_616_512);
    let lora = plan_for(&load("prime-qwen2.5-math-7b-lora.toml", &[]), &arch, None);
    assert!(lora.bytes.total <= 70_000_000_000, "{}", lora.table());
    assert!(lora.trainable_params < arch.params() / 40);
}

#[test]
fn the_cpu_lora_config_plans_a_third_of_full_fine_tuning() {
    let lora = memory_plan::plan(&load("lora-0.5b-cpu.toml", &[])).unwrap();
    let full = memory_plan::plan(&load("lora-0.5b-cpu.toml", &["lora.rank=0"])).unwrap();
    assert!(
        3 * lora.bytes.total <= full.bytes.total,
        "{} vs {}",
        lora.bytes.total,
        full.bytes.total
    );
    // Fits a 16 GB laptop either way.
    assert!(full.bytes.total < 16_000_000_000);
}
