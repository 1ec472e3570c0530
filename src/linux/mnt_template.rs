//! The template mount namespace: container start that does not grow with
//! the host's mount table (issue 15).
//!
//! A new mount namespace is a copy of its creator's: on a node with a
//! thousand mounts, clone(CLONE_NEWNS) copies a thousand, `/` made rslave
//! walks them, the detach of the old root after pivot_root unmounts them,
//! and each container pays that. Instead brig keeps one mount namespace
//! holding a single empty, read-only tmpfs, pinned at [`PIN`]. Init enters
//! it and unshares its own copy of it ([`enter`]: one mount), mounts a
//! fresh tmpfs of its own on top, and attaches the root filesystem the
//! parent cloned on the host (open_tree) at the same path as on the host
//! ([`attach_root`]), so every later step reads as before. Everything else
//! the container takes from the host comes as a detached tree the parent
//! made (bind sources, the cgroup binds): nothing in the container's mount
//! namespace leads to the host's.
//!
//! Nothing of a container stays in the template: init is in it only
//! between setns and unshare, and changes nothing there; its own mounts
//! are on the tmpfs it makes in its copy. The host changes once: a private
//! tmpfs at [`PIN_DIR`] holding the pin (two mounts, made under a lock,
//! checked at every use: an nsfs mount namespace of brig's own user
//! namespace, holding one mount).
//! Ref: mount_namespaces(7), setns(2), open_tree(2), ioctl_ns(2).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;

use crate::error::{Error, IoResultExt, Result, SysResultExt};
use crate::linux::mount::{
    MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
};
use crate::linux::mountapi::{move_mount, new_fs_with};

/// A private tmpfs of brig's, so the pin (an nsfs bind) cannot propagate
/// to another mount namespace (the kernel refuses that, and would refuse
/// the pin on a shared /run).
pub const PIN_DIR: &str = "/run/brig/.mnt-template";
/// The pinned template namespace.
pub const PIN: &str = "/run/brig/.mnt-template/mnt";

const NSFS_MAGIC: i64 = 0x6e73_6673;
// Ref: uapi/linux/nsfs.h.
const NS_GET_USERNS: libc::c_ulong = 0xb701;
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
/// _IOR(0xb7, 10, struct mnt_ns_info) (Linux 6.12).
const NS_MNT_GET_INFO: libc::c_ulong = 0x8010_b70a;

/// The template, made if missing, as a descriptor of its namespace; an
/// error when this host cannot have one (the caller goes the old way).
pub fn open_or_make() -> Result<OwnedFd> {
    if let Ok(fd) = open_checked() {
        return Ok(fd);
    }
    // brig's default state root: only root may list it (as runc's).
    private_dir("/run/brig")?;
    let lock_path = Path::new("/run/brig/.mnt-template.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(lock_path)
        .or_io(|| format!("open {}", lock_path.display()))?;
    nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::sys("lock the mount namespace template", e))
        .and_then(|_held| {
            // Another brig may have made it while we waited.
            if let Ok(fd) = open_checked() {
                return Ok(fd);
            }
            make()?;
            open_checked()
        })
}

