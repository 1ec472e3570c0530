//! The new mount API: detached trees (`open_tree`), attaching them
//! (`move_mount`), mount attributes and idmaps (`mount_setattr`) and fresh
//! filesystem instances (`fsopen`/`fsmount`). Each call works on
//! descriptors, never on paths a container could swap.
//! Ref: open_tree(2), move_mount(2), mount_setattr(2), fsopen(2), fsmount(2).

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;

use crate::linux::inroot::fd_path;

// Ref: uapi/linux/mount.h; libc has these but not on every target we build.
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;

fn cpath(p: &Path) -> std::result::Result<CString, Errno> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// open_tree(OPEN_TREE_CLONE): a detached copy of the mount at `path`
/// (relative to `dirfd`, which may be `AT_FDCWD`; an empty path means
/// `dirfd` itself).
pub fn clone_tree(
    dirfd: BorrowedFd<'_>,
    path: &Path,
    recursive: bool,
) -> std::result::Result<OwnedFd, Errno> {
    let c = cpath(path)?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    if path.as_os_str().is_empty() {
        flags |= libc::AT_EMPTY_PATH as libc::c_uint;
    }
    // SAFETY: c is a valid NUL-terminated string that outlives the call; the
    // kernel returns a new fd or -1, checked by Errno::result.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, dirfd.as_raw_fd(), c.as_ptr(), flags) };
    Errno::result(fd)?;
    // SAFETY: open_tree returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// move_mount the detached (or attached) mount `from` onto the object `to`.
pub fn move_mount(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> std::result::Result<(), Errno> {
    let empty = c"";
    // SAFETY: both paths are the static empty string; the fds are borrowed
    // and live for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            empty.as_ptr(),
            to.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(r).map(drop)
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr on the mount `fd` refers to (and below it if `recursive`).
pub fn mount_setattr(
    fd: BorrowedFd<'_>,
    set: u64,
    clr: u64,
    recursive: bool,
) -> std::result::Result<(), Errno> {
    if set == 0 && clr == 0 {
        return Ok(());
    }
    setattr(fd, set, clr, 0, recursive)
}

/// Make the detached mount `fd` idmapped with the id maps of the user
/// namespace `userns` (MOUNT_ATTR_IDMAP). Ref: mount_setattr(2).
pub fn set_idmap(
    fd: BorrowedFd<'_>,
    userns: BorrowedFd<'_>,
    recursive: bool,
) -> std::result::Result<(), Errno> {
    setattr(
        fd,
        libc::MOUNT_ATTR_IDMAP,
        0,
        userns.as_raw_fd() as u64,
        recursive,
    )
}

fn setattr(
    fd: BorrowedFd<'_>,
    set: u64,
    clr: u64,
    userns_fd: u64,
    recursive: bool,
) -> std::result::Result<(), Errno> {
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd,
    };
    // SAFETY: attr is a valid mount_attr (VER0 layout, 32 bytes) that lives
    // for the call; the path is the static empty string.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(r).map(drop)
}

/// A fresh, detached, empty tmpfs mount with mount attributes `attrs`,
/// for masking directories after pivot without going through the
/// container's /proc.
pub fn new_tmpfs(attrs: u64) -> std::result::Result<OwnedFd, Errno> {
    new_fs(c"tmpfs", attrs)
}

/// fsopen + fsconfig(CREATE) + fsmount: a fresh, detached instance of the
/// filesystem `fstype` (one that needs no source) with mount attributes
/// `attrs`. Ref: fsopen(2), fsconfig(2), fsmount(2).
pub fn new_fs(fstype: &CStr, attrs: u64) -> std::result::Result<OwnedFd, Errno> {
    new_fs_with(fstype, &[], attrs)
}

const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;

/// fsopen + fsconfig (each `(key, value)`; a value of None is a flag) +
/// CREATE + fsmount: a detached instance of `fstype`. Ref: fsconfig(2).
pub fn new_fs_with(
    fstype: &CStr,
    params: &[(&str, Option<&str>)],
    attrs: u64,
) -> std::result::Result<OwnedFd, Errno> {
    // SAFETY: NUL-terminated name; returns a new fd or -1.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), libc::FSOPEN_CLOEXEC) };
    Errno::result(fs)?;
    // SAFETY: fsopen returned a fresh descriptor that nothing else owns.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as i32) };
    for (key, value) in params {
        let key = std::ffi::CString::new(*key).map_err(|_| Errno::EINVAL)?;
        let value = value
            .map(|v| std::ffi::CString::new(v).map_err(|_| Errno::EINVAL))
            .transpose()?;
        let (cmd, vp) = match &value {
            Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
            None => (FSCONFIG_SET_FLAG, std::ptr::null()),
        };
        // SAFETY: NUL-terminated key and value (or none for a flag) that
        // outlive the call.
        let r =
            unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, key.as_ptr(), vp, 0) };
        Errno::result(r)?;
    }
    // SAFETY: FSCONFIG_CMD_CREATE takes no key, value or aux.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    Errno::result(r)?;
    // SAFETY: fs is a configured fs context.
    let m = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            libc::FSMOUNT_CLOEXEC,
            attrs,
        )
    };
    Errno::result(m)?;
    // SAFETY: fsmount returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(m as i32) })
}

/// Propagation change (`MS_SLAVE|MS_REC`, ...) on a mount reached via fd.
pub fn set_propagation(fd: BorrowedFd<'_>, flags: MsFlags) -> std::result::Result<(), Errno> {
    nix::mount::mount(
        None::<&str>,
        fd_path(fd.as_fd()).as_str(),
        None::<&str>,
        flags,
        None::<&str>,
    )
}
