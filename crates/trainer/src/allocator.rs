//! The allocator of `prime-train`: mimalloc, told to keep the pages it frees.
//!
//! A training step allocates and frees the same large tensors over and over (the logits alone
//! are `rows × vocab` floats). glibc's malloc maps every allocation above 32 MiB afresh and
//! returns it on free, so each step pays the page faults and the zeroing of fresh pages again;
//! mimalloc decommits freed memory after a delay (1 s by default), and a new page is then
//! faulted in again. With purging off,
//! freed pages are reused: on the CPU the `small_10m` forward took 0.48× and its train step
//! 0.90× of their time with glibc's malloc (docs/performance.md, "Fused CPU kernels"). The cost:
//! the process keeps its peak memory until it exits, which a training run reaches anyway.
//!
//! The binary declares the allocator (`#[global_allocator]`); a library cannot choose it for its
//! users. Programs that depend on the crates and train on the CPU can do the same.

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (v3, as libmimalloc-sys 0.1 builds it;
/// the test below checks its default of 1000 ms).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Turns mimalloc's purging of freed memory off for the rest of the process. Call it at the start
/// of `main` in a binary whose global allocator is `mimalloc::MiMalloc`; elsewhere it only sets
/// an option nothing reads.
pub fn keep_freed_memory() {
    // SAFETY: sets one integer option of mimalloc's; valid at any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_is_the_purge_delay() {
        // SAFETY: reads and sets integer options.
        let default = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(
            default, 1000,
            "index {PURGE_DELAY} is not mimalloc's purge delay"
        );
        keep_freed_memory();
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }, -1);
    }
}
