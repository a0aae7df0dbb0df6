//! The process's peak resident memory during each step, recorded in every step of
//! `metrics.jsonl` (`peak_rss_bytes`) to check the memory plan against.
//!
//! On Linux it is `VmHWM` of `/proc/self/status` (the high-water mark of the resident set),
//! reset at the start of every step ([`reset_peak`]: writing `5` to `/proc/self/clear_refs`),
//! so a step's record is that step's peak and not, say, the save of the initial model before
//! it; elsewhere there is no value. A CUDA device's peak memory is not recorded: burn 0.21 does not
//! expose it (cubecl's `ComputeClient::memory_usage` reports current use only).

/// The peak resident set size of this process in bytes, where the OS reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

/// Restarts the high-water mark from the current resident set (Linux; a no-op where the kernel
/// refuses it, in which case the record stays the process's peak so far).
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The `VmHWM:  <n> kB` line of a `/proc/<pid>/status` text, in bytes.
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut fields = line["VmHWM:".len()..].split_whitespace();
    let value: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") => Some(value * 1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_high_water_mark_in_bytes() {
        let status =
            "Name:\tprime-train\nVmPeak:\t  900 kB\nVmHWM:\t    1536 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(1536 * 1024));
        assert_eq!(parse_vm_hwm("VmRSS:\t1 kB\n"), None);
        assert_eq!(parse_vm_hwm("VmHWM:\t12 MB\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_a_peak() {
        // A test binary holds at least a megabyte resident.
        assert!(peak_rss_bytes().unwrap() > 1 << 20);
    }
}
