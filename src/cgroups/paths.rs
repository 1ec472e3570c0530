//! Pure cgroup path logic: cleaning `linux.cgroupsPath`, reading the cgroup
//! mounts out of `/proc/self/mountinfo`, the caller's own cgroups out of
//! `/proc/self/cgroup`, and systemd's `slice:prefix:name` form.
//!
//! Nothing here touches the filesystem, so every rule is table-tested.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// How the host mounts its cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Only cgroup v1 hierarchies.
    V1,
    /// Only the unified (cgroup2) hierarchy.
    V2,
    /// v1 controllers plus a cgroup2 mount (systemd's `/sys/fs/cgroup/unified`).
    Hybrid,
}

/// One cgroup filesystem mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    pub mountpoint: PathBuf,
    /// The cgroup the mount shows as its root (not `/` inside a cgroup namespace).
    pub root: String,
    /// v1 controllers (`cpu`, `cpuacct`, `name=systemd`); empty for cgroup2.
    pub controllers: Vec<String>,
    pub unified: bool,
}

/// Every cgroup mount and the layout they make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mounts {
    pub layout: Layout,
    /// v1 hierarchies, one per mount (the first mount of a hierarchy wins).
    pub v1: Vec<CgroupMount>,
    pub unified: Option<CgroupMount>,
}

/// Parse the cgroup mounts of a mountinfo text and decide the layout.
///
/// A v1 mount counts only if it carries a real controller (`name=systemd`
/// alone is a named hierarchy, joined but not a controller).
pub fn parse_mountinfo(text: &str) -> Result<Mounts> {
    let mut v1: Vec<CgroupMount> = Vec::new();
    let mut unified: Option<CgroupMount> = None;
    for m in crate::linux::mountinfo::parse(text) {
        let root = m.root;
        let mountpoint = PathBuf::from(m.mount_point);
        match m.fs_type.as_str() {
            "cgroup2" => {
                // Prefer /sys/fs/cgroup itself; otherwise the first one seen.
                let better = match &unified {
                    None => true,
                    Some(u) => {
                        u.mountpoint != Path::new("/sys/fs/cgroup")
                            && mountpoint == Path::new("/sys/fs/cgroup")
                    }
                };
                if better {
                    unified = Some(CgroupMount {
                        mountpoint,
                        root,
                        controllers: Vec::new(),
                        unified: true,
                    });
                }
            }
            "cgroup" => {
                let controllers: Vec<String> = m
                    .super_options
                    .split(',')
                    .filter(|o| {
                        !matches!(*o, "rw" | "ro") && (!o.contains('=') || o.starts_with("name="))
                    })
                    .filter(|o| KNOWN_V1.contains(o) || o.starts_with("name="))
                    .map(str::to_string)
                    .collect();
                if controllers.is_empty() || v1.iter().any(|m| m.controllers == controllers) {
                    continue;
                }
                v1.push(CgroupMount {
                    mountpoint,
                    root,
                    controllers,
                    unified: false,
                });
            }
            _ => {}
        }
    }
    let has_v1 = v1
        .iter()
        .any(|m| m.controllers.iter().any(|c| !c.starts_with("name=")));
    let layout = match (has_v1, &unified) {
        (true, Some(_)) => Layout::Hybrid,
        (true, None) => Layout::V1,
        (false, Some(_)) => Layout::V2,
        (false, None) => {
            return Err(Error::invalid(
                "no cgroup filesystem is mounted (see /proc/self/mountinfo)",
            ))
        }
    };
    if layout == Layout::V2 {
        v1.clear();
    }
    Ok(Mounts {
        layout,
        v1,
        unified,
    })
}

/// v1 controller names the kernel knows. Ref: Documentation/admin-guide/cgroup-v1/.
const KNOWN_V1: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "net_cls",
    "net_prio",
    "perf_event",
    "hugetlb",
    "rdma",
    "misc",
];

/// The caller's cgroup per hierarchy from `/proc/self/cgroup`:
/// `(controllers, path)`, with `[]` for the unified `0::` line.
pub fn parse_proc_cgroup(text: &str) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
            let ctrls = ctrls
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            Some((ctrls, path.to_string()))
        })
        .collect()
}

/// runc's `CleanPath`: lexically clean; a relative path is cleaned as if
/// rooted at `/` and made relative again, so `..` can never climb above
/// the point it is joined to. `""` stays `""`.
/// Ref: runc libcontainer/utils CleanPath (CVE-2016-9962 class of bugs).
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return String::new();
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => parts.push(n.to_str().unwrap_or_default()),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    let joined = parts.join("/");
    if path.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

/// Join an absolute cgroup path with a cleaned relative one.
pub fn join(base: &str, rel: &str) -> String {
    let base = clean(base);
    let rel = clean(rel);
    let base = if base.is_empty() {
        "/".to_string()
    } else {
        base
    };
    if rel.is_empty() {
        base
    } else if base == "/" {
        format!("/{rel}")
    } else {
        format!("{base}/{rel}")
    }
}

