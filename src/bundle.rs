//! Reading a bundle: config.json into oci-spec types, and the root path.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Capability, LinuxResources, Process, Spec};
use serde_json::Value;

use crate::error::{Error, IoResultExt, Result};

mod go_keys;

pub struct Bundle {
    /// Absolute path of the bundle directory.
    pub dir: PathBuf,
    pub spec: Spec,
    /// Canonical absolute path of root.path.
    pub rootfs: PathBuf,
}

impl Bundle {
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::fs::canonicalize(dir).or_io(|| format!("bundle {}", dir.display()))?;
        let path = dir.join("config.json");
        let data = std::fs::read(&path).or_io(|| format!("read {}", path.display()))?;
        let spec = parse_spec(&data, &path)?;
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| Error::invalid(format!("{}: root is missing", path.display())))?;
        let rootfs = if root.path().is_absolute() {
            root.path().clone()
        } else {
            dir.join(root.path())
        };
        let given = Path::new("/").join(crate::linux::inroot::clean_relative(&rootfs));
        let rootfs = std::fs::canonicalize(&rootfs)
            .or_io(|| format!("root filesystem {}", rootfs.display()))?;
        // A symlink anywhere in root.path is refused, as runc does: the
        // rootfs is the one path brig trusts as the host gives it.
        if rootfs != given {
            return Err(Error::invalid(format!(
                "root.path {}: invalid rootfs: not an absolute path, or a symlink (it resolves to {})",
                root.path().display(),
                rootfs.display()
            )));
        }
        if !rootfs.is_dir() {
            return Err(Error::invalid(format!(
                "root filesystem {} is not a directory",
                rootfs.display()
            )));
        }
        let mut spec = spec;
        normalize_mounts(&mut spec, &dir, &rootfs);
        Ok(Bundle { dir, spec, rootfs })
    }
}

/// Mount paths as runc reads them, which works in the bundle directory:
/// a relative bind source is relative to the bundle; a destination spelled
/// as a host path inside the rootfs (`/bundle/rootfs/mnt`) is the
/// container path (`/mnt`). Configs written against runc use both forms.
fn normalize_mounts(spec: &mut Spec, bundle: &Path, rootfs: &Path) {
    let Some(mounts) = spec.mounts_mut() else {
        return;
    };
    for m in mounts.iter_mut() {
        if let Ok(inner) = m.destination().strip_prefix(rootfs) {
            let inner = Path::new("/").join(inner);
            m.set_destination(inner);
        } else if m.destination().is_relative() {
            // Allowed by runtime-spec 1.0; runc reads it from the root.
            tracing::warn!(
                "mount destination {:?} is relative: taken as /{}",
                m.destination(),
                m.destination().display()
            );
            let abs = Path::new("/").join(m.destination());
            m.set_destination(abs);
        }
        if crate::linux::rootfs::is_bind_mount(m) {
            if let Some(src) = m.source().as_ref().filter(|s| s.is_relative()) {
                let src = bundle.join(src);
                m.set_source(Some(src));
            }
        }
    }
}

/// config.json's text as a Spec; capability names the kernel headers brig
/// knows nothing of are dropped with a warning, as runc does (a newer
/// orchestrator may name a capability this kernel and brig predate). A
/// `process` without `user` runs as uid 0, gid 0, as runc reads it
/// (oci-spec would refuse it).
pub fn parse_spec(data: &[u8], path: &Path) -> Result<Spec> {
    let mut spec: Spec = parse_with(data, path, |v| {
        if let Some(m) = v.pointer("/linux/memoryPolicy") {
            crate::linux::mempolicy::check_json(m)?;
        }
        if let Some(p) = v.get_mut("process") {
            drop_unknown_capabilities(p);
            default_user(p);
            spec_scheduler_flags(p);
            exec_cpu_affinity_lists(p)?;
        }
        Ok(())
    })?;
    if let Some(r) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.resources_mut().as_mut())
    {
        drop_pids_without_limit(r, data, "/linux/resources");
    }
    Ok(spec)
}

