//! Idmapped mounts: a detached clone of a tree whose ids are shifted by a
//! user namespace (mount_setattr `MOUNT_ATTR_IDMAP`). containerd sends
//! mounts with `uidMappings`/`gidMappings` for user-namespaced pods
//! (SECURITY.md "Kubernetes facts"). Ref: mount_setattr(2).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::statfs::{fstatfs, NSFS_MAGIC};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};
use oci_spec::runtime::LinuxIdMapping;

use crate::error::{Error, IoResultExt, Result, SysResultExt};
use crate::linux::procfs::ProcfsHandle;
use crate::linux::{mountapi, userns};

/// `open_tree(source, OPEN_TREE_CLONE [| AT_RECURSIVE])`, then
/// `mount_setattr(MOUNT_ATTR_IDMAP)` with a user namespace holding exactly
/// these maps (made for this call and thrown away: nothing is cached).
/// Returns the detached mount for the caller's `move_mount`.
pub fn idmapped_tree(
    source: &Path,
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
    recursive: Recursive,
) -> Result<OwnedFd> {
    let what = || format!("idmapped mount of {}", source.display());
    let userns = userns_with_maps(uid, gid).map_err(|e| e.context(what()))?;
    let tree = open_tree(source, recursive.clone)?;
    set_idmap(&tree, &userns, recursive.idmap).map_err(|e| e.context(what()))?;
    Ok(tree)
}

/// [`idmapped_tree`] with the maps of an existing user namespace, given
/// by path (a container that joins one: its implied mapping).
pub fn idmapped_tree_in(
    source: &Path,
    userns_path: &Path,
    recursive: Recursive,
) -> Result<OwnedFd> {
    let what = || format!("idmapped mount of {}", source.display());
    let userns: OwnedFd =
        crate::linux::namespaces::open_ns(crate::linux::namespaces::Kind::User, userns_path)
            .map_err(|e| e.context(what()))?
            .into();
    let tree = open_tree(source, recursive.clone)?;
    set_idmap(&tree, &userns, recursive.idmap).map_err(|e| e.context(what()))?;
    Ok(tree)
}

/// The root filesystem `rootfs` (an overlay mount: containerd's, podman's
/// snapshots), idmapped by `userns`. Overlayfs itself cannot be idmapped
/// (mount_setattr says EINVAL), but its layers can: a new overlay over
/// idmapped clones of the same lower, upper and work directories, made by
/// the host's root (its creds are the overlay's mounter's). The mount the
/// runtime's caller made stays as it is, unused (the kernel warns that
/// its upper directory is in use twice). Ref: overlayfs.rst,
/// "Idmapped layers".
/// `root_ids` are the host uid and gid of the container's root.
pub fn idmapped_overlay(
    rootfs: &Path,
    userns: &OwnedFd,
    root_ids: Option<(u32, u32)>,
) -> Result<OwnedFd> {
    let what = || format!("idmapped overlay for {}", rootfs.display());
    let want = rootfs.to_string_lossy();
    let infos = crate::linux::mountinfo::read_self().or_io(|| "read mountinfo".to_string())?;
    let info = infos
        .iter()
        .rev()
        .find(|m| m.mount_point == want && m.fs_type == "overlay")
        .ok_or_else(|| Error::invalid(format!("{} is not an overlay mount", rootfs.display())))?;
    let opt = |key: &str| {
        info.super_options
            .split(',')
            .find_map(|o| o.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
    };
    let lower = opt("lowerdir").ok_or_else(|| Error::invalid("overlay without lowerdir"))?;
    // Each layer cloned and idmapped, reached by its descriptor's path.
    let mut held = Vec::new();
    let mut layer = |dir: &str| -> Result<String> {
        let tree = open_tree(Path::new(dir), false)?;
        set_idmap(&tree, userns, false).map_err(|e| e.context(format!("layer {dir}")))?;
        let path = format!("/proc/self/fd/{}", tree.as_raw_fd());
        held.push(tree);
        Ok(path)
    };
    let lowers: Vec<String> = lower
        .split(':')
        .map(&mut layer)
        .collect::<Result<_>>()
        .map_err(|e| e.context(what()))?;
    let mut params: Vec<(String, Option<String>)> =
        vec![("lowerdir".into(), Some(lowers.join(":")))];
    if let (Some(upper), Some(work)) = (opt("upperdir"), opt("workdir")) {
        // Not idmapped: overlay works in them as its mounter, the host's
        // root, who has no id in the idmap (EOVERFLOW). What the container
        // writes is its own host ids' on disk; the upper layer's root, the
        // container's "/", becomes its root's.
        if let Some((uid, gid)) = root_ids {
            let st = nix::sys::stat::stat(upper).or_sys(|| format!("stat {upper}"))?;
            if (st.st_uid, st.st_gid) == (0, 0) {
                nix::unistd::chown(upper, Some(uid.into()), Some(gid.into()))
                    .or_sys(|| format!("chown {upper} to the container's root"))?;
            }
        }
        params.push(("upperdir".into(), Some(upper.to_string())));
        params.push(("workdir".into(), Some(work.to_string())));
    }
    for flag in ["userxattr"] {
        if info.super_options.split(',').any(|o| o == flag) {
            params.push((flag.into(), None));
        }
    }
    let params: Vec<(&str, Option<&str>)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_deref()))
        .collect();
    let mnt = mountapi::new_fs_with(c"overlay", &params, 0)
        .or_sys(|| "mount overlay over the idmapped layers".to_string())
        .map_err(|e| e.context(what()))?;
    drop(held);
    Ok(mnt)
}