/// The inner path a container asks for: `cgroupsPath` cleaned, or the
/// container id (relative, as runc does) when none is given. An inner path
/// that cleans to nothing or to `/` would make the container's cgroup the
/// caller's own or the root, and brig never writes limits to those.
pub fn inner_path(cgroups_path: Option<&str>, id: &str) -> Result<String> {
    let raw = cgroups_path.filter(|p| !p.is_empty()).unwrap_or(id);
    if raw.contains('\0') || raw.contains('\n') {
        return Err(Error::invalid(format!(
            "cgroupsPath {raw:?} contains a NUL or newline"
        )));
    }
    let inner = clean(raw);
    if inner.is_empty() || inner == "/" {
        return Err(Error::invalid(format!(
            "cgroupsPath {raw:?} resolves to the cgroup root or brig's own cgroup; brig never puts a container there"
        )));
    }
    Ok(inner)
}

/// systemd's `slice:prefix:name` -> the cgroup path of the transient unit,
/// e.g. `system.slice:brig:c1` -> `/system.slice/brig-c1.scope`.
/// A name ending in `.slice` is a slice itself. `manager` is the cgroup of
/// the systemd instance: `/` for the system's; a user's own (rootless)
/// names its slices below its cgroup, and its default slice is
/// `user.slice`. Ref: runc libcontainer/cgroups/systemd (getUnitName,
/// ExpandSlice, v2.go initPath).
pub fn systemd_path(
    cgroups_path: Option<&str>,
    id: &str,
    manager: &str,
) -> Result<(String, String)> {
    let default_slice = if manager == "/" {
        "system.slice"
    } else {
        "user.slice"
    };
    let raw = cgroups_path
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{default_slice}:brig:{id}"));
    let parts: Vec<&str> = raw.split(':').collect();
    if parts.len() != 3 {
        return Err(Error::invalid(format!(
            "cgroupsPath {raw:?}: the systemd cgroup driver expects \"slice:prefix:name\""
        )));
    }
    let (slice, prefix, name) = (parts[0], parts[1], parts[2]);
    if name.is_empty() || name.contains('/') || prefix.contains('/') {
        return Err(Error::invalid(format!(
            "cgroupsPath {raw:?}: invalid unit name"
        )));
    }
    let slice = if slice.is_empty() {
        default_slice
    } else {
        slice
    };
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    let mut path = expand_slice(slice)?;
    if unit.ends_with(".slice") {
        // A slice nests by its dashes too: its parent path is implied.
        path = expand_slice(&unit)?;
    } else {
        path = join(&path, &unit);
    }
    Ok((join(manager, path.trim_start_matches('/')), unit))
}

/// `a-b.slice` -> `/a.slice/a-b.slice`; `-.slice` is the root.
pub fn expand_slice(slice: &str) -> Result<String> {
    let bad = || Error::invalid(format!("invalid systemd slice name {slice:?}"));
    let Some(base) = slice.strip_suffix(".slice") else {
        return Err(bad());
    };
    if slice.contains('/') {
        return Err(bad());
    }
    if base == "-" {
        return Ok("/".into());
    }
    if base.is_empty() || base.starts_with('-') || base.ends_with('-') || base.contains("--") {
        return Err(bad());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for comp in base.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(comp);
        path.push('/');
        path.push_str(&prefix);
        path.push_str(".slice");
    }
    Ok(path)
}

