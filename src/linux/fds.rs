//! Descriptors: only stdio and the preserved ones reach the container.
//! Ref: CVE-2024-21626 (a leaked host directory fd became the container's cwd).

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};

use crate::error::{Error, Result, SysResultExt};

const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// Mark every descriptor from `first` up close-on-exec, so that execve
/// closes whatever brig still holds. One syscall, no /proc walk.
pub fn cloexec_from(first: RawFd) -> Result<()> {
    // SAFETY: close_range with CLOEXEC only changes flags; no fd is closed
    // under a live owner.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc < 0 {
        return Err(Error::sys(
            format!("close_range {first}.. CLOEXEC"),
            Errno::last(),
        ));
    }
    Ok(())
}

/// Let `fd` survive execve.
pub fn clear_cloexec(fd: RawFd) -> Result<()> {
    // SAFETY: the caller passes an fd it knows is open; F_SETFD only changes
    // its flags.
    let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    fcntl(bfd, FcntlArg::F_SETFD(FdFlag::empty()))
        .map(drop)
        .or_sys(|| format!("clear close-on-exec on fd {fd}"))
}

/// Make reads and writes on `fd` fail with EAGAIN instead of blocking (the
/// file status flags become O_NONBLOCK alone: for pipes brig made).
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<()> {
    fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
        .map(drop)
        .or_sys(|| format!("set fd {} non-blocking", fd.as_raw_fd()))
}

/// Is `fd` open in this process?
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on any integer is harmless; EBADF means closed.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}