/// What of a source tree an idmapped mount takes: `rbind` clones its
/// submounts too; `ridmap` also idmaps them, `idmap` only its top mount
/// (runc's semantics: a submount may already be idmapped, which the kernel
/// refuses to idmap again).
#[derive(Debug, Clone, Copy)]
pub struct Recursive {
    pub clone: bool,
    pub idmap: bool,
}

/// True when this kernel can idmap a mount (tmpfs, from 6.3). Tried once
/// per process on a detached tmpfs, which needs no mount namespace.
pub fn supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| match probe() {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!("idmapped mounts not supported: {}", e.chain());
            false
        }
    })
}

fn probe() -> Result<()> {
    let m = userns::mapping(0, 100_000, 65_536);
    let userns = userns_with_maps(&[m], &[m])?;
    let mnt = mountapi::new_fs(c"tmpfs", 0).or_sys(|| "fsmount tmpfs".to_string())?;
    set_idmap(&mnt, &userns, false)
}

fn open_tree(source: &Path, recursive: bool) -> Result<OwnedFd> {
    mountapi::clone_tree(nix::fcntl::AT_FDCWD, source, recursive)
        .or_sys(|| format!("open_tree {}", source.display()))
}

/// Idmap the detached tree `tree` with the maps of `userns`
/// (`recursive`: its submounts too).
pub fn set_idmap(tree: &OwnedFd, userns: &OwnedFd, recursive: bool) -> Result<()> {
    mountapi::set_idmap(tree.as_fd(), userns.as_fd(), recursive)
        .or_sys(|| "mount_setattr MOUNT_ATTR_IDMAP".to_string())
}

/// A child parked in a fresh user namespace; killed and reaped on drop.
struct Parked {
    pid: Pid,
    /// Closing this releases the child.
    _hold: OwnedFd,
}

