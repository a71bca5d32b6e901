//! How much memory this process can still allocate without swapping or
//! being killed: the least of the kernel's `MemAvailable`, the room left in
//! the process's memory cgroup (where SLURM and containers put their
//! limits), and the room left under its address-space and data limits
//! (`ulimit -v`, `ulimit -d`), read on Linux; and the budget the user sets
//! in [`LIMIT_VAR`], on any system.

use std::fs::read_to_string;
use std::path::Path;

use crate::error::{Result, invalid};

/// Environment variable: bytes that ntk_rs may count on, at most (a budget
/// on a shared machine, or for tests).
pub const LIMIT_VAR: &str = "NTK_RS_MEMORY_LIMIT";

/// Bytes this process can still allocate, or `None` where unknown.
pub fn available() -> Result<Option<u64>> {
    let budget = match std::env::var(LIMIT_VAR) {
        Ok(v) => Some(v.trim().parse::<u64>().map_err(|_| {
            invalid!("{LIMIT_VAR} must be a number of bytes (a non-negative integer), got {v:?}")
        })?),
        Err(_) => None,
    };
    let free =
        read_to_string("/proc/meminfo").ok().and_then(|m| field(&m, "MemAvailable:")).map(|kib| kib * 1024);
    let rooms = [
        free,
        cgroup_room(),
        limit_room("Max address space", "VmSize:"),
        limit_room("Max data size", "VmData:"),
    ];
    Ok(rooms.into_iter().chain([budget]).flatten().min())
}

/// The number after `name` in a `/proc` status-style text (`name  123 kB`).
fn field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// The soft resource limit `limit` of `/proc/self/limits` minus the
/// process's current `usage` (a `/proc/self/status` field in KiB); `None`
/// without a limit.
fn limit_room(limit: &str, usage: &str) -> Option<u64> {
    let limits = read_to_string("/proc/self/limits").ok()?;
    let soft: u64 = limits.lines().find(|l| l.starts_with(limit))?[limit.len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?; // "unlimited" does not parse
    let used = field(&read_to_string("/proc/self/status").ok()?, usage)? * 1024;
    Some(soft.saturating_sub(used))
}

/// Limit minus usage of this process's memory cgroup, not counting file
/// cache (reclaimable, and large after writing a memmap); `None` without a
/// limit.
fn cgroup_room() -> Option<u64> {
    let cgroups = read_to_string("/proc/self/cgroup").ok()?;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let (root, files) = if controllers.is_empty() {
            ("/sys/fs/cgroup", ["memory.max", "memory.current", "file"])
        } else if controllers.split(',').any(|c| c == "memory") {
            ("/sys/fs/cgroup/memory", ["memory.limit_in_bytes", "memory.usage_in_bytes", "total_cache"])
        } else {
            continue;
        };
        for dir in [Path::new(root).join(path.trim_start_matches('/')), Path::new(root).to_path_buf()] {
            let read = |f: &str| read_to_string(dir.join(f)).ok();
            let (Some(limit), Some(usage), Some(stat)) =
                (read(files[0]), read(files[1]), read("memory.stat"))
            else {
                continue;
            };
            // "max" (v2) or a huge number (v1's "unlimited"): no limit.
            let limit: u64 = limit.trim().parse().ok().filter(|&l| l < 1 << 60)?;
            let usage: u64 = usage.trim().parse().ok()?;
            let cache = stat
                .lines()
                .find_map(|l| l.strip_prefix(files[2]).and_then(|rest| rest.trim().parse::<u64>().ok()))
                .unwrap_or(0);
            return Some((limit + cache).saturating_sub(usage));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read() {
        let text = "MemTotal:  100 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(field(text, "MemAvailable:"), Some(2048));
        assert_eq!(field(text, "VmSize:"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_reports_some_memory() {
        let free = available().unwrap().expect("Linux has /proc/meminfo");
        assert!(free > 0);
    }
}
