//! The "cgroup" mount: cgroup2 on a pure v2 host, else a tmpfs holding a
//! bind of the container's own cgroup from each host hierarchy.

use std::os::fd::AsFd;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;

use super::{after_mount, Ctx};
use crate::error::{Error, IoResultExt, Result, SysResultExt};
use crate::linux::inroot::{ensure_mountpoint, fd_path, make_dir_in};
use crate::linux::mount::{
    MountOptions, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
};
use crate::linux::mountapi::{clone_tree, mount_setattr, move_mount, set_propagation};

/// The host's view of the container's cgroups, read by the parent before
/// the child unshares its cgroup namespace (inside it, /proc/self/cgroup
/// and the mountinfo roots are relative to the namespace and no longer
/// name the host directories to bind).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CgroupView {
    /// The parent's cgroup mounts, as mountinfo lines
    /// (`mountinfo::cgroup_mounts`).
    pub mountinfo: String,
    /// /proc/<init>/cgroup as the parent sees it.
    pub cgroup: String,
}

/// Does the plan mount a cgroup filesystem (so it needs a [`CgroupView`])?
pub fn mounts_cgroup(plan: &super::RootfsPlan) -> bool {
    plan.mounts
        .iter()
        .any(|m| m.typ().as_deref() == Some("cgroup"))
}

/// A "cgroup" mount. On a v2-only host it is cgroup2. Otherwise (v1 or
/// hybrid, with or without a cgroup namespace) it is a tmpfs holding a bind
/// of the container's own cgroup from each host hierarchy, read-only when
/// the mount says "ro": the container sees every controller it is limited
/// by, as under runc. Ref: runc mountCgroupV1/mountCgroupV2.
pub(super) fn cgroup_mount(ctx: &Ctx<'_>, dest: &Path, o: &MountOptions) -> Result<()> {
    let v2_only = crate::cgroups::host_is_unified();
    let fd = ensure_mountpoint(ctx.root, dest, true, true)?;
    if v2_only {
        let mounted = nix::mount::mount(
            Some("cgroup"),
            fd_path(fd.as_fd()).as_str(),
            Some("cgroup2"),
            o.flags,
            None::<&str>,
        );
        if ctx.userns && matches!(mounted, Err(Errno::EPERM | Errno::EBUSY)) {
            // A user namespace without a cgroup namespace of its own
            // (rootless) may not mount cgroup2: the host's hierarchy,
            // bound with the mount's flags, as runc's mountCgroupV2 falls
            // back (runc#2158).
            let tree = clone_tree(nix::fcntl::AT_FDCWD, Path::new("/sys/fs/cgroup"), false)
                .or_sys(|| "clone /sys/fs/cgroup".into())?;
            let mut attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
            if o.flags.contains(MsFlags::MS_RDONLY) {
                attrs |= MOUNT_ATTR_RDONLY;
            }
            mount_setattr(tree.as_fd(), attrs, 0, false)
                .or_sys(|| "set flags on the /sys/fs/cgroup bind".into())?;
            move_mount(tree.as_fd(), fd.as_fd()).or_sys(|| "bind /sys/fs/cgroup".into())?;
            return after_mount(ctx, dest, o);
        }
        mounted.or_sys(|| "mount cgroup2".into())?;
        return after_mount(ctx, dest, o);
    }
    let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    nix::mount::mount(
        Some("tmpfs"),
        fd_path(fd.as_fd()).as_str(),
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )
    .or_sys(|| "mount tmpfs".into())?;
    let (info, mine) = match ctx.cgroups {
        Some(v) => (v.mountinfo.clone(), v.cgroup.clone()),
        None => (
            crate::linux::mountinfo::cgroup_mounts()
                .map_err(|e| Error::io("read /proc/self/mountinfo", e))?,
            std::fs::read_to_string("/proc/self/cgroup")
                .map_err(|e| Error::io("read /proc/self/cgroup", e))?,
        ),
    };
    // The binds take the mount's own "ro" (runc's spec has it; a config
    // without it asks for writable cgroups, to make sub-cgroups).
    let ro = o.flags.contains(MsFlags::MS_RDONLY);
    let mut attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    if ro {
        attrs |= MOUNT_ATTR_RDONLY;
    }
    let dir = ensure_mountpoint(ctx.root, dest, true, true)?;
    for (name, host) in cgroup_binds(&info, &mine) {
        let op = || format!("bind {} on {}/{name}", host.display(), dest.display());
        // In the template's namespace the parent made it on the host.
        let made = ctx.cgroup_trees.iter().find(|(n, _)| *n == name);
        let tree = match made {
            Some((_, t)) => t.try_clone().or_io(op)?,
            None => clone_tree(nix::fcntl::AT_FDCWD, &host, false).or_sys(op)?,
        };
        mount_setattr(tree.as_fd(), attrs, 0, false).or_sys(op)?;
        // In the tmpfs just mounted: nothing but ours is there.
        let target = make_dir_in(dir.as_fd(), &name).map_err(|e| e.context(op()))?;
        move_mount(tree.as_fd(), target.as_fd()).or_sys(op)?;
        if let Some(flag) = ctx.from_host {
            set_propagation(tree.as_fd(), flag).or_sys(op)?;
        }
        // Co-mounted controllers ("cpu,cpuacct") get a link per name.
        for ctrl in name.split(',').filter(|_| name.contains(',')) {
            match nix::unistd::symlinkat(name.as_str(), &dir, ctrl) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(Error::sys(format!("symlink {ctrl} -> {name}"), e)),
            }
        }
    }
    if o.flags.contains(MsFlags::MS_RDONLY) {
        mount_setattr(dir.as_fd(), MOUNT_ATTR_RDONLY, 0, false)
            .or_sys(|| "make cgroup tmpfs read-only".into())?;
    }
    after_mount(ctx, dest, o)
}