/// runtime-spec 1.2.1 made `pids.limit` optional, and runc 1.2+ reads an
/// absent limit as "leave pids.max alone" but 0 as 1; oci-spec reads an
/// absent limit as 0. So a `pids` without `limit` is dropped here, and a
/// 0 is only ever a 0 that was written. `at` is the JSON pointer of the
/// resources object in `data`, read only when the parsed limit is 0.
pub fn drop_pids_without_limit(r: &mut LinuxResources, data: &[u8], at: &str) {
    if r.pids().is_none_or(|p| p.limit() != 0) {
        return;
    }
    let written = serde_json::from_slice::<Value>(data)
        .ok()
        .and_then(|v| go_keys::pointer(&v, &format!("{at}/pids/limit")).cloned())
        .is_some_and(|l| !l.is_null());
    if !written {
        r.set_pids(None);
    }
}

/// An OCI `process` object (`exec --process`), as [`parse_spec`] does.
pub fn parse_process(data: &[u8], path: &Path) -> Result<Process> {
    parse_with(data, path, |p| {
        drop_unknown_capabilities(p);
        default_user(p);
        spec_scheduler_flags(p);
        exec_cpu_affinity_lists(p)
    })
}

/// JSON text into `T` as runc's Go decoder reads it: object keys in any
/// case (`go_keys`). For what runc reads with encoding/json besides
/// config.json (`update -r`).
pub fn from_json_as_runc<T: serde::de::DeserializeOwned>(data: &[u8]) -> serde_json::Result<T> {
    let v: Value = serde_json::from_slice(data)?;
    go_keys::from_value(&v)
}

/// Into `T` with object keys matched as runc matches them (`go_keys`);
/// only a text that does not read as `T` goes through `mend` (runc's
/// leniency: unknown capability names, a missing user; names oci-spec
/// spells otherwise; runc's words for what is still refused), then once
/// more into `T`. `mend` finds keys as the spec spells them.
fn parse_with<T: serde::de::DeserializeOwned>(
    data: &[u8],
    path: &Path,
    mend: impl FnOnce(&mut Value) -> Result<()>,
) -> Result<T> {
    let what = || format!("parse {}", path.display());
    let mut v: Value = serde_json::from_slice(data).map_err(|e| Error::json(what(), e))?;
    if let Ok(t) = go_keys::from_value(&v) {
        return Ok(t);
    }
    mend(&mut v)?;
    go_keys::from_value(&v).map_err(|e| Error::json(what(), e))
}

fn default_user(process: &mut Value) {
    if let Some(o) = process.as_object_mut() {
        o.entry("user").or_insert_with(|| serde_json::json!({}));
    }
}

/// `process.scheduler.flags` as the runtime-spec names them, in oci-spec
/// 0.10's spelling: its enum derives the names from the variants and
/// gets two wrong (SCHED_FLAG_RESET_ON_FORK reads as SCHED_RESET_ON_FORK,
/// SCHED_FLAG_DL_OVERRUN as SCHED_FLAG_D_L_OVERRUN). state.json keeps
/// oci-spec's spelling, which reads back as it is.
fn spec_scheduler_flags(process: &mut Value) {
    let Some(flags) = process
        .pointer_mut("/scheduler/flags")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for f in flags {
        let ours = match f.as_str() {
            Some("SCHED_FLAG_RESET_ON_FORK") => "SCHED_RESET_ON_FORK",
            Some("SCHED_FLAG_DL_OVERRUN") => "SCHED_FLAG_D_L_OVERRUN",
            _ => continue,
        };
        *f = Value::String(ours.into());
    }
}

/// `process.execCPUAffinity`'s lists as runc reads them: oci-spec takes
/// only the plain form ("0-3,7"), runc also spaces and empty elements
/// (" 1, 3,"), and an empty list as none. Rewritten to the plain form;
/// a list runc refuses is refused in its words.
fn exec_cpu_affinity_lists(process: &mut Value) -> Result<()> {
    let Some(aff) = process
        .get_mut("execCPUAffinity")
        .and_then(Value::as_object_mut)
    else {
        return Ok(());
    };
    for (key, which) in [("initial", "Initial"), ("final", "Final")] {
        let Some(list) = aff.get(key).and_then(Value::as_str) else {
            continue;
        };
        match crate::linux::affinity::canonical_list(list) {
            Ok(Some(plain)) => aff.insert(key.into(), Value::String(plain)),
            Ok(None) => aff.remove(key),
            Err(e) => return Err(Error::invalid(format!("bad CPUAffinity.{which}: {e}"))),
        };
    }
    Ok(())
}