/// The pinned namespace, if it is what brig made: an nsfs mount
/// namespace owned by our user namespace, holding exactly one mount.
fn open_checked() -> Result<OwnedFd> {
    let fd = open(PIN, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .or_sys(|| format!("open {PIN}"))?;
    let st = nix::sys::statfs::fstatfs(&fd).or_sys(|| format!("statfs {PIN}"))?;
    if st.filesystem_type().0 as i64 != NSFS_MAGIC {
        return Err(Error::invalid(format!("{PIN} is not a namespace")));
    }
    // SAFETY: NS_GET_NSTYPE takes no argument and returns the type.
    let typ = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    if typ != libc::CLONE_NEWNS {
        return Err(Error::invalid(format!("{PIN} is not a mount namespace")));
    }
    // SAFETY: NS_GET_USERNS takes no argument and returns a new fd or -1.
    let owner = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_USERNS) };
    let owner = Errno::result(owner).or_sys(|| format!("owner of {PIN}"))?;
    // SAFETY: a fresh descriptor from the kernel, ours alone.
    let owner = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(owner) };
    let a = nix::sys::stat::fstat(&owner).or_sys(|| format!("stat owner of {PIN}"))?;
    let b = std::fs::metadata("/proc/self/ns/user").or_io(|| "stat /proc/self/ns/user".into())?;
    if (a.st_dev, a.st_ino) != (b.dev(), b.ino()) {
        return Err(Error::invalid(format!(
            "{PIN} belongs to another user namespace"
        )));
    }
    // struct mnt_ns_info { u32 size; u32 nr_mounts; u64 mnt_ns_id; }
    let mut info: [u32; 4] = [16, 0, 0, 0];
    // SAFETY: info is a writable mnt_ns_info of the size it gives.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), NS_MNT_GET_INFO, info.as_mut_ptr()) };
    match Errno::result(r) {
        Ok(_) => {}
        // Before Linux 6.12 the kernel cannot count them: the other
        // checks hold, and only brig writes under PIN_DIR.
        Err(Errno::ENOTTY | Errno::EINVAL) => return Ok(fd),
        Err(e) => return Err(Error::sys(format!("count the mounts of {PIN}"), e)),
    }
    if info[1] != 1 {
        return Err(Error::invalid(format!(
            "{PIN} holds {} mounts, not the one brig made",
            info[1]
        )));
    }
    Ok(fd)
}

/// Make the template (under the lock): the private tmpfs at [`PIN_DIR`],
/// a namespace holding one empty read-only tmpfs (made on a thread of its
/// own, so brig's mount namespace, root and cwd never change), pinned.
fn make() -> Result<()> {
    private_dir(PIN_DIR)?;
    let dir_is_ours = std::fs::metadata(PIN_DIR)
        .ok()
        .zip(std::fs::metadata("/run/brig").ok())
        .is_some_and(|(d, p)| d.dev() != p.dev());
    if !dir_is_ours {
        nix::mount::mount(
            Some("brig-mnt-template"),
            PIN_DIR,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("mode=0700,size=16k"),
        )
        .or_sys(|| format!("mount a tmpfs on {PIN_DIR}"))?;
    }
    nix::mount::mount(
        None::<&str>,
        PIN_DIR,
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .or_sys(|| format!("make {PIN_DIR} private"))?;
    // A stale pin (one that failed the check) goes first.
    match umount2(PIN, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => {}
        Err(e) => return Err(Error::sys(format!("unmount the stale {PIN}"), e)),
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(PIN)
        .or_io(|| format!("create {PIN}"))?;
    let (tx, rx) = std::sync::mpsc::channel::<libc::pid_t>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        let t = s.spawn(move || -> Result<()> {
            nix::sched::unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS)
                .or_sys(|| "unshare a mount namespace for the template".into())?;
            nix::mount::mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_PRIVATE | MsFlags::MS_REC,
                None::<&str>,
            )
            .or_sys(|| "make the template's copy private".into())?;
            let attrs =
                MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
            // Read-only as a mount and as a filesystem: every container's
            // copy shares this superblock.
            let tmpfs = new_fs_with(c"tmpfs", &[("mode", Some("0755")), ("ro", None)], attrs)
                .or_sys(|| "make the template's tmpfs".into())?;
            let at = open(
                PIN_DIR,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .or_sys(|| format!("open {PIN_DIR}"))?;
            move_mount(tmpfs.as_fd(), at.as_fd())
                .or_sys(|| "attach the template's tmpfs".into())?;
            nix::unistd::fchdir(&tmpfs).or_sys(|| "chdir into the template's tmpfs".into())?;
            // Only the tmpfs is left: the copy of the host's mounts is
            // stacked under it by pivot_root and detached.
            nix::unistd::pivot_root(".", ".").or_sys(|| "pivot_root into the template".into())?;
            umount2(".", MntFlags::MNT_DETACH)
                .or_sys(|| "detach the host's mounts from the template".into())?;
            nix::unistd::chdir("/").or_sys(|| "chdir /".into())?;
            // SAFETY: gettid has no preconditions.
            let _ = tx.send(unsafe { libc::gettid() });
            // Alive until the namespace is pinned.
            let _ = done_rx.recv();
            Ok(())
        });
        let pinned = match rx.recv() {
            Ok(tid) => {
                let ns = format!("/proc/self/task/{tid}/ns/mnt");
                nix::mount::mount(
                    Some(ns.as_str()),
                    PIN,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .or_sys(|| format!("pin the mount namespace template on {PIN}"))
            }
            Err(_) => Ok(()),
        };
        let _ = done_tx.send(());
        let made = t
            .join()
            .unwrap_or_else(|_| Err(Error::invalid("the template thread panicked")));
        made.and(pinned)
    })
}

