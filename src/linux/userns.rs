//! User namespace id maps: validation (pure), formatting, and writing them
//! for a child process.
//!
//! Ref: user_namespaces(7) "User and group ID mappings: uid_map and gid_map".

use std::process::Command;

use nix::unistd::{getegid, geteuid, Pid};
use oci_spec::runtime::{LinuxIdMapping, LinuxIdMappingBuilder, LinuxNamespaceType, Spec};

use crate::error::{Error, IoResultExt, Result};
use crate::linux::procfs::ProcfsHandle;

/// Kernel limit on lines per map since 4.15 (UID_GID_MAP_MAX_EXTENTS).
pub const MAX_EXTENTS: usize = 340;
/// The kernel reads a map in one write smaller than a page (4096 bytes on
/// every architecture brig runs on): `count >= PAGE_SIZE` is EINVAL.
const MAX_MAP_BYTES: usize = 4095;
/// (uid_t)-1: "no change" to setresuid, so never a real id (SECURITY.md class 4).
const INVALID_ID: u32 = u32::MAX;

/// Check id mappings and the process user against the namespaces asked for.
pub fn validate(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let uid_maps = linux
        .and_then(|l| l.uid_mappings().as_deref())
        .unwrap_or(&[]);
    let gid_maps = linux
        .and_then(|l| l.gid_mappings().as_deref())
        .unwrap_or(&[]);
    let userns = linux
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|ns| ns.iter().find(|n| n.typ() == LinuxNamespaceType::User));

    if let Some(user) = spec.process().as_ref().map(|p| p.user()) {
        if user.uid() == INVALID_ID {
            return Err(Error::invalid(
                "process.user.uid 4294967295 is not a valid uid",
            ));
        }
        if user.gid() == INVALID_ID {
            return Err(Error::invalid(
                "process.user.gid 4294967295 is not a valid gid",
            ));
        }
        if user
            .additional_gids()
            .iter()
            .flatten()
            .any(|&g| g == INVALID_ID)
        {
            return Err(Error::invalid(
                "process.user.additionalGids: 4294967295 is not a valid gid",
            ));
        }
    }

    let Some(userns) = userns else {
        if !uid_maps.is_empty() || !gid_maps.is_empty() {
            return Err(Error::invalid(
                "uidMappings/gidMappings given without a user namespace",
            ));
        }
        return Ok(());
    };
    if userns.path().is_none() {
        if uid_maps.is_empty() {
            return Err(Error::invalid("a new user namespace needs uidMappings"));
        }
        if gid_maps.is_empty() {
            return Err(Error::invalid("a new user namespace needs gidMappings"));
        }
    }
    check_ranges("uidMappings", uid_maps)?;
    check_ranges("gidMappings", gid_maps)?;

    // With a namespace joined by path and no maps, the maps are the
    // namespace's: nothing to check here.
    if let Some(user) = spec.process().as_ref().map(|p| p.user()) {
        if !uid_maps.is_empty() && !is_mapped(uid_maps, user.uid()) {
            return Err(Error::invalid(format!(
                "process.user.uid {} is not mapped by uidMappings",
                user.uid()
            )));
        }
        if !gid_maps.is_empty() {
            let gids =
                std::iter::once(user.gid()).chain(user.additional_gids().iter().flatten().copied());
            for gid in gids {
                if !is_mapped(gid_maps, gid) {
                    return Err(Error::invalid(format!(
                        "process.user gid {gid} is not mapped by gidMappings"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The host id that container id `id` maps to, if any.
pub fn host_id(maps: &[LinuxIdMapping], id: u32) -> Option<u32> {
    maps.iter().find_map(|m| {
        let off = id.checked_sub(m.container_id())?;
        (off < m.size()).then(|| m.host_id() + off)
    })
}

fn is_mapped(maps: &[LinuxIdMapping], id: u32) -> bool {
    maps.iter().any(|m| {
        id >= m.container_id() && u64::from(id) < u64::from(m.container_id()) + u64::from(m.size())
    })
}

/// The kernel's own rules for a map (map_write in kernel/user_namespace.c),
/// checked up front so a bad map fails before any process exists.
pub(crate) fn check_ranges(what: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    if maps.len() > MAX_EXTENTS {
        return Err(Error::invalid(format!(
            "{what}: {} ranges, the kernel allows at most {MAX_EXTENTS}",
            maps.len()
        )));
    }
    if format_map(maps).len() > MAX_MAP_BYTES {
        return Err(Error::invalid(format!(
            "{what}: the map is longer than the kernel's {MAX_MAP_BYTES} bytes"
        )));
    }
    for (i, m) in maps.iter().enumerate() {
        let shown = format!(
            "{what}[{i}] ({} {} {})",
            m.container_id(),
            m.host_id(),
            m.size()
        );
        if m.size() == 0 {
            return Err(Error::invalid(format!("{shown}: size is 0")));
        }
        // The kernel refuses first+count that wraps in u32.
        if m.container_id().checked_add(m.size()).is_none() {
            return Err(Error::invalid(format!(
                "{shown}: containerID + size overflows"
            )));
        }
        if m.host_id().checked_add(m.size()).is_none() {
            return Err(Error::invalid(format!("{shown}: hostID + size overflows")));
        }
        for (j, o) in maps.iter().enumerate().take(i) {
            let overlap = |a: u32, b: u32| a < b + o.size() && b < a + m.size();
            if overlap(m.container_id(), o.container_id()) {
                return Err(Error::invalid(format!(
                    "{shown}: container range overlaps {what}[{j}]"
                )));
            }
            if overlap(m.host_id(), o.host_id()) {
                return Err(Error::invalid(format!(
                    "{shown}: host range overlaps {what}[{j}]"
                )));
            }
        }
    }
    Ok(())
}

/// One id mapping (oci-spec's type has only a builder).
pub fn mapping(container_id: u32, host_id: u32, size: u32) -> LinuxIdMapping {
    LinuxIdMappingBuilder::default()
        .container_id(container_id)
        .host_id(host_id)
        .size(size)
        .build()
        .expect("every field has a value")
}

/// `"0 1000 1\n1 100000 65536\n"`: the uid_map/gid_map text, written in one write.
pub fn format_map(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Write `/proc/<pid>/uid_map` and `gid_map` for a child that has unshared
/// its user namespace. As root, directly through the host `procfs` handle
/// (CAP_SETUID/CAP_SETGID in the parent namespace allow any map, setgroups
/// untouched). Not root: a single mapping of our own id is written
/// directly after `setgroups` = `deny` (the kernel requires it, Ref:
/// user_namespaces(7)); anything else needs newuidmap/newgidmap.
pub fn write_maps(
    procfs: &ProcfsHandle,
    pid: Pid,
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
) -> Result<()> {
    if geteuid().is_root() {
        return write_direct(procfs, pid, uid, gid);
    }
    if !needs_helpers(uid, gid) {
        procfs.write(&format!("{pid}/setgroups"), b"deny")?;
        return write_direct(procfs, pid, uid, gid);
    }
    helper_map("newuidmap", pid, uid)?;
    helper_map("newgidmap", pid, gid)
}

/// An ordinary user may write a map of its own ids only (one line, size
/// 1); anything more goes through newuidmap/newgidmap and the user's
/// /etc/subuid, /etc/subgid ranges.
pub fn needs_helpers(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> bool {
    let own = |maps: &[LinuxIdMapping], id: u32| {
        maps.len() <= 1 && maps.iter().all(|m| m.host_id() == id && m.size() == 1)
    };
    !(own(uid, geteuid().as_raw()) && own(gid, getegid().as_raw()))
}

fn write_direct(
    procfs: &ProcfsHandle,
    pid: Pid,
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
) -> Result<()> {
    if !uid.is_empty() {
        procfs.write(&format!("{pid}/uid_map"), format_map(uid).as_bytes())?;
    }
    if !gid.is_empty() {
        procfs.write(&format!("{pid}/gid_map"), format_map(gid).as_bytes())?;
    }
    Ok(())
}

/// `newuidmap <pid> <inside> <outside> <count>...` (shadow-utils, setuid root;
/// it checks /etc/subuid).
fn helper_map(tool: &str, pid: Pid, maps: &[LinuxIdMapping]) -> Result<()> {
    if maps.is_empty() {
        return Ok(());
    }
    let mut cmd = Command::new(tool);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([m.container_id(), m.host_id(), m.size()].map(|n| n.to_string()));
    }
    let out = cmd.output().or_io(|| format!("run {tool} for pid {pid}"))?;
    if !out.status.success() {
        return Err(Error::invalid(format!(
            "{tool} {pid}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// May this process call setgroups(2)? Not in a user namespace whose
/// `setgroups` says "deny" (an unprivileged writer's maps, or
/// newgidmap's without a subgid range). Read through `procfs` (ours).
pub fn setgroups_allowed(procfs: &ProcfsHandle) -> Result<bool> {
    use std::io::Read;
    let fd = procfs.open("self/setgroups", nix::fcntl::OFlag::O_RDONLY)?;
    let mut text = String::new();
    std::fs::File::from(fd)
        .read_to_string(&mut text)
        .or_io(|| "read /proc/self/setgroups".into())?;
    Ok(text.trim() != "deny")
}

/// The host uid and gid of root in the user namespace at `path`, when it
/// is `/proc/PID/ns/user` (read from that process's maps).
pub fn root_ids_of(path: &std::path::Path) -> Option<(u32, u32)> {
    let pid = path
        .to_str()?
        .strip_prefix("/proc/")?
        .strip_suffix("/ns/user")?
        .parse::<i32>()
        .ok()?;
    let (uid, gid) =
        crate::linux::confinement::read_id_maps(std::path::Path::new("/proc"), pid).ok()?;
    let root = |maps: &[crate::linux::confinement::IdRange]| {
        maps.iter()
            .find(|m| m.container == 0 && m.size > 0)
            .map(|m| m.host)
    };
    Some((root(&uid)?, root(&gid)?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_id_table() {
        let maps = [
            super::mapping(0, 100_000, 10),
            super::mapping(1000, 300_000, 5),
        ];
        for (id, want) in [
            (0, Some(100_000)),
            (9, Some(100_009)),
            (10, None),
            (1000, Some(300_000)),
            (1004, Some(300_004)),
            (1005, None),
        ] {
            assert_eq!(super::host_id(&maps, id), want, "{id}");
        }
        assert_eq!(super::host_id(&[], 0), None);
    }

    use super::*;
    use crate::linux::procfs::testutil::in_child;

    use super::mapping as m;

    fn spec(json: &str) -> Spec {
        let base =
            r#"{"ociVersion":"1.2.1","process":{"cwd":"/","user":{"uid":0,"gid":0}},"linux":{}}"#;
        let mut v: serde_json::Value = serde_json::from_str(base).unwrap();
        let patch: serde_json::Value = serde_json::from_str(json).unwrap();
        for (k, val) in patch.as_object().unwrap() {
            match k.as_str() {
                "user" => v["process"]["user"] = val.clone(),
                _ => v["linux"][k] = val.clone(),
            }
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn format() {
        assert_eq!(
            format_map(&[m(0, 1000, 1), m(1, 100000, 65536)]),
            "0 1000 1\n1 100000 65536\n"
        );
        assert_eq!(format_map(&[]), "");
    }

    #[test]
    fn validate_table() {
        let userns = r#""namespaces":[{"type":"user"}]"#;
        let maps = r#""uidMappings":[{"containerID":0,"hostID":100000,"size":65536}],"gidMappings":[{"containerID":0,"hostID":100000,"size":65536}]"#;
        let ok = |j: &str| validate(&spec(j)).map_err(|e| e.chain());
        let cases: &[(String, Option<&str>)] = &[
            ("{}".into(), None),
            (format!("{{{userns},{maps}}}"), None),
            (format!("{{{maps}}}"), Some("without a user namespace")),
            (format!("{{{userns}}}"), Some("needs uidMappings")),
            (
                r#"{"namespaces":[{"type":"user","path":"/proc/1/ns/user"}]}"#.into(),
                None,
            ),
            (
                format!(r#"{{{userns},"uidMappings":[{{"containerID":0,"hostID":1,"size":1}}]}}"#),
                Some("needs gidMappings"),
            ),
            (
                format!(r#"{{{userns},{maps},"user":{{"uid":70000,"gid":0}}}}"#),
                Some("uid 70000 is not mapped"),
            ),
            (
                format!(
                    r#"{{{userns},{maps},"user":{{"uid":0,"gid":0,"additionalGids":[65536]}}}}"#
                ),
                Some("gid 65536 is not mapped"),
            ),
            (
                r#"{"user":{"uid":4294967295,"gid":0}}"#.into(),
                Some("uid 4294967295"),
            ),
            (
                r#"{"user":{"uid":0,"gid":4294967295}}"#.into(),
                Some("gid 4294967295"),
            ),
            (
                r#"{"user":{"uid":0,"gid":0,"additionalGids":[4294967295]}}"#.into(),
                Some("additionalGids"),
            ),
        ];
        for (j, want) in cases {
            match (ok(j), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.contains(w), "{j}: {e}"),
                (got, _) => panic!("{j}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn ranges_table() {
        let cases: &[(Vec<LinuxIdMapping>, Option<&str>)] = &[
            (vec![m(0, 1000, 1)], None),
            (vec![m(0, 1000, 1), m(1, 100000, 65536)], None),
            (vec![m(0, 1000, 0)], Some("size is 0")),
            (
                vec![m(u32::MAX - 1, 0, 2)],
                Some("containerID + size overflows"),
            ),
            (vec![m(0, u32::MAX, 1)], Some("hostID + size overflows")),
            (
                vec![m(0, 1000, 10), m(5, 5000, 10)],
                Some("container range overlaps"),
            ),
            (
                vec![m(0, 1000, 10), m(10, 1009, 10)],
                Some("host range overlaps"),
            ),
            (vec![m(0, 1000, 10), m(10, 1010, 10)], None),
            ((0..341).map(|i| m(i, i, 1)).collect(), Some("at most 340")),
            ((0..340).map(|i| m(i * 10, i * 10, 1)).collect(), None),
            (
                (0..200)
                    .map(|i| m(4_000_000_000 + i, 4_000_000_000 + i, 1))
                    .collect(),
                Some("longer than"),
            ),
        ];
        for (maps, want) in cases {
            match (check_ranges("uidMappings", maps), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.chain().contains(w), "{}", e.chain()),
                (got, _) => panic!("{maps:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn write_maps_for_a_child() {
        crate::skip::require_root!();
        use nix::unistd::{fork, ForkResult};
        use std::io::{Read, Write};
        let r = in_child(|| {
            // This process is the "parent": fork a child that unshares
            // CLONE_NEWUSER and waits on a pipe while we write its maps.
            let (r1, w1) = nix::unistd::pipe().map_err(|e| e.to_string())?; // child -> parent: ready / report
            let (r2, w2) = nix::unistd::pipe().map_err(|e| e.to_string())?; // parent -> child: maps written
                                                                            // SAFETY: single-threaded forked test process.
            match unsafe { fork() }.map_err(|e| e.to_string())? {
                ForkResult::Child => {
                    drop(r1);
                    drop(w2);
                    let mut w1 = std::fs::File::from(w1);
                    let ok = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).is_ok();
                    let _ = w1.write_all(if ok { b"R" } else { b"F" });
                    let mut b = [0u8; 1];
                    let _ = std::fs::File::from(r2).read(&mut b);
                    let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
                    let gmap = std::fs::read_to_string("/proc/self/gid_map").unwrap_or_default();
                    let _ = write!(
                        w1,
                        "{}|{}|{}",
                        nix::unistd::getuid(),
                        map.trim(),
                        gmap.trim()
                    );
                    // SAFETY: end the forked child without unwinding into the harness.
                    unsafe { libc::_exit(0) }
                }
                ForkResult::Parent { child } => {
                    drop(w1);
                    drop(r2);
                    let mut r1 = std::fs::File::from(r1);
                    let mut b = [0u8; 1];
                    r1.read_exact(&mut b).map_err(|e| e.to_string())?;
                    if &b != b"R" {
                        return Err("unshare CLONE_NEWUSER failed".into());
                    }
                    let procfs = ProcfsHandle::new().map_err(|e| e.chain())?;
                    let res = write_maps(
                        &procfs,
                        child,
                        &[m(0, 100000, 65536), m(65536, 0, 1)],
                        &[m(0, 1000, 1)],
                    );
                    drop(w2);
                    let mut out = String::new();
                    r1.read_to_string(&mut out).map_err(|e| e.to_string())?;
                    let _ = nix::sys::wait::waitpid(child, None);
                    res.map_err(|e| e.chain())?;
                    Ok(out)
                }
            }
        })
        .unwrap();
        let parts: Vec<&str> = r.split('|').collect();
        // The child is host uid 0, which the second line maps to 65536.
        assert_eq!(parts[0], "65536", "{r}");
        let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(norm(parts[1]), "0 100000 65536 65536 0 1", "{r}");
        assert_eq!(norm(parts[2]), "0 1000 1", "{r}");
    }
}