/// The parent's side for a container started from the template: the
/// binds [`cgroup_mount`] makes, cloned on the host (in the container's
/// namespace the host's cgroup directories are out of reach). None on a
/// v2-only host, where the container mounts a cgroup2 of its own.
pub fn cgroup_trees(view: &CgroupView) -> Result<Vec<(String, std::os::fd::OwnedFd)>> {
    if crate::cgroups::host_is_unified() {
        return Ok(Vec::new());
    }
    cgroup_binds(&view.mountinfo, &view.cgroup)
        .into_iter()
        .map(|(name, host)| {
            let tree = clone_tree(nix::fcntl::AT_FDCWD, &host, false)
                .or_sys(|| format!("open_tree {}", host.display()))?;
            Ok((name, tree))
        })
        .collect()
}

/// (name under the cgroup mount, host directory of this process's cgroup)
/// for each hierarchy mounted under /sys/fs/cgroup.
fn cgroup_binds(mountinfo: &str, self_cgroup: &str) -> Vec<(String, std::path::PathBuf)> {
    let mut out: Vec<(String, std::path::PathBuf)> = Vec::new();
    for m in crate::linux::mountinfo::parse(mountinfo) {
        let (root, mp, fstype) = (
            m.root.as_str(),
            Path::new(&m.mount_point),
            m.fs_type.as_str(),
        );
        if mp.parent() != Some(Path::new("/sys/fs/cgroup")) {
            continue;
        }
        let opts: Vec<&str> = m.super_options.split(',').collect();
        let path = self_cgroup.lines().find_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
            let matches = match fstype {
                "cgroup2" => ctrls.is_empty(),
                "cgroup" => !ctrls.is_empty() && ctrls.split(',').all(|c| opts.contains(&c)),
                _ => false,
            };
            matches.then_some(path)
        });
        let Some(path) = path else { continue };
        let Ok(rel) = Path::new(path).strip_prefix(root) else {
            continue;
        };
        let name = mp
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !out.iter().any(|(n, _)| *n == name) {
            out.push((name, mp.join(rel)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_binds_hybrid() {
        let info = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 /sub /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:38 / /mnt/other rw,relatime - cgroup2 cgroup2 rw";
        let mine =
            "9:name=systemd:/c1\n5:devices:/sub/c1\n4:memory:/m/c1\n1:cpu,cpuacct:/c1\n0::/u/c1\n";
        let got = cgroup_binds(info, mine);
        let want: Vec<(String, std::path::PathBuf)> = [
            ("cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct/c1"),
            ("memory", "/sys/fs/cgroup/memory/m/c1"),
            ("devices", "/sys/fs/cgroup/devices/c1"),
            ("systemd", "/sys/fs/cgroup/systemd/c1"),
            ("unified", "/sys/fs/cgroup/unified/u/c1"),
        ]
        .iter()
        .map(|(n, p)| (n.to_string(), p.into()))
        .collect();
        assert_eq!(got, want);
    }
}
