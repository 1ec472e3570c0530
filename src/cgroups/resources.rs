//! `linux.resources` -> cgroup files, for v1 and v2 controllers.
//!
//! Each controller is written where the host has it (a v1 hierarchy first,
//! else the unified one). A field whose controller the host lacks is skipped
//! with a warning, as runc does; a value the kernel rejects is an error
//! naming the file and the value.
//! Ref: OCI runtime-spec config-linux.md "Control groups"; kernel
//! Documentation/admin-guide/cgroup-v1/*.rst and cgroup-v2.rst.

use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxMemory, LinuxResources, LinuxThrottleDevice,
};

use super::files::{self, write};
use super::Manager;
use crate::error::{Error, Result};

/// Checks of `linux.resources` that need no host.
pub fn validate(r: &LinuxResources) -> Result<()> {
    if let Some(m) = r.memory() {
        if let Some(s) = m.swappiness() {
            if s > 100 {
                return Err(Error::invalid(format!(
                    "memory.swappiness {s} is out of range 0-100"
                )));
            }
        }
        if let (Some(l), Some(s)) = (m.limit(), m.swap()) {
            if l > 0 && s > 0 && s < l {
                return Err(Error::invalid(format!(
                    "memory.swap {s} is below memory.limit {l}; swap is the memory+swap total and must be at least the limit"
                )));
            }
        }
    }
    if let Some(c) = r.cpu() {
        for (name, v) in [("cpus", c.cpus()), ("mems", c.mems())] {
            if let Some(v) = v {
                check_list(v).map_err(|_| {
                    Error::invalid(format!("cpu.{name} {v:?} is not a list like 0-3,5"))
                })?;
            }
        }
        if let Some(q) = c.quota() {
            if q < -1 {
                return Err(Error::invalid(format!(
                    "cpu.quota {q} must be positive, or -1 for no limit"
                )));
            }
        }
    }
    if let Some(b) = r.block_io() {
        let weights = b.weight().into_iter().chain(b.leaf_weight()).chain(
            b.weight_device()
                .iter()
                .flatten()
                .flat_map(|d| d.weight().into_iter().chain(d.leaf_weight())),
        );
        for w in weights {
            if !(10..=1000).contains(&w) {
                return Err(Error::invalid(format!(
                    "blockIO weight {w} is out of range 10-1000"
                )));
            }
        }
    }
    for h in r.hugepage_limits().iter().flatten() {
        hugepage_size(h.page_size())?;
    }
    for d in r.devices().iter().flatten() {
        let access = d.access().as_deref().unwrap_or("");
        if access.chars().any(|c| !"rwm".contains(c)) {
            return Err(Error::invalid(format!(
                "device rule {d}: access {access:?} may only hold r, w and m"
            )));
        }
    }
    for k in r.unified().iter().flat_map(|u| u.keys()) {
        if k.contains('/') || k.starts_with('.') || !k.contains('.') || k.starts_with("cgroup.") {
            return Err(Error::invalid(format!(
                "unified key {k:?} is not a controller file name (like memory.high)"
            )));
        }
    }
    Ok(())
}

/// `0-3,5` lists for cpuset.cpus / cpuset.mems.
fn check_list(s: &str) -> std::result::Result<(), ()> {
    if s.trim().is_empty() {
        return Ok(());
    }
    for part in s.trim().split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b) = (
            a.parse::<u32>().map_err(|_| ())?,
            b.parse::<u32>().map_err(|_| ())?,
        );
        if a > b {
            return Err(());
        }
    }
    Ok(())
}

/// `2MB`, `1GB`, `64KB` as the kernel names them in hugetlb files.
fn hugepage_size(s: &str) -> Result<&str> {
    let num = s
        .strip_suffix("KB")
        .or_else(|| s.strip_suffix("MB"))
        .or_else(|| s.strip_suffix("GB"));
    match num {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => Ok(s),
        _ => Err(Error::invalid(format!(
            "hugepage size {s:?} is not like 2MB or 1GB"
        ))),
    }
}

