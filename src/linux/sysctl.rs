//! `linux.sysctl`: only namespaced sysctls, and only when the container
//! really has its own namespace of that kind (SECURITY.md class 5,
//! Ref: CVE-2022-0811). Values are written verbatim, in one write, through
//! the private procfs handle.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, IoResultExt, Result};
use crate::linux::procfs::ProcfsHandle;

/// The namespace a sysctl belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysctlNamespace {
    Ipc,
    Net,
    Uts,
    User,
}

impl SysctlNamespace {
    fn spec_type(self) -> LinuxNamespaceType {
        match self {
            SysctlNamespace::Ipc => LinuxNamespaceType::Ipc,
            SysctlNamespace::Net => LinuxNamespaceType::Network,
            SysctlNamespace::Uts => LinuxNamespaceType::Uts,
            SysctlNamespace::User => LinuxNamespaceType::User,
        }
    }

    /// The name under /proc/self/ns/.
    fn proc_name(self) -> &'static str {
        match self {
            SysctlNamespace::Ipc => "ipc",
            SysctlNamespace::Net => "net",
            SysctlNamespace::Uts => "uts",
            SysctlNamespace::User => "user",
        }
    }
}

/// The components of a sysctl name. `.` separates them; a name that uses
/// `/` (as `sysctl -w net/ipv4/conf/eth0.100/rp_filter=1` allows) is split
/// on `/` instead, so an interface name with a dot survives. Each component
/// is non-empty, not `.` or `..`, and has no NUL: the path built from them
/// cannot climb out of /proc/sys.
fn components(name: &str) -> Result<Vec<&str>> {
    let sep = if name.contains('/') { '/' } else { '.' };
    let parts: Vec<&str> = name.split(sep).collect();
    let bad = name.is_empty()
        || name.contains('\0')
        || parts
            .iter()
            .any(|c| c.is_empty() || *c == "." || *c == "..");
    if bad {
        return Err(Error::invalid(format!(
            "sysctl {name:?} is not a valid sysctl name"
        )));
    }
    Ok(parts)
}

/// Which namespace `name` needs. kernel.shm*, kernel.msg*, kernel.sem,
/// kernel.sem_next_id, fs.mqueue.* => ipc; net.* => network;
/// kernel.domainname => uts; user.* => user. kernel.hostname is refused (the
/// `hostname` field sets it), everything else is not namespaced: refused.
/// Ref: runc libcontainer/configs/validate sysctl(); ipc_namespaces(7).
pub fn namespace_for(name: &str) -> Result<SysctlNamespace> {
    let parts = components(name)?;
    let first = parts[0];
    let dotted = parts.join(".");
    let ns = match (first, parts.get(1).copied()) {
        ("net", Some(_)) => Some(SysctlNamespace::Net),
        ("user", Some(_)) => Some(SysctlNamespace::User),
        ("fs", Some("mqueue")) if parts.len() > 2 => Some(SysctlNamespace::Ipc),
        ("kernel", Some(k)) if parts.len() == 2 => {
            if k.starts_with("shm") || k.starts_with("msg") || k == "sem" || k == "sem_next_id" {
                Some(SysctlNamespace::Ipc)
            } else if k == "domainname" {
                Some(SysctlNamespace::Uts)
            } else if k == "hostname" {
                return Err(Error::invalid(format!(
                    "sysctl {dotted} is refused: use the hostname field"
                )));
            } else {
                None
            }
        }
        _ => None,
    };
    ns.ok_or_else(|| Error::invalid(format!("sysctl {dotted} is not namespaced: refused")))
}

/// Each `linux.sysctl` needs its namespace in `linux.namespaces`, and that
/// namespace must not be the host's: one joined by `path` is the host's when
/// its (st_dev, st_ino) equals brig's own /proc/self/ns/<kind>.
pub fn validate(spec: &Spec) -> Result<()> {
    validate_against(spec, Path::new("/proc/self/ns"))
}