/// `mkdir -p` with mode 0700 for what it makes.
fn private_dir(path: &str) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .or_io(|| format!("mkdir {path}"))
}

/// Init: into a copy of the template (`template` is the descriptor the
/// parent checked). Init is single-threaded and the host's root here.
pub fn enter(template: BorrowedFd<'_>) -> Result<()> {
    nix::sched::setns(template, CloneFlags::CLONE_NEWNS)
        .or_sys(|| "enter the mount namespace template".into())?;
    nix::sched::unshare(CloneFlags::CLONE_NEWNS)
        .or_sys(|| "unshare a mount namespace from the template".into())
}

/// Init, in its copy of the template: a tmpfs of its own over the
/// template's root, the host's `rootfs` tree attached at the same path in
/// it (so every later step names it as before), and that tmpfs as our
/// root. `tree` is the parent's open_tree of the root filesystem.
pub fn attach_root(rootfs: &Path, tree: BorrowedFd<'_>) -> Result<()> {
    let top = new_fs_with(
        c"tmpfs",
        &[("mode", Some("0755"))],
        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    )
    .or_sys(|| "make a tmpfs for the container's root".into())?;
    // Its directories first: /proc and the path of the root filesystem.
    match nix::sys::stat::mkdirat(&top, "proc", Mode::from_bits_truncate(0o555)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(Error::sys("mkdir /proc in the container's tmpfs", e)),
    }
    let mut dir: OwnedFd = open_dir_at(top.as_fd(), Path::new("."))?;
    for c in rootfs.components() {
        let Component::Normal(name) = c else { continue };
        match nix::sys::stat::mkdirat(&dir, name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys(format!("mkdir {}", rootfs.display()), e)),
        }
        dir = open_dir_at(dir.as_fd(), Path::new(name))?;
    }
    // Attached before anything is mounted on it: a kernel before 6.15
    // mounts only onto mounts of the caller's own namespace (EINVAL on a
    // detached tree).
    let slash = open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .or_sys(|| "open /".into())?;
    move_mount(top.as_fd(), slash.as_fd()).or_sys(|| "mount the container's tmpfs on /".into())?;
    // A procfs of the container's pid namespace at /proc of that tmpfs:
    // brig mounts through /proc/self/fd/N, and there is no other /proc
    // in here. It goes with the tmpfs at pivot_root.
    let proc_dir = open_dir_at(top.as_fd(), Path::new("proc"))?;
    let procfs = crate::linux::mountapi::new_fs(
        c"proc",
        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
    )
    .or_sys(|| "mount a procfs for the container's setup".into())?;
    move_mount(procfs.as_fd(), proc_dir.as_fd()).or_sys(|| "attach the setup procfs".into())?;
    move_mount(tree, dir.as_fd())
        .or_sys(|| format!("attach the rootfs {} in the container", rootfs.display()))?;
    nix::unistd::fchdir(&top).or_sys(|| "chdir into the container's tmpfs".into())?;
    nix::unistd::chroot(".").or_sys(|| "chroot into the container's tmpfs".into())
}

fn open_dir_at(at: BorrowedFd<'_>, name: &Path) -> Result<OwnedFd> {
    nix::fcntl::openat(
        at,
        name,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .or_sys(|| format!("open {}", name.display()))
}