/// "CAP_NET_ADMIN" (or "NET_ADMIN", any case) as oci-spec's type.
pub fn capability(name: &str) -> Option<Capability> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    serde_json::from_value(Value::String(full)).ok()
}

fn drop_unknown_capabilities(process: &mut Value) {
    let Some(caps) = process
        .get_mut("capabilities")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (set, names) in caps.iter_mut() {
        let Some(names) = names.as_array_mut() else {
            continue;
        };
        names.retain(|n| {
            let known = n.as_str().and_then(capability).is_some();
            if !known {
                tracing::warn!("process.capabilities.{set}: unknown capability {n}, ignored");
            }
            known
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_another_case_fill_their_fields() {
        let spec = parse_spec(
            br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
                "linux":{"resources":{"hugepageLimits":[{"pagesize":"2MB","limit":2097152}]},
                         "sysctl":{"net.ipv4.IP_forward":"1"}}}"#,
            Path::new("config.json"),
        )
        .unwrap();
        let linux = spec.linux().as_ref().unwrap();
        let limits = linux.resources().as_ref().unwrap().hugepage_limits();
        assert_eq!(limits.as_ref().unwrap()[0].page_size(), "2MB");
        // A map's keys are data, kept as written.
        let sysctl = linux.sysctl().as_ref().unwrap();
        assert!(sysctl.contains_key("net.ipv4.IP_forward"), "{sysctl:?}");
    }

    #[test]
    fn unknown_capabilities_are_dropped() {
        let spec = parse_spec(
            br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","user":{"uid":0,"gid":0},
                "capabilities":{"bounding":["CAP_CHOWN","CAP_UNKNOWN","UNKNOWN_CAP"],"ambient":[]}}}"#,
            Path::new("config.json"),
        )
        .unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
        assert!(caps.ambient().as_ref().unwrap().is_empty());
        assert!(parse_spec(b"{", Path::new("c")).is_err());
        assert_eq!(capability("net_admin"), Some(Capability::NetAdmin));
        assert_eq!(capability("CAP_NOPE"), None);
    }

    #[test]
    fn scheduler_flags_by_their_spec_names() {
        use oci_spec::runtime::LinuxSchedulerFlag as F;
        let at = Path::new("process.json");
        let p = parse_process(
            br#"{"args":["sh"],"cwd":"/","scheduler":{"policy":"SCHED_DEADLINE",
                "flags":["SCHED_FLAG_RESET_ON_FORK","SCHED_FLAG_DL_OVERRUN","SCHED_FLAG_RECLAIM",
                "SCHED_FLAG_KEEP_POLICY","SCHED_FLAG_KEEP_PARAMS","SCHED_FLAG_UTIL_CLAMP_MIN",
                "SCHED_FLAG_UTIL_CLAMP_MAX"]}}"#,
            at,
        )
        .unwrap();
        let flags = p.scheduler().as_ref().unwrap().flags().clone().unwrap();
        assert_eq!(
            flags,
            [
                F::SchedResetOnFork,
                F::SchedFlagDLOverrun,
                F::SchedFlagReclaim,
                F::SchedFlagKeepPolicy,
                F::SchedFlagKeepParams,
                F::SchedFlagUtilClampMin,
                F::SchedFlagUtilClampMax
            ]
        );
        // What brig writes to state.json reads back.
        let again: Process = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(again, p);
        let e = parse_process(
            br#"{"args":["sh"],"cwd":"/","scheduler":{"policy":"SCHED_OTHER","flags":["SCHED_FLAG_NOPE"]}}"#,
            at,
        );
        assert!(e.is_err());
    }

    #[test]
    fn memory_policy_names_refused_in_runcs_words() {
        let at = Path::new("config.json");
        let spec = |mp: &str| {
            format!(
                r#"{{"ociVersion":"1.3.0","process":{{"args":["sh"],"cwd":"/"}},"linux":{{"memoryPolicy":{mp}}}}}"#
            )
        };
        for (mp, want) in [
            ("{}", "invalid memory policy mode \"\""),
            (
                r#"{"mode":"INTERLEAVE"}"#,
                "invalid memory policy mode \"INTERLEAVE\"",
            ),
            (
                r#"{"mode":"MPOL_BIND","nodes":"0","flags":["badflag"]}"#,
                "invalid memory policy flag \"badflag\"",
            ),
        ] {
            let e = parse_spec(spec(mp).as_bytes(), at).unwrap_err().chain();
            assert!(e.contains(want), "{mp}: {e}");
        }
        let s = parse_spec(spec(r#"{"mode":"MPOL_BIND","nodes":"0"}"#).as_bytes(), at).unwrap();
        assert!(s.linux().as_ref().unwrap().memory_policy().is_some());
    }

    #[test]
    fn process_user_defaults_to_root() {
        let at = Path::new("process.json");
        let p = parse_process(br#"{"args": ["/bin/env"], "cwd": "/"}"#, at).unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
        assert!(p.user().additional_gids().is_none());
        let p = parse_process(br#"{"args": ["id"], "cwd": "/", "user": {"uid": 5}}"#, at).unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (5, 0));
        let s = parse_spec(
            br#"{"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}}"#,
            at,
        )
        .unwrap();
        assert_eq!(s.process().as_ref().unwrap().user().uid(), 0);
        // Still refused: what runc refuses too.
        assert!(
            parse_process(br#"{"args": ["id"], "user": {}}"#, at).is_err(),
            "no cwd"
        );
        assert!(parse_process(b"[]", at).is_err());
    }

    #[test]
    fn exec_cpu_affinity_as_runc_reads_it() {
        let at = Path::new("process.json");
        let read = |aff: &str| {
            let text = format!(r#"{{"args":["true"],"cwd":"/","execCPUAffinity":{aff}}}"#);
            parse_process(text.as_bytes(), at).map(|p| {
                let a = p.exec_cpu_affinity().clone().unwrap();
                (a.initial().clone(), a.cpu_affinity_final().clone())
            })
        };
        let s = |v: &str| Some(v.to_string());
        for (aff, want) in [
            (r#"{"initial":"0-3,7"}"#, Ok((s("0-3,7"), None))),
            (r#"{"initial":"1","final":"0"}"#, Ok((s("1"), s("0")))),
            (r#"{"initial":" 1, 0,","final":""}"#, Ok((s("0-1"), None))),
            (r#"{"initial":"", "final":"2,3"}"#, Ok((None, s("2-3")))),
            (
                r#"{"initial":"x"}"#,
                Err("bad CPUAffinity.Initial: \"x\" is not a number"),
            ),
            (r#"{"final":","}"#, Err("bad CPUAffinity.Final: no members")),
            (r#"{"initial":"3-1"}"#, Err("invalid range: 3-1")),
        ] {
            match (read(aff), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, w, "{aff}"),
                (Err(e), Err(w)) => assert!(e.chain().contains(w), "{aff}: {}", e.chain()),
                (r, w) => panic!("{aff}: got {r:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn pids_without_limit_is_no_pids() {
        let at = Path::new("config.json");
        let pids = |r: &str| {
            let text = format!(r#"{{"ociVersion": "1.2.1", "linux": {{"resources": {r}}}}}"#);
            let s = parse_spec(text.as_bytes(), at).unwrap();
            let r = s.linux().as_ref().unwrap().resources().clone().unwrap();
            r.pids().map(|p| p.limit())
        };
        for (r, want) in [
            (r#"{"pids": {}}"#, None),
            (r#"{"pids": {"limit": 0}}"#, Some(0)),
            (r#"{"pids": {"limit": -1}}"#, Some(-1)),
            (r#"{"pids": {"limit": 5}}"#, Some(5)),
            (r#"{}"#, None),
        ] {
            assert_eq!(pids(r), want, "{r}");
        }
    }
}
