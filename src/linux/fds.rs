//! Descriptors: only stdio and the preserved ones reach the container.
//! Ref: CVE-2024-21626 (a leaked host directory fd became the container's cwd).
//!
//! Also poll(2), for brig's commands on descriptors of their own.

use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::poll::{PollFd, PollTimeout};

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

/// Is `fd` open in this process?
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on any integer is harmless; EBADF means closed.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// poll(2) on `fds` until an event or the timeout, polling again when a
/// signal interrupts it (EINTR): how many descriptors have events.
/// Error: `poll WHAT`.
pub fn poll(fds: &mut [PollFd], timeout: PollTimeout, what: &str) -> Result<usize> {
    loop {
        match nix::poll::poll(fds, timeout) {
            Err(Errno::EINTR) => continue,
            r => return r.map(|n| n as usize).or_sys(|| format!("poll {what}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use nix::poll::PollFlags;

    use super::*;

    #[test]
    fn poll_counts_ready_descriptors() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let mut polled = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        assert_eq!(poll(&mut polled, PollTimeout::ZERO, "pipe").unwrap(), 0);
        nix::unistd::write(&w, b"x").unwrap();
        let mut polled = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        assert_eq!(poll(&mut polled, PollTimeout::NONE, "pipe").unwrap(), 1);
    }
}
