//! Every random choice of a run draws from a seed derived from the run seed and the choice's
//! coordinates (what, step, round, chunk), never from a carried RNG: a resumed run therefore
//! draws exactly what the uninterrupted run would have. The tags that name each kind of choice
//! live here, in one place.

use prime_data::SplitMix64;

/// The tag of one kind of random choice (the first coordinate of [`derive_seed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedTag(pub u64);

/// Initial weights of a policy built from scratch.
pub const SCRATCH_POLICY: SeedTag = SeedTag(0x1417);
/// Initial weights of a PRM built from scratch.
pub const SCRATCH_PRM: SeedTag = SeedTag(0x9A17);
/// The policy's fresh LoRA adapter (`A`; `B` starts at zero).
pub const LORA_POLICY: SeedTag = SeedTag(0x10A1);
/// The PRM's fresh LoRA adapter.
pub const LORA_PRM: SeedTag = SeedTag(0x10A2);
/// The order of the training prompts (epoch permutations).
pub const PROMPT_ORDER: SeedTag = SeedTag(0xDA7A);
/// Rollout sampling: `[ROLLOUT, step, round]`, then the prompt's dataset index and the
/// response's number within its group (whatever rank or batch samples it).
pub const ROLLOUT: SeedTag = SeedTag(0x5A);
/// The row order of the PPO mini-batches: `[PPO_ORDER, step]`, then the epoch.
pub const PPO_ORDER: SeedTag = SeedTag(0x990);
/// Greedy evaluation: `[EVAL_GREEDY, step]`, then the chunk.
pub const EVAL_GREEDY: SeedTag = SeedTag(0xE7A1);
/// avg@k evaluation at temperature > 0: `[EVAL_SAMPLED, step]`, then the chunk.
pub const EVAL_SAMPLED: SeedTag = SeedTag(0xE7A2);

/// Held while the backend's global generator is seeded and drawn from (weights from scratch):
/// two trainers in one process (data-parallel ranks as threads, tests run in parallel) would
/// otherwise interleave their draws.
pub(crate) static BACKEND_SEED: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A seed for one random choice: a pure function of `base` and `parts`
/// (`[tag, step, round, chunk]`, …).
pub fn derive_seed(base: u64, parts: &[u64]) -> u64 {
    let mut rng = SplitMix64::new(base);
    let mut h = rng.next_u64();
    for &p in parts {
        let mut r = SplitMix64::new(h ^ p.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        h = r.next_u64();
    }
    h
}

/// The seed of the choice `tag` at `coordinates` of the run seeded `run_seed`.
pub fn seed_for(run_seed: u64, tag: SeedTag, coordinates: &[u64]) -> u64 {
    let mut parts = Vec::with_capacity(coordinates.len() + 1);
    parts.push(tag.0);
    parts.extend_from_slice(coordinates);
    derive_seed(run_seed, &parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_seeds_depend_on_every_part() {
        let a = derive_seed(1, &[2, 3]);
        assert_eq!(a, derive_seed(1, &[2, 3]));
        assert_ne!(a, derive_seed(1, &[3, 2]));
        assert_ne!(a, derive_seed(2, &[2, 3]));
        assert_ne!(a, derive_seed(1, &[2, 3, 0]));
    }

    #[test]
    fn a_tagged_seed_is_the_derived_seed_of_tag_and_coordinates() {
        assert_eq!(seed_for(9, ROLLOUT, &[4, 1]), derive_seed(9, &[0x5A, 4, 1]));
        assert_ne!(seed_for(9, ROLLOUT, &[4]), seed_for(9, PPO_ORDER, &[4]));
    }

    #[test]
    fn tags_of_different_choices_differ() {
        let tags = [
            SCRATCH_POLICY,
            SCRATCH_PRM,
            LORA_POLICY,
            LORA_PRM,
            PROMPT_ORDER,
            ROLLOUT,
            PPO_ORDER,
            EVAL_GREEDY,
            EVAL_SAMPLED,
        ];
        for (i, a) in tags.iter().enumerate() {
            for b in &tags[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