impl Drop for Parked {
    fn drop(&mut self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

/// A user namespace fd with exactly `uid`/`gid` as its maps: fork a child
/// that unshares CLONE_NEWUSER and waits, write its maps, open
/// /proc/<child>/ns/user, then kill and reap the child (the fd keeps the
/// namespace alive).
pub fn userns_with_maps(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<OwnedFd> {
    if uid.is_empty() || gid.is_empty() {
        return Err(Error::invalid(
            "an idmapped mount needs both uidMappings and gidMappings",
        ));
    }
    userns::check_ranges("uidMappings", uid)?;
    userns::check_ranges("gidMappings", gid)?;
    // Made before fork so the child does nothing but raw syscalls.
    let procfs = ProcfsHandle::new()?;
    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).or_sys(|| "pipe".to_string())?;
    let (hold_r, hold_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).or_sys(|| "pipe".to_string())?;
    // SAFETY: the child only makes raw syscalls on descriptors it already
    // has (no allocation, no locks) and leaves with _exit.
    let child = match unsafe { fork() }.or_sys(|| "fork for user namespace".to_string())? {
        ForkResult::Child => {
            drop(hold_w);
            // SAFETY: raw syscalls on inherited fds; the byte buffer lives on the stack.
            unsafe {
                let ok: u8 = if libc::unshare(libc::CLONE_NEWUSER) == 0 {
                    b'R'
                } else {
                    b'F'
                };
                libc::write(
                    ready_w.as_raw_fd(),
                    &ok as *const u8 as *const libc::c_void,
                    1,
                );
                let mut b = 0u8;
                libc::read(
                    hold_r.as_raw_fd(),
                    &mut b as *mut u8 as *mut libc::c_void,
                    1,
                );
                libc::_exit(0)
            }
        }
        ForkResult::Parent { child } => child,
    };
    drop(ready_w);
    drop(hold_r);
    let parked = Parked {
        pid: child,
        _hold: hold_w,
    };
    let mut b = [0u8; 1];
    let n = nix::unistd::read(&ready_r, &mut b)
        .or_sys(|| "read from user namespace child".to_string())?;
    if n != 1 || b[0] != b'R' {
        return Err(Error::sys(
            "unshare CLONE_NEWUSER in helper child",
            Errno::EPERM,
        ));
    }
    userns::write_maps(&procfs, parked.pid, uid, gid)?;
    let fd = open_userns(&procfs, parked.pid)?;
    drop(parked);
    Ok(fd)
}

/// The user namespace of process `pid` (in our pid namespace), for the
/// implied mapping of an idmapped mount: the container's own. `pid` must be
/// our unreaped child, so it cannot name another process.
pub fn userns_of(pid: Pid) -> Result<OwnedFd> {
    open_userns(&ProcfsHandle::new()?, pid)
}

fn open_userns(procfs: &ProcfsHandle, pid: Pid) -> Result<OwnedFd> {
    // A magic link, which ProcfsHandle::open refuses by design; the handle is
    // a private procfs, so a plain openat below it cannot be redirected.
    let rel = format!("{pid}/ns/user");
    let fd = openat(
        procfs.root().as_fd(),
        rel.as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .or_sys(|| format!("open /proc/{rel}"))?;
    let st = fstatfs(&fd).or_sys(|| format!("fstatfs /proc/{rel}"))?;
    if st.filesystem_type() != NSFS_MAGIC {
        return Err(Error::invalid(format!(
            "/proc/{rel} is not a namespace file"
        )));
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAT: Recursive = Recursive {
        clone: false,
        idmap: false,
    };
    use crate::linux::procfs::testutil::in_child;
    use nix::fcntl::AtFlags;
    use nix::sys::stat::fstatat;

    use crate::linux::userns::mapping as m;

    #[test]
    fn supported_here() {
        crate::skip::require_root!();
        // The VM's kernel (6.18) has idmapped tmpfs.
        assert!(supported());
    }

    #[test]
    fn refuses_empty_maps() {
        let e = idmapped_tree(Path::new("/tmp"), &[], &[m(0, 1000, 1)], FLAT).unwrap_err();
        assert!(e.chain().contains("needs both"), "{}", e.chain());
    }

    /// Mapping 0:1000:1 works like the container's user namespace: what is
    /// 0 on disk shows as host 1000 (= 0 inside a container mapped the same
    /// way), and ids outside the map show as the overflow id.
    #[test]
    fn on_disk_0_appears_as_1000() {
        crate::skip::require_root!();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("root-owned"), "x").unwrap();
        let f = dir.path().join("owned-by-1000");
        std::fs::write(&f, "y").unwrap();
        nix::unistd::chown(&f, Some(1000.into()), Some(1000.into())).unwrap();
        let tree = idmapped_tree(dir.path(), &[m(0, 1000, 1)], &[m(0, 1000, 1)], FLAT).unwrap();
        // Seen through the detached mount directly...
        let st = fstatat(&tree, "root-owned", AtFlags::AT_SYMLINK_NOFOLLOW).unwrap();
        assert_eq!((st.st_uid, st.st_gid), (1000, 1000));
        let st = fstatat(&tree, "owned-by-1000", AtFlags::AT_SYMLINK_NOFOLLOW).unwrap();
        assert_eq!(
            (st.st_uid, st.st_gid),
            (65534, 65534),
            "unmapped ids show as the overflow id"
        );
        // ...and attached with move_mount in a child's private mount namespace.
        let target = tempfile::tempdir().unwrap();
        let tpath = target.path().to_path_buf();
        let r = in_child(move || {
            use nix::mount::{mount, MsFlags};
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(|e| e.to_string())?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .map_err(|e| e.to_string())?;
            let to = std::fs::File::open(&tpath).map_err(|e| e.to_string())?;
            mountapi::move_mount(tree.as_fd(), to.as_fd())
                .map_err(|e| format!("move_mount: {e}"))?;
            let st = nix::sys::stat::stat(&tpath.join("root-owned")).map_err(|e| e.to_string())?;
            // Writes map back too: host root has no id in this map, so it
            // cannot create files here (EOVERFLOW).
            let create = std::fs::write(tpath.join("new"), "z")
                .map_err(|e| format!("{:?}", e.raw_os_error()));
            Ok(format!("{}:{} {create:?}", st.st_uid, st.st_gid))
        })
        .unwrap();
        assert_eq!(r, format!("1000:1000 Err(\"{:?}\")", Some(libc::EOVERFLOW)));
    }
}
