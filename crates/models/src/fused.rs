//! The switch for the fused CPU kernels (issue 22): RMSNorm, SwiGLU, rotary + attention, token
//! log-probs and AdamW each run as one fused op with its own backward on the CPU backend, and as
//! burn's decomposed ops everywhere else.
//!
//! `PRIME_FUSED_KERNELS=0` in the environment turns the fused ops off for the whole process (read
//! once), so the same binary can time or check the decomposed path: `cargo xtask bench models`
//! runs both, and a suspected kernel bug can be confirmed or ruled out without a rebuild.

use std::sync::OnceLock;

/// The environment variable that turns the fused kernels off when set to `0`.
pub const FUSED_KERNELS_ENV: &str = "PRIME_FUSED_KERNELS";

/// Whether the fused CPU kernels may run in this process: `true` unless
/// [`FUSED_KERNELS_ENV`] is `0` (or `false`, `off`) when first asked.
pub fn fused_kernels_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        std::env::var(FUSED_KERNELS_ENV)
            .map(|value| !matches!(value.trim(), "0" | "false" | "off"))
            .unwrap_or(true)
    })
}
