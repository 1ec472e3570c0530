//! `linux.resources` -> cgroup files, for v1 and v2 controllers.
//!
//! Each controller is written where the host has it (a v1 hierarchy first,
//! else the unified one). A field whose controller the host lacks is skipped
//! with a warning, as runc does; a value the kernel rejects is an error
//! naming the file and the value.
//! Ref: OCI runtime-spec config-linux.md "Control groups"; kernel
//! Documentation/admin-guide/cgroup-v1/*.rst and cgroup-v2.rst.

mod blkio;
mod cpu;
mod memory;

use oci_spec::runtime::LinuxResources;

use super::devices::devices_v1;
use super::files::write;
use super::{v2_devices, Manager};
use crate::error::{Error, Result};
pub(super) use blkio::blkio_to_io_weight;
use blkio::{blkio_v1, io_v2};
pub(super) use cpu::shares_to_weight;
use cpu::{cpu_v1, cpu_v2};
use memory::{memory_v1, memory_v2};

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
        // 0 is "not set" (see blkio::given).
        for w in weights.filter(|w| *w != 0) {
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
        // Letters other than r, w and m are ignored, as runc does ("rwa"
        // is seen in the wild); a rule with none of the three is an error.
        let access = d.access().as_deref().unwrap_or("");
        if !access.is_empty() && !access.chars().any(|c| "rwm".contains(c)) {
            return Err(Error::invalid(format!(
                "device rule {d}: access {access:?} holds none of r, w and m"
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
            None => missing("memory")?,
        }
    }
    if let Some(cpu) = r.cpu() {
        match m.dir_for("cpu") {
            Some((d, false)) => cpu_v1(d, cpu)?,
            Some((d, true)) => cpu_v2(d, cpu)?,
            None => missing("cpu")?,
        }
        for (file, v) in [("cpuset.cpus", cpu.cpus()), ("cpuset.mems", cpu.mems())] {
            let Some(v) = v.as_deref().filter(|v| !v.is_empty()) else {
                continue;
            };
            match m.dir_for("cpuset") {
                Some((d, _)) => write(d, file, v)?,
                None => missing("cpuset")?,
            }
        }
    }
    if let Some(p) = r.pids() {
        let v = pids_max(p.limit()).map_or_else(|| "max".into(), |n| n.to_string());
        match m.dir_for("pids") {
            Some((d, _)) => write(d, "pids.max", &v)?,
            None => missing("pids")?,
        }
    }
    if let Some(b) = r.block_io() {
        match m.dir_for("blkio").or_else(|| m.dir_for("io")) {
            Some((d, false)) => blkio_v1(d, b)?,
            Some((d, true)) => io_v2(d, b)?,
            None => missing("blkio")?,
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
            None => missing("hugetlb")?,
        }
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            match m.dir_for("net_cls") {
                Some((d, _)) => write(d, "net_cls.classid", &id.to_string())?,
                None => missing("net_cls")?,
            }
        }
        for p in n.priorities().iter().flatten() {
            match m.dir_for("net_prio") {
                Some((d, _)) => write(
                    d,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                )?,
                None => missing("net_prio")?,
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
            None => missing("rdma")?,
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
        // Rootless: the device rules cannot be installed (a v1 devices
        // cgroup is root's, a v2 device program needs CAP_BPF on the
        // host) and are not what confines devices there: in a user
        // namespace the container reaches only the host nodes it is given,
        // with the user's own permissions. runc ignores their errors
        // likewise (fs2.Set, fs.Set: "not expected to work").
        if crate::rootless::is_rootless() {
            if let Err(e) = devices(m, devs) {
                tracing::debug!("rootless: device rules not applied: {}", e.chain());
            }
            return Ok(());
        }
        devices(m, devs)?;
    }
    Ok(())
}

/// The device rules: the v1 devices controller, else a v2 device program.
fn devices(m: &Manager, devs: &[oci_spec::runtime::LinuxDeviceCgroup]) -> Result<()> {
    match m.dir_for("devices") {
        Some((d, false)) => devices_v1(d, devs),
        // v2 has no devices files: the rules become an eBPF program.
        // Never skipped as root: dropping device rules would allow every
        // device.
        _ => match m.unified() {
            Some(h) => v2_devices::apply(&h.dir, devs),
            None => Err(Error::invalid(
                "device rules given, but this host has neither a v1 devices controller nor cgroup v2",
            )),
        },
    }
}

/// A limit whose controller this cgroup view lacks. The host lacking it
/// (the kernel has it in no hierarchy: net_cls unmounted on a v1 host, a
/// controller a v2 host does not offer) is an error, as runc makes it: a
/// limit the config asks for is never dropped. A controller bound to a v1
/// hierarchy outside this view (a systemd node on a cgroup2 subtree of a
/// hybrid host) cannot be reached from here at all: that is warned about.
/// `pids.limit` as runc 1.2+ reads it: a negative limit is no limit
/// (None); 0 is 1, because systemd refuses TasksMax=0 and the cgroupfs
/// driver maps it the same way so that the two drivers agree. (An absent
/// `limit` leaves pids.max alone: [`crate::bundle`] drops such a `pids`.)
/// Ref: opencontainers/cgroups fs/pids.go, systemd/v1.go.
pub(super) fn pids_max(limit: i64) -> Option<u64> {
    match limit {
        ..0 => None,
        0 => Some(1),
        n => Some(n as u64),
    }
}

pub(super) fn missing(controller: &str) -> Result<()> {
    let proc_cgroups = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    if bound_to_v1_elsewhere(&proc_cgroups, controller) {
        tracing::warn!(
            "cgroup controller {controller} is bound to a cgroup v1 hierarchy this view does not show; its limits are skipped"
        );
        return Ok(());
    }
    Err(Error::invalid(format!(
        "cannot apply the {controller} limits: this host has no {controller} cgroup controller"
    )))
}

/// /proc/cgroups: is `controller` attached to a v1 hierarchy (id != 0)?
fn bound_to_v1_elsewhere(proc_cgroups: &str, controller: &str) -> bool {
    proc_cgroups.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() >= 4 && f[0] == controller && f[1] != "0" && f[3] == "1"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_limit_zero_means_one() {
        for (limit, want) in [
            (-1, None),
            (-7, None),
            (0, Some(1)),
            (1, Some(1)),
            (20, Some(20)),
        ] {
            assert_eq!(pids_max(limit), want, "{limit}");
        }
    }

    #[test]
    fn controller_bound_elsewhere_or_missing() {
        let text = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t1\t4\t1\nnet_cls\t0\t7\t1\nmemory\t4\t8\t0\n";
        assert!(bound_to_v1_elsewhere(text, "cpu"));
        assert!(!bound_to_v1_elsewhere(text, "net_cls"), "mounted nowhere");
        assert!(!bound_to_v1_elsewhere(text, "memory"), "disabled");
        assert!(
            !bound_to_v1_elsewhere(text, "rdma"),
            "unknown to the kernel"
        );
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
            // What Docker sends without --blkio-weight.
            r#"{"blockIO":{"weight":0,"leafWeight":0,"weightDevice":[{"major":8,"minor":0,"weight":0}]}}"#,
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
            r#"{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":1001}]}}"#,
            r#"{"devices":[{"allow":true,"access":"x"}]}"#,
        ];
        for j in bad {
            let r: LinuxResources = serde_json::from_str(j).unwrap();
            assert!(validate(&r).is_err(), "{j}");
        }
    }
}
