//! Unprivileged host uids for sandboxes started by root, one per live sandbox.
//!
//! A distinct uid per sandbox keeps `RLIMIT_NPROC` (counted per user) per run, and lets a sandbox
//! without a pid namespace be swept with `kill(-1)` as that uid. Nothing on the host owns these ids.

use std::sync::Mutex;

/// First uid (and gid) of the pool: far above any distribution's allocations.
pub const POOL_BASE: u32 = 1_610_612_736; // 0x6000_0000
/// Number of sandboxes that can hold a uid at once.
pub const POOL_SIZE: u32 = 4096;

struct Pool {
    used: Vec<bool>,
    next: usize,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

/// A uid held for the life of one sandbox; returned to the pool on drop.
#[derive(Debug)]
pub struct UidLease {
    slot: usize,
}

impl UidLease {
    /// Takes the next free uid, rotating so that a released id is reused as late as possible.
    pub fn acquire() -> Option<UidLease> {
        let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let pool = guard.get_or_insert_with(|| Pool {
            used: vec![false; POOL_SIZE as usize],
            next: 0,
        });
        for step in 0..pool.used.len() {
            let slot = (pool.next + step) % pool.used.len();
            if !pool.used[slot] {
                pool.used[slot] = true;
                pool.next = slot + 1;
                return Some(UidLease { slot });
            }
        }
        None
    }

    /// The host uid (also used as gid).
    pub fn id(&self) -> u32 {
        POOL_BASE + self.slot as u32
    }
}

impl Drop for UidLease {
    fn drop(&mut self) {
        let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = guard.as_mut() {
            pool.used[self.slot] = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_distinct_and_returned() {
        let a = UidLease::acquire().expect("free slot");
        let b = UidLease::acquire().expect("free slot");
        assert_ne!(a.id(), b.id());
        assert!(a.id() >= POOL_BASE && a.id() < POOL_BASE + POOL_SIZE);
        let freed = a.id();
        drop(a);
        // Rotation: acquiring and dropping one lease at a time cycles through the pool.
        let seen = (0..POOL_SIZE).any(|_| UidLease::acquire().is_some_and(|l| l.id() == freed));
        assert!(seen, "a released uid comes back");
        drop(b);
    }
}
