//! The Fluent Bit process's own load, read from `/proc/self`.
//!
//! We run inside Fluent Bit, so "self" is the agent. These figures work even
//! when Fluent Bit's HTTP server is off.

use std::path::Path;

/// Units of `utime`, `stime` and `starttime` in `/proc/<pid>/stat`. This is
/// USER_HZ, which the kernel fixes at 100 for userspace on every
/// architecture Fluent Bit ships for, whatever CONFIG_HZ it was built with;
/// reading `sysconf(_SC_CLK_TCK)` would need `unsafe` for no gain.
pub const CLOCK_TICKS_PER_SEC: u64 = 100;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessStats {
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    pub rss_bytes: u64,
    /// Wall-clock start of the process, when `/proc/stat` gave the boot time.
    pub start_unix_nano: Option<u64>,
}

/// `(utime + stime, starttime)` from `/proc/<pid>/stat`. The command name in
/// field 2 may hold spaces and parentheses, so fields are counted from the
/// last `)`.
pub fn parse_stat(text: &str) -> Option<(u64, u64)> {
    let after = &text[text.rfind(')')? + 1..];
    // After ')' the first field is field 3 (state); utime is field 14.
    let f: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    let start: u64 = f.get(19)?.parse().ok()?;
    Some((utime + stime, start))
}

/// `VmRSS` from `/proc/<pid>/status`, in bytes.
pub fn parse_vm_rss(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line["VmRSS:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Boot time (`btime`, Unix seconds) from `/proc/stat`.
pub fn parse_btime(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Reads the stats of the process whose `/proc` folder is `dir`, with
/// `proc_stat` the system-wide `/proc/stat`.
pub fn read_from(dir: &Path, proc_stat: &Path) -> Option<ProcessStats> {
    let (cpu_ticks, start_ticks) = parse_stat(&std::fs::read_to_string(dir.join("stat")).ok()?)?;
    let rss_bytes = std::fs::read_to_string(dir.join("status"))
        .ok()
        .and_then(|t| parse_vm_rss(&t))
        .unwrap_or(0);
    let start_unix_nano = std::fs::read_to_string(proc_stat)
        .ok()
        .and_then(|t| parse_btime(&t))
        .map(|btime| btime * 1_000_000_000 + start_ticks * (1_000_000_000 / CLOCK_TICKS_PER_SEC));
    Some(ProcessStats {
        cpu_ticks,
        rss_bytes,
        start_unix_nano,
    })
}

pub fn read_self() -> Option<ProcessStats> {
    read_from(Path::new("/proc/self"), Path::new("/proc/stat"))
}

/// Share of one core used between two readings, 1.0 = one core flat out.
pub fn cpu_cores_used(
    earlier: &ProcessStats,
    later: &ProcessStats,
    elapsed_secs: f64,
) -> Option<f64> {
    if elapsed_secs <= 0.0 || later.cpu_ticks < earlier.cpu_ticks {
        return None;
    }
    let secs = (later.cpu_ticks - earlier.cpu_ticks) as f64 / CLOCK_TICKS_PER_SEC as f64;
    Some(secs / elapsed_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_awkward_command_name() {
        let stat = "4242 (fluent (bit) x) S 1 4242 4242 0 -1 4194560 1 0 0 0 150 25 0 0 20 0 9 0 123456 1000 50 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((175, 123456)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn rss_and_btime() {
        assert_eq!(
            parse_vm_rss("Name:\tfb\nVmRSS:\t   2048 kB\n"),
            Some(2048 * 1024)
        );
        assert_eq!(
            parse_btime("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn real_proc_self_is_readable() {
        let s = read_self().expect("/proc/self readable on Linux");
        assert!(s.rss_bytes > 0);
        let start = s.start_unix_nano.expect("btime present");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert!(
            start <= now + 1_000_000_000,
            "start {start} after now {now}"
        );
    }

    #[test]
    fn cpu_share() {
        let a = ProcessStats {
            cpu_ticks: 100,
            ..Default::default()
        };
        let b = ProcessStats {
            cpu_ticks: 150,
            ..Default::default()
        };
        assert_eq!(cpu_cores_used(&a, &b, 1.0), Some(0.5));
        assert_eq!(cpu_cores_used(&b, &a, 1.0), None);
    }
}