fn validate_against(spec: &Spec, own_ns: &Path) -> Result<()> {
    let Some(linux) = spec.linux().as_ref() else {
        return Ok(());
    };
    let Some(sysctl) = linux.sysctl().as_ref() else {
        return Ok(());
    };
    let namespaces = linux.namespaces().as_deref().unwrap_or(&[]);
    let mut names: Vec<&String> = sysctl.keys().collect();
    names.sort();
    for name in names {
        let ns = namespace_for(name)?;
        let Some(entry) = namespaces.iter().find(|n| n.typ() == ns.spec_type()) else {
            return Err(Error::invalid(format!(
                "sysctl {name} needs a {} namespace, and the container shares the host's",
                ns.proc_name()
            )));
        };
        if let Some(path) = entry.path() {
            let theirs = std::fs::metadata(path).or_io(|| format!("stat {}", path.display()))?;
            let own_path = own_ns.join(ns.proc_name());
            let ours =
                std::fs::metadata(&own_path).or_io(|| format!("stat {}", own_path.display()))?;
            if (theirs.dev(), theirs.ino()) == (ours.dev(), ours.ino()) {
                return Err(Error::invalid(format!(
                    "sysctl {name} needs the container's own {} namespace, but {} is the host's",
                    ns.proc_name(),
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

/// In init, after the namespaces are joined or created and before /proc/sys
/// becomes read-only: write each value to `sys/<components joined by />`
/// through `procfs` (a handle made in the container's namespaces). Sorted by
/// name, so a failure is reproducible.
pub fn apply(procfs: &ProcfsHandle, sysctl: &HashMap<String, String>) -> Result<()> {
    let mut names: Vec<&String> = sysctl.keys().collect();
    names.sort();
    for name in names {
        let rel = format!("sys/{}", components(name)?.join("/"));
        procfs
            .write(&rel, sysctl[name].as_bytes())
            .map_err(|e| e.context(format!("sysctl {name}")))?;
    }
    Ok(())
}

/// The child of a container whose network namespace is joined by path and
/// whose user namespace is not yet entered: a net.* sysctl written as the
/// host's root in that network namespace (/proc/sys/net is the writer's
/// network namespace's), through a procfs of its own.
pub fn write_own_netns(name: &str, value: &str) -> Result<()> {
    let procfs = ProcfsHandle::new()?;
    let rel = format!("sys/{}", components(name)?.join("/"));
    procfs
        .write(&rel, value.as_bytes())
        .map_err(|e| e.context(format!("sysctl {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::procfs::testutil::in_child;
    use SysctlNamespace::*;

    #[test]
    fn namespace_table() {
        let cases: &[(&str, std::result::Result<SysctlNamespace, &str>)] = &[
            ("kernel.shm_rmid_forced", Ok(Ipc)),
            ("kernel.shmmax", Ok(Ipc)),
            ("kernel.msgmnb", Ok(Ipc)),
            ("kernel.sem", Ok(Ipc)),
            ("fs.mqueue.msg_max", Ok(Ipc)),
            ("fs/mqueue/queues_max", Ok(Ipc)),
            ("net.ipv4.ip_forward", Ok(Net)),
            ("net/ipv4/conf/eth0.100/rp_filter", Ok(Net)),
            ("net.ipv4.conf.all.rp_filter", Ok(Net)),
            ("kernel.domainname", Ok(Uts)),
            ("user.max_user_namespaces", Ok(User)),
            ("kernel.hostname", Err("use the hostname field")),
            ("vm.overcommit_memory", Err("not namespaced")),
            ("kernel.core_pattern", Err("not namespaced")),
            ("fs.file-max", Err("not namespaced")),
            ("fs.mqueue", Err("not namespaced")),
            ("kernel.semx", Err("not namespaced")),
            ("net", Err("not namespaced")),
            ("net..ipv4", Err("not a valid")),
            ("net.ipv4.", Err("not a valid")),
            ("", Err("not a valid")),
            ("net/../kernel/core_pattern", Err("not a valid")),
            ("net/./ipv4", Err("not a valid")),
            ("net.ipv4\0.x", Err("not a valid")),
        ];
        for (name, want) in cases {
            match (namespace_for(name), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, *w, "{name}"),
                (Err(e), Err(w)) => assert!(e.chain().contains(w), "{name}: {}", e.chain()),
                (got, _) => panic!("{name:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    fn spec(linux: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({"ociVersion": "1.2.1", "linux": linux})).unwrap()
    }

    #[test]
    fn validate_table() {
        let own = "/proc/self/ns/net";
        let cases: Vec<(serde_json::Value, Option<&str>)> = vec![
            (serde_json::json!({}), None),
            (
                serde_json::json!({"sysctl": {"net.ipv4.ip_forward": "1"}, "namespaces": [{"type": "network"}]}),
                None,
            ),
            (
                serde_json::json!({"sysctl": {"net.ipv4.ip_forward": "1"}, "namespaces": [{"type": "ipc"}]}),
                Some("needs a net namespace"),
            ),
            (
                serde_json::json!({"sysctl": {"net.ipv4.ip_forward": "1"}, "namespaces": [{"type": "network", "path": own}]}),
                Some("is the host's"),
            ),
            (
                serde_json::json!({"sysctl": {"kernel.shmmax": "1"}, "namespaces": [{"type": "ipc", "path": "/proc/self/ns/ipc"}]}),
                Some("is the host's"),
            ),
            (
                serde_json::json!({"sysctl": {"vm.swappiness": "1"}, "namespaces": [{"type": "network"}]}),
                Some("not namespaced"),
            ),
        ];
        for (linux, want) in cases {
            match (validate(&spec(linux.clone())), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.chain().contains(w), "{linux}: {}", e.chain()),
                (got, _) => panic!("{linux}: got {got:?}, want {want:?}"),
            }
        }
        // A namespace by path that is not ours passes: pretend "ours" is the ipc ns.
        let s = spec(serde_json::json!({"sysctl": {"net.core.somaxconn": "1"},
            "namespaces": [{"type": "network", "path": "/proc/self/ns/net"}]}));
        let fake = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/proc/self/ns/ipc", fake.path().join("net")).unwrap();
        validate_against(&s, fake.path()).unwrap();
    }

    #[test]
    fn apply_in_new_net_and_ipc_namespaces() {
        crate::skip::require_root!();
        let host_port =
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
        let host_shm = std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap();
        let r = in_child(|| {
            use nix::sched::CloneFlags;
            nix::sched::unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWIPC)
                .map_err(|e| e.to_string())?;
            let procfs = ProcfsHandle::new().map_err(|e| e.chain())?;
            let m: HashMap<String, String> = [
                ("net.ipv4.ip_unprivileged_port_start", "2000"),
                ("kernel.shm_rmid_forced", "1"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            apply(&procfs, &m).map_err(|e| e.chain())?;
            let a =
                std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
            let b = std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap();
            Ok(format!("{} {}", a.trim(), b.trim()))
        })
        .unwrap();
        assert_eq!(r, "2000 1");
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap(),
            host_port
        );
        assert_eq!(
            std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap(),
            host_shm
        );
        // A bad write names the sysctl and the value.
        let procfs = ProcfsHandle::new().unwrap();
        let m: HashMap<String, String> = [("net.ipv4.nope".to_string(), "x".to_string())].into();
        let e = apply(&procfs, &m).unwrap_err().chain();
        assert!(
            e.starts_with("sysctl net.ipv4.nope: write \"x\" to /proc/sys/net/ipv4/nope"),
            "{e}"
        );
    }
}