/// The directory of cgroup `cg` (absolute cgroup path) under a mount whose
/// root is `mount.root`.
pub fn dir_in(mount: &CgroupMount, cg: &str) -> PathBuf {
    let root = clean(&mount.root);
    let rel = if root != "/" && !root.is_empty() {
        cg.strip_prefix(&root)
            .filter(|r| r.is_empty() || r.starts_with('/'))
            .unwrap_or(cg)
    } else {
        cg
    };
    let rel = clean(rel);
    mount.mountpoint.join(rel.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
";
    const V2: &str = "25 23 0:23 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
    const V1: &str = "32 31 0:29 / /sys/fs/cgroup/cpu rw shared:1 - cgroup cgroup rw,cpu
33 31 0:29 / /mnt/again rw - cgroup cgroup rw,cpu
34 31 0:31 /lxc/c1 /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
";

    #[test]
    fn layouts() {
        let m = parse_mountinfo(HYBRID).unwrap();
        assert_eq!(m.layout, Layout::Hybrid);
        assert_eq!(m.v1.len(), 3);
        assert_eq!(m.v1[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(m.v1[2].controllers, ["name=systemd"]);
        assert_eq!(
            m.unified.unwrap().mountpoint,
            Path::new("/sys/fs/cgroup/unified")
        );

        let m = parse_mountinfo(V2).unwrap();
        assert_eq!(m.layout, Layout::V2);
        assert!(m.v1.is_empty());

        let m = parse_mountinfo(V1).unwrap();
        assert_eq!(m.layout, Layout::V1);
        assert_eq!(
            m.v1.len(),
            2,
            "a second mount of the same hierarchy is skipped"
        );
        assert_eq!(m.v1[1].root, "/lxc/c1");

        assert!(parse_mountinfo("1 0 0:1 / / rw - ext4 /dev/sda rw\n").is_err());
        let named_only = "40 31 0:37 / /x rw - cgroup cgroup rw,name=systemd\n41 31 0:38 / /y rw - cgroup2 cgroup2 rw\n";
        assert_eq!(parse_mountinfo(named_only).unwrap().layout, Layout::V2);
    }

    #[test]
    fn escaped_mountpoints() {
        let m = parse_mountinfo("41 31 0:38 / /a\\040b rw - cgroup2 cgroup2 rw\n").unwrap();
        assert_eq!(m.unified.unwrap().mountpoint, Path::new("/a b"));
    }

    #[test]
    fn cleaning() {
        for (raw, want) in [
            ("", ""),
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/a/../../../b", "/b"),
            ("../../..", ""),
            ("../../../etc", "etc"),
            ("a/./b/", "a/b"),
            ("a/../..", ""),
            ("//a//b", "/a/b"),
            ("/../..", "/"),
        ] {
            assert_eq!(clean(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn inner_paths() {
        for (raw, want) in [
            (None, Ok("c1")),
            (Some(""), Ok("c1")),
            (Some("/x/y"), Ok("/x/y")),
            (Some("../../../sys/fs"), Ok("sys/fs")),
            (Some("/../../x"), Ok("/x")),
            (Some("/"), Err(())),
            (Some("/.."), Err(())),
            (Some("../.."), Err(())),
            (Some("."), Err(())),
            (Some("a\0b"), Err(())),
        ] {
            assert_eq!(
                inner_path(raw, "c1").map_err(|_| ()),
                want.map(String::from),
                "{raw:?}"
            );
        }
        assert_eq!(join("/own/cg", "../../x"), "/own/cg/x");
        assert_eq!(join("/", "x"), "/x");
    }

    #[test]
    fn proc_cgroup() {
        let v = parse_proc_cgroup("4:memory:/a/b\n2:cpu,cpuacct:/\n1:name=systemd:/s\n0::/u\n");
        assert_eq!(v[0], (vec!["memory".to_string()], "/a/b".to_string()));
        assert_eq!(v[1].0, ["cpu", "cpuacct"]);
        assert_eq!(v[3], (vec![], "/u".to_string()));
    }

    #[test]
    fn systemd_paths() {
        for (raw, want) in [
            (
                Some("system.slice:brig:c1"),
                Ok("/system.slice/brig-c1.scope"),
            ),
            (
                Some("a-b-c.slice:p:n"),
                Ok("/a.slice/a-b.slice/a-b-c.slice/p-n.scope"),
            ),
            (Some("-.slice:p:n"), Ok("/p-n.scope")),
            (Some(":p:n"), Ok("/system.slice/p-n.scope")),
            (Some("a.slice::n"), Ok("/a.slice/n.scope")),
            (Some("a.slice:p:a-x.slice"), Ok("/a.slice/a-x.slice")),
            (None, Ok("/system.slice/brig-c1.scope")),
            (Some("/a/b"), Err(())),
            (Some("a--b.slice:p:n"), Err(())),
            (Some("nosuffix:p:n"), Err(())),
            (Some("a.slice:p:../x"), Err(())),
        ] {
            assert_eq!(
                systemd_path(raw, "c1", "/").map(|r| r.0).map_err(|_| ()),
                want.map(String::from),
                "{raw:?}"
            );
        }
        // A user's systemd: below its own cgroup, user.slice by default.
        let user = "/user.slice/user-1000.slice/user@1000.service";
        for (raw, want) in [
            (None, "/user.slice/brig-c1.scope"),
            (Some(":p:n"), "/user.slice/p-n.scope"),
            (Some("user.slice:libpod:x"), "/user.slice/libpod-x.scope"),
            (Some("a-b.slice:p:n"), "/a.slice/a-b.slice/p-n.scope"),
        ] {
            let (path, _) = systemd_path(raw, "c1", user).unwrap();
            assert_eq!(path, format!("{user}{want}"), "{raw:?}");
        }
    }

    #[test]
    fn dirs_under_mount_roots() {
        let mut m = CgroupMount {
            mountpoint: "/sys/fs/cgroup/pids".into(),
            root: "/".into(),
            controllers: vec![],
            unified: false,
        };
        assert_eq!(dir_in(&m, "/a/../../b"), Path::new("/sys/fs/cgroup/pids/b"));
        m.root = "/lxc/c1".into();
        assert_eq!(dir_in(&m, "/lxc/c1/x"), Path::new("/sys/fs/cgroup/pids/x"));
        assert_eq!(dir_in(&m, "/x"), Path::new("/sys/fs/cgroup/pids/x"));
    }
}
