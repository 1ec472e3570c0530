//! cpu: v1 cpu.shares/cfs_*/rt_*, v2 cpu.weight/cpu.max.

use std::path::Path;

use nix::errno::Errno;
use oci_spec::runtime::LinuxCpu;

use crate::cgroups::files::write;
use crate::error::{Error, Result};

pub(super) fn cpu_v1(d: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        write(d, "cpu.shares", &s.to_string())?;
    }
    // The kernel checks quota against period on each write, so a failing
    // period is retried after the quota. Ref: runc fs/cpu.go.
    let mut period_failed = None;
    if let Some(p) = c.period().filter(|p| *p != 0) {
        if let Err(e) = write(d, "cpu.cfs_period_us", &p.to_string()) {
            period_failed = Some((p, e));
        }
    }
    if let Some(q) = c.quota().filter(|q| *q != 0) {
        write(d, "cpu.cfs_quota_us", &q.to_string())?;
    }
    if let Some((p, e)) = period_failed {
        write(d, "cpu.cfs_period_us", &p.to_string()).map_err(|_| e)?;
    }
    if let Some(b) = c.burst() {
        write(d, "cpu.cfs_burst_us", &b.to_string())?;
    }
    rt_v1(d, c)?;
    if let Some(i) = c.idle() {
        write(d, "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

/// The kernel checks the runtime against the period on each write, so a
/// period it refuses (EINVAL: shorter than the runtime in place) while a
/// runtime is being set too is written again after the runtime, as runc
/// does (runc#4094: period 900001/runtime 600001 -> 10000/3000).
/// Ref: runc fs/cpu.go SetRtSched; kernel sched-rt-group.rst.
fn rt_v1(d: &Path, c: &LinuxCpu) -> Result<()> {
    let runtime = c.realtime_runtime().filter(|r| *r != 0);
    let mut period_later = None;
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        match write(d, "cpu.rt_period_us", &p.to_string()) {
            Err(e) if runtime.is_some() && e.errno() == Some(Errno::EINVAL) => {
                period_later = Some(p);
            }
            r => r?,
        }
    }
    if let Some(r) = runtime {
        write(d, "cpu.rt_runtime_us", &r.to_string())?;
    }
    if let Some(p) = period_later {
        write(d, "cpu.rt_period_us", &p.to_string())?;
    }
    Ok(())
}

/// cpu.shares (2-262144) -> cpu.weight (1-10000). Ref: runc ConvertCPUSharesToCgroupV2Value.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262144) - 2) * 9999 / 262142
}

pub(super) fn cpu_v2(d: &Path, c: &LinuxCpu) -> Result<()> {
    if c.realtime_period().is_some_and(|p| p != 0) || c.realtime_runtime().is_some_and(|r| r != 0) {
        return Err(Error::invalid(
            "cpu.realtimePeriod/realtimeRuntime are not supported on cgroup v2",
        ));
    }
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        write(d, "cpu.weight", &shares_to_weight(s).to_string())?;
    }
    if c.quota().is_some() || c.period().is_some() {
        let quota = match c.quota() {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".into(),
        };
        let v = match c.period().filter(|p| *p != 0) {
            Some(p) => format!("{quota} {p}"),
            None => quota,
        };
        write(d, "cpu.max", &v)?;
    }
    if let Some(b) = c.burst() {
        write(d, "cpu.max.burst", &b.to_string())?;
    }
    if let Some(i) = c.idle() {
        write(d, "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_conversion() {
        for (s, w) in [
            (0, 0),
            (2, 1),
            (1024, 39),
            (262144, 10000),
            (1, 1),
            (1 << 30, 10000),
        ] {
            assert_eq!(shares_to_weight(s), w, "{s}");
        }
    }
}