pub fn set(m: &Manager, r: &LinuxResources) -> Result<()> {
    validate(r)?;
    if let Some(mem) = r.memory() {
        match m.dir_for("memory") {
            Some((d, false)) => memory_v1(d, mem)?,
            Some((d, true)) => memory_v2(d, mem)?,
            None => skip("memory"),
        }
    }
    if let Some(cpu) = r.cpu() {
        match m.dir_for("cpu") {
            Some((d, false)) => cpu_v1(d, cpu)?,
            Some((d, true)) => cpu_v2(d, cpu)?,
            None => skip("cpu"),
        }
        for (file, v) in [("cpuset.cpus", cpu.cpus()), ("cpuset.mems", cpu.mems())] {
            let Some(v) = v.as_deref().filter(|v| !v.is_empty()) else {
                continue;
            };
            match m.dir_for("cpuset") {
                Some((d, _)) => write(d, file, v)?,
                None => skip("cpuset"),
            }
        }
    }
    if let Some(p) = r.pids() {
        // runc: 0 leaves the limit alone, a negative one means no limit.
        if p.limit() != 0 {
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".into()
            };
            match m.dir_for("pids") {
                Some((d, _)) => write(d, "pids.max", &v)?,
                None => skip("pids"),
            }
        }
    }
    if let Some(b) = r.block_io() {
        match m.dir_for("blkio").or_else(|| m.dir_for("io")) {
            Some((d, false)) => blkio_v1(d, b)?,
            Some((d, true)) => io_v2(d, b)?,
            None => skip("blkio"),
        }
    }
    for h in r.hugepage_limits().iter().flatten() {
        let size = hugepage_size(h.page_size())?;
        match m.dir_for("hugetlb") {
            Some((d, false)) => write(
                d,
                &format!("hugetlb.{size}.limit_in_bytes"),
                &h.limit().to_string(),
            )?,
            Some((d, true)) => {
                let v = if h.limit() < 0 {
                    "max".to_string()
                } else {
                    h.limit().to_string()
                };
                write(d, &format!("hugetlb.{size}.max"), &v)?
            }
            None => skip("hugetlb"),
        }
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            match m.dir_for("net_cls") {
                Some((d, _)) => write(d, "net_cls.classid", &id.to_string())?,
                None => skip("net_cls"),
            }
        }
        for p in n.priorities().iter().flatten() {
            match m.dir_for("net_prio") {
                Some((d, _)) => write(
                    d,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                )?,
                None => skip("net_prio"),
            }
        }
    }
    for (dev, limit) in r.rdma().iter().flatten() {
        let mut v = dev.clone();
        if let Some(h) = limit.hca_handles() {
            v.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = limit.hca_objects() {
            v.push_str(&format!(" hca_object={o}"));
        }
        match m.dir_for("rdma") {
            Some((d, _)) => write(d, "rdma.max", &v)?,
            None => skip("rdma"),
        }
    }
    if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
        let Some(h) = m.unified() else {
            return Err(Error::invalid(
                "linux.resources.unified needs cgroup v2, and this host has only v1",
            ));
        };
        let mut keys: Vec<_> = u.iter().collect();
        keys.sort();
        for (k, v) in keys {
            if !h.dir.join(k).exists() {
                return Err(Error::invalid(format!(
                    "unified key {k:?}: {} does not exist (controller not enabled on this host's v2 hierarchy?)",
                    h.dir.join(k).display()
                )));
            }
            write(&h.dir, k, v)?;
        }
    }
    if let Some(devs) = r.devices() {
        match m.dir_for("devices") {
            Some((d, false)) => devices_v1(d, devs)?,
            _ => match m.unified() {
                // v2 has no devices files: the rules become an eBPF program.
                Some(_) => {
                    return Err(Error::invalid(
                        "device rules on cgroup v2 need an eBPF device program, which brig does not build yet",
                    ))
                }
                None => skip("devices"),
            },
        }
    }
    Ok(())
}

fn skip(controller: &str) {
    tracing::warn!(
        "cgroup controller {controller} is not available on this host; its limits are skipped"
    );
}

