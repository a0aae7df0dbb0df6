//! # prime
//!
//! The facade of the prime-rs workspace: PRIME (Process Reinforcement through IMplicit rEwards,
//! arXiv 2502.01456) for reinforcement learning of LLM reasoning, on burn.
//!
//! Each part is its own crate and can be used alone; this crate re-exports them under short names.

pub use prime_advantages as advantages;
pub use prime_data as data;
pub use prime_implicit_prm as implicit_prm;
pub use prime_models as models;
pub use prime_trainer as trainer;
pub use prime_verifiers as verifiers;
