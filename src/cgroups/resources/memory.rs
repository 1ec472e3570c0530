//! memory: v1 memory.* files and v2 memory.max/low/swap.max.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::cgroups::files::{self, write};
use crate::error::{Error, Result};

/// v1 memory. memsw (memory+swap) must stay >= the memory limit at every
/// step, so the order of the two writes depends on the current value.
/// Ref: runc libcontainer/cgroups/fs/memory.go setMemoryAndSwap.
pub(super) fn memory_v1(d: &Path, mem: &LinuxMemory) -> Result<()> {
    let limit = mem.limit();
    let mut swap = mem.swap();
    if limit == Some(-1) && swap.is_none() {
        swap = Some(-1);
    }
    let has_memsw = d.join("memory.memsw.limit_in_bytes").exists();
    if mem.check_before_update() == Some(true) {
        check_not_below_usage(d, "memory.usage_in_bytes", limit)?;
    }
    let set_mem = |v: i64| write(d, "memory.limit_in_bytes", &v.to_string());
    let set_swap = |v: i64| {
        if has_memsw {
            write(d, "memory.memsw.limit_in_bytes", &v.to_string())
        } else {
            tracing::warn!("swap accounting is off on this host; memory.swap is skipped");
            Ok(())
        }
    };
    match (limit, swap) {
        (Some(l), Some(s)) => {
            let cur = files::read_u64(d, "memory.limit_in_bytes").unwrap_or(0);
            if s == -1 || cur < s as u64 {
                set_swap(s)?;
                set_mem(l)?;
            } else {
                set_mem(l)?;
                set_swap(s)?;
            }
        }
        (Some(l), None) => set_mem(l)?,
        (None, Some(s)) => set_swap(s)?,
        (None, None) => {}
    }
    if let Some(r) = mem.reservation() {
        write(d, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    #[allow(deprecated)]
    let kernel = mem.kernel();
    if let Some(k) = kernel {
        // Kernel memory limits are gone from kernels >= 5.16 (the file may
        // stay, but writes fail); runc ignores the field too.
        tracing::warn!("memory.kernel {k} is ignored: kernel memory limits are obsolete");
    }
    if let Some(k) = mem.kernel_tcp() {
        write(d, "memory.kmem.tcp.limit_in_bytes", &k.to_string())?;
    }
    if let Some(s) = mem.swappiness() {
        write(d, "memory.swappiness", &s.to_string())?;
    }
    if let Some(off) = mem.disable_oom_killer() {
        write(d, "memory.oom_control", if off { "1" } else { "0" })?;
    }
    if let Some(h) = mem.use_hierarchy() {
        write(d, "memory.use_hierarchy", if h { "1" } else { "0" })?;
    }
    Ok(())
}

fn check_not_below_usage(d: &Path, usage_file: &str, limit: Option<i64>) -> Result<()> {
    if let (Some(l), Some(u)) = (limit.filter(|l| *l > 0), files::read_u64(d, usage_file)) {
        if (l as u64) < u {
            return Err(Error::invalid(format!(
                "memory limit {l} is below the current usage {u} of {}; refused (checkBeforeUpdate)",
                d.display()
            )));
        }
    }
    Ok(())
}

/// OCI memory.swap (memory+swap) -> v2 memory.swap.max (swap alone).
/// Ref: runc libcontainer/cgroups/utils.go ConvertMemorySwapToCgroupV2Value.
pub fn swap_v2(swap: i64, limit: Option<i64>) -> Result<String> {
    if swap == -1 {
        return Ok("max".into());
    }
    match limit {
        None | Some(0) | Some(-1) => Err(Error::invalid(format!(
            "memory.swap {swap} needs a memory.limit on cgroup v2 (swap.max = swap - limit)"
        ))),
        Some(l) if swap < l => Err(Error::invalid(format!(
            "memory.swap {swap} is below memory.limit {l}"
        ))),
        Some(l) => Ok((swap - l).to_string()),
    }
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

pub(super) fn memory_v2(d: &Path, mem: &LinuxMemory) -> Result<()> {
    if mem.check_before_update() == Some(true) {
        check_not_below_usage(d, "memory.current", mem.limit())?;
    }
    if let Some(s) = mem.swap() {
        write(d, "memory.swap.max", &swap_v2(s, mem.limit())?)?;
    }
    if let Some(l) = mem.limit() {
        write(d, "memory.max", &max_or(l))?;
    }
    if let Some(r) = mem.reservation() {
        write(d, "memory.low", &max_or(r))?;
    }
    if mem.swappiness().is_some()
        || mem.kernel_tcp().is_some()
        || mem.disable_oom_killer() == Some(true)
    {
        tracing::warn!(
            "memory swappiness, kernelTCP and disableOOMKiller have no cgroup v2 file; skipped"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_conversion() {
        assert_eq!(swap_v2(-1, None).unwrap(), "max");
        assert_eq!(swap_v2(300, Some(100)).unwrap(), "200");
        assert!(swap_v2(50, Some(100)).is_err());
        assert!(swap_v2(50, None).is_err());
    }
}