/// v1 memory. memsw (memory+swap) must stay >= the memory limit at every
/// step, so the order of the two writes depends on the current value.
/// Ref: runc libcontainer/cgroups/fs/memory.go setMemoryAndSwap.
fn memory_v1(d: &Path, mem: &LinuxMemory) -> Result<()> {
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

fn memory_v2(d: &Path, mem: &LinuxMemory) -> Result<()> {
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

fn cpu_v1(d: &Path, c: &LinuxCpu) -> Result<()> {
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
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        write(d, "cpu.rt_period_us", &p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
        write(d, "cpu.rt_runtime_us", &r.to_string())?;
    }
    if let Some(i) = c.idle() {
        write(d, "cpu.idle", &i.to_string())?;
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

fn cpu_v2(d: &Path, c: &LinuxCpu) -> Result<()> {
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

fn blkio_v1(d: &Path, b: &LinuxBlockIo) -> Result<()> {
    // Kernels without CFQ only have BFQ's files. Ref: runc fs/blkio.go.
    let bfq = !d.join("blkio.weight").exists() && d.join("blkio.bfq.weight").exists();
    let (weight, weight_device) = if bfq {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    } else {
        ("blkio.weight", "blkio.weight_device")
    };
    if let Some(w) = b.weight() {
        write(d, weight, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight() {
        write(d, "blkio.leaf_weight", &w.to_string())?;
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            write(
                d,
                weight_device,
                &format!("{}:{} {w}", wd.major(), wd.minor()),
            )?;
        }
        if let Some(w) = wd.leaf_weight() {
            write(
                d,
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", wd.major(), wd.minor()),
            )?;
        }
    }
    let throttles: [(&str, &Option<Vec<LinuxThrottleDevice>>); 4] = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, list) in throttles {
        for t in list.iter().flatten() {
            write(
                d,
                file,
                &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            )?;
        }
    }
    Ok(())
}

/// blkio weight (10-1000) -> io.weight (1-10000). Ref: runc ConvertBlkIOToIOWeightValue.
pub fn blkio_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).saturating_sub(10)) * 9999 / 990
}

fn io_v2(d: &Path, b: &LinuxBlockIo) -> Result<()> {
    let bfq = d.join("io.bfq.weight").exists();
    if let Some(w) = b.weight() {
        if bfq {
            write(d, "io.bfq.weight", &w.to_string())?;
        } else {
            write(
                d,
                "io.weight",
                &format!("default {}", blkio_to_io_weight(w)),
            )?;
        }
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            if bfq {
                write(
                    d,
                    "io.bfq.weight",
                    &format!("{}:{} {w}", wd.major(), wd.minor()),
                )?;
            } else {
                write(
                    d,
                    "io.weight",
                    &format!("{}:{} {}", wd.major(), wd.minor(), blkio_to_io_weight(w)),
                )?;
            }
        }
    }
    let throttles: [(&str, &Option<Vec<LinuxThrottleDevice>>); 4] = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in throttles {
        for t in list.iter().flatten() {
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            write(
                d,
                "io.max",
                &format!("{}:{} {key}={rate}", t.major(), t.minor()),
            )?;
        }
    }
    Ok(())
}

/// The line a v1 devices.allow/deny file takes: `c 1:3 rwm`, `a *:* rwm`.
pub fn device_rule(d: &LinuxDeviceCgroup) -> String {
    let access = d
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    let num = |n: Option<i64>| {
        n.filter(|n| *n >= 0)
            .map_or("*".to_string(), |n| n.to_string())
    };
    let typ = d.typ().unwrap_or_default();
    format!(
        "{} {}:{} {access}",
        typ.as_str(),
        num(d.major()),
        num(d.minor())
    )
}

/// v1 devices: deny everything, then apply the rules in order, so the
/// result is exactly the spec's list whatever was there before.
/// Ref: Documentation/admin-guide/cgroup-v1/devices.rst.
fn devices_v1(d: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    write(d, "devices.deny", "a")?;
    for r in rules {
        let file = if r.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write(d, file, &device_rule(r))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
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
        for (b, w) in [(0, 0), (10, 1), (500, 4950), (1000, 10000)] {
            assert_eq!(blkio_to_io_weight(b), w, "{b}");
        }
        assert_eq!(swap_v2(-1, None).unwrap(), "max");
        assert_eq!(swap_v2(300, Some(100)).unwrap(), "200");
        assert!(swap_v2(50, Some(100)).is_err());
        assert!(swap_v2(50, None).is_err());
    }

    #[test]
    fn device_rules() {
        let r: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":false,"access":"rwm"}"#).unwrap();
        assert_eq!(device_rule(&r), "a *:* rwm");
        let r: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}"#)
                .unwrap();
        assert_eq!(device_rule(&r), "c 1:3 rw");
        let r: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"b","major":8}"#).unwrap();
        assert_eq!(device_rule(&r), "b 8:* rwm");
    }

    #[test]
    fn validation() {
        let ok = [
            r#"{}"#,
            r#"{"memory":{"limit":100,"swap":200,"swappiness":60}}"#,
            r#"{"memory":{"limit":-1,"swap":-1}}"#,
            r#"{"cpu":{"cpus":"0-1,3","mems":"0","quota":-1}}"#,
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":0}]}"#,
            r#"{"unified":{"memory.high":"100"}}"#,
            r#"{"blockIO":{"weight":500}}"#,
        ];
        for j in ok {
            let r: LinuxResources = serde_json::from_str(j).unwrap();
            assert!(validate(&r).is_ok(), "{j}");
        }
        let bad = [
            r#"{"memory":{"swappiness":101}}"#,
            r#"{"memory":{"limit":200,"swap":100}}"#,
            r#"{"cpu":{"cpus":"0-a"}}"#,
            r#"{"cpu":{"cpus":"3-1"}}"#,
            r#"{"cpu":{"quota":-5}}"#,
            r#"{"hugepageLimits":[{"pageSize":"2M","limit":0}]}"#,
            r#"{"unified":{"../memory.max":"1"}}"#,
            r#"{"unified":{"cgroup.procs":"1"}}"#,
            r#"{"blockIO":{"weight":5}}"#,
            r#"{"devices":[{"allow":true,"access":"rwx"}]}"#,
        ];
        for j in bad {
            let r: LinuxResources = serde_json::from_str(j).unwrap();
            assert!(validate(&r).is_err(), "{j}");
        }
    }
}
