//! Descriptors: only stdio and the preserved ones reach the container.
//! Ref: CVE-2024-21626 (a leaked host directory fd became the container's cwd).
//!
//! Also the calls brig's commands make on descriptors of their own: a
//! non-blocking open and poll(2).

use std::fs::File;
use std::os::fd::RawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::poll::{PollFd, PollTimeout};

use crate::error::{Error, IoResultExt, Result, SysResultExt};

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

/// Open `path` for reading without blocking (O_NONBLOCK): a fifo opens
/// at once, writer or not, and its reads return WouldBlock while empty.
/// Error: `open PATH`.
pub fn open_nonblocking(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .or_io(|| format!("open {}", path.display()))
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
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    use nix::poll::PollFlags;

    use super::*;

    #[test]
    fn fifo_opens_without_a_writer_and_polls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let mut reader = open_nonblocking(&path).unwrap();
        let mut buf = [0u8; 1];
        // No writer yet: end of file at once, not a wait.
        assert_eq!(reader.read(&mut buf).unwrap(), 0);
        let mut polled = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
        assert_eq!(poll(&mut polled, PollTimeout::ZERO, "fifo").unwrap(), 0);
        let mut writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        writer.write_all(b"x").unwrap();
        let mut polled = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
        assert_eq!(poll(&mut polled, PollTimeout::NONE, "fifo").unwrap(), 1);
        assert_eq!(reader.read(&mut buf).unwrap(), 1);
    }

    #[test]
    fn missing_path_names_the_open() {
        let e = open_nonblocking(Path::new("/nonexistent/brig-fifo")).unwrap_err();
        assert_eq!(
            e.chain(),
            "open /nonexistent/brig-fifo: no such file or directory (ENOENT)"
        );
    }
}
