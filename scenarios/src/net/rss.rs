//! The process's peak resident memory, as the kernel counts it.

/// Peak resident set size of this process in KiB (`VmHWM` in
/// `/proc/self/status`), or `None` where there is no procfs (not Linux).
///
/// It is the peak since the process started, so a load run that wants its
/// own figure runs in a process of its own (`squall bench-net` does).
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_hwm_in_kib() {
        let status = "Name:\tsquall\nVmPeak:\t  100 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 10 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(12345));
        assert_eq!(parse_vm_hwm("Name:\tx\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_a_peak() {
        assert!(peak_rss_kib().is_some_and(|kib| kib > 0));
    }
}
