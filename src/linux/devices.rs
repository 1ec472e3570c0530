//! Device nodes in the container's /dev: the default set when /dev is a
//! tmpfs, `linux.devices`, and the /dev symlinks. Created inside the rootfs
//! through directory fds resolved with RESOLVE_IN_ROOT; in a user namespace
//! (where mknod is refused) the host's node is bind-mounted instead.
//! Ref: config-linux.md "Devices", "Default Devices"; SECURITY.md class 1.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstatat, makedev, mknodat, umask, Mode, SFlag};
use nix::unistd::{symlinkat, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use crate::error::{Context, Error, Result, SysResultExt};
use crate::linux::inroot::{clean_relative, mkdir_all_in_root, open_in_root};
use crate::linux::mountapi::{clone_tree, move_mount};

/// One device node to create.
struct Node<'a> {
    path: &'a Path,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// Ref: config-linux.md "Default Devices".
const DEFAULTS: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The default devices, /dev/shm, and the /dev symlinks (runc's set, minus
/// /dev/core: /proc/kcore is nothing a container should be pointed at).
/// Runs after `linux.devices` ([`create_devices`]): a default whose path
/// the config names is the config's, and /dev/ptmx always becomes the
/// symlink to the container's own devpts instance (runc's order).
pub(crate) fn default_devices(
    root: BorrowedFd<'_>,
    userns: bool,
    configured: &[LinuxDevice],
) -> Result<()> {
    for (path, major, minor) in DEFAULTS {
        if configured.iter().any(|d| d.path() == Path::new(path)) {
            continue;
        }
        let node = Node {
            path: Path::new(path),
            kind: SFlag::S_IFCHR,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        };
        make_node(root, &node, userns).context(|| format!("create device {path}"))?;
    }
    mkdir_all_in_root(root, Path::new("/dev/shm"))?;
    let dev = mkdir_all_in_root(root, Path::new("/dev"))?;
    let links = [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ];
    for (target, name) in links {
        if name == "ptmx" {
            match nix::unistd::unlinkat(&dev, name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(e) => return Err(Error::sys("remove /dev/ptmx", e)),
            }
        }
        match symlinkat(target, &dev, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys(format!("symlink /dev/{name} -> {target}"), e)),
        }
    }
    Ok(())
}

/// `linux.devices`: mknod with the given mode and owner, or a bind of the
/// host's node of the same path in a user namespace.
pub(crate) fn create_devices(
    root: BorrowedFd<'_>,
    devices: &[LinuxDevice],
    userns: bool,
) -> Result<()> {
    for d in devices {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::invalid(format!(
                    "device {}: invalid type \"a\"",
                    d.path().display()
                )))
            }
        };
        let node = Node {
            path: d.path(),
            kind,
            major: d.major().max(0) as u64,
            minor: d.minor().max(0) as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        make_node(root, &node, userns)
            .context(|| format!("create device {}", d.path().display()))?;
    }
    Ok(())
}

fn make_node(root: BorrowedFd<'_>, n: &Node<'_>, userns: bool) -> Result<()> {
    let rel = clean_relative(n.path);
    if !rel.starts_with("dev") || rel.parent().is_none_or(|p| p.as_os_str().is_empty()) {
        return Err(Error::invalid(format!(
            "device path {:?} is not under /dev",
            n.path
        )));
    }
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Err(Error::invalid(format!("invalid device path {:?}", n.path)));
    };
    let dir = mkdir_all_in_root(root, parent)?;
    let rdev = makedev(n.major, n.minor);
    if userns {
        return bind_host_node(root, &dir, name, n);
    }
    // umask would strip the requested mode bits; nothing else runs here.
    let old = umask(Mode::empty());
    let made = mknodat(&dir, name, n.kind, Mode::from_bits_truncate(n.mode), rdev);
    umask(old);
    match made {
        Ok(()) => {}
        Err(Errno::EEXIST) => return check_existing(&dir, name, n),
        Err(e) => return Err(Error::sys("mknod", e)),
    }
    nix::unistd::fchownat(
        &dir,
        name,
        Some(Uid::from_raw(n.uid)),
        Some(Gid::from_raw(n.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .or_sys(|| format!("chown to {}:{}", n.uid, n.gid))
}

/// A node already there (a spec mount or the image put it there) is fine
/// only if it is the very device asked for; a symlink never is.
fn check_existing(dir: &OwnedFd, name: &std::ffi::OsStr, n: &Node<'_>) -> Result<()> {
    let st = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).or_sys(|| "stat".into())?;
    let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
    if kind == n.kind && st.st_rdev == makedev(n.major, n.minor) {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "{} exists and is not device {}:{}",
        n.path.display(),
        n.major,
        n.minor
    )))
}

fn bind_host_node(
    root: BorrowedFd<'_>,
    dir: &OwnedFd,
    name: &std::ffi::OsStr,
    n: &Node<'_>,
) -> Result<()> {
    match nix::fcntl::openat(
        dir,
        name,
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    ) {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(Error::sys("create mount point", e)),
    }
    // The mount point itself must not be a symlink the image planted.
    let target = open_in_root(root, n.path, OFlag::empty(), true)
        .or_sys(|| format!("open {}", n.path.display()))?;
    let tree = clone_tree(nix::fcntl::AT_FDCWD, n.path, false)
        .or_sys(|| format!("clone host {}", n.path.display()))?;
    move_mount(tree.as_fd(), target.as_fd()).or_sys(|| format!("bind host {}", n.path.display()))
}

/// The container's /dev/null, refused unless it is the real 1:3 character
/// device and not a symlink (CVE-2025-31133: masking by binding a planted
/// /dev/null would expose what it points to).
pub(crate) fn verified_dev_null(root: BorrowedFd<'_>) -> Result<OwnedFd> {
    let fd = open_in_root(root, Path::new("/dev/null"), OFlag::empty(), true)
        .or_sys(|| "open /dev/null".into())?;
    let st = nix::sys::stat::fstat(&fd).or_sys(|| "stat /dev/null".into())?;
    let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
    if kind != SFlag::S_IFCHR || st.st_rdev != makedev(1, 3) {
        return Err(Error::invalid("/dev/null is not the 1:3 character device"));
    }
    Ok(fd)
}
