//! The exec fifo: `create` makes it, init blocks opening it for writing
//! until `start` opens it for reading (sync 3).

use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{chown, mkfifo, Gid, Uid};

use crate::error::{IoResultExt, Result, SysResultExt};

/// Who opens the exec fifo for writing: init, as the container's root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FifoWriter {
    /// The host's root (no user namespace).
    HostRoot,
    /// These host ids (a new user namespace's root): they own the fifo.
    Owner(Option<u32>, Option<u32>),
    /// A root whose host ids brig does not know (a user namespace joined
    /// by path): the fifo is 0622 whatever the umask, as runc makes it.
    /// Only root reaches it: the state root is 0700.
    Anyone,
}

/// mkfifo `path` for `writer`, and an O_PATH descriptor of it for init.
pub fn make_exec_fifo(path: &Path, writer: FifoWriter) -> Result<OwnedFd> {
    mkfifo(path, Mode::from_bits_truncate(0o622))
        .or_sys(|| format!("mkfifo {}", path.display()))?;
    let anyone = || {
        nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            path,
            Mode::from_bits_truncate(0o622),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .or_sys(|| format!("chmod 0622 {}", path.display()))
    };
    match writer {
        FifoWriter::HostRoot => {}
        FifoWriter::Owner(uid, gid) => {
            match chown(path, uid.map(Uid::from_raw), gid.map(Gid::from_raw)) {
                Ok(()) => {}
                // An ordinary user may not give a file away (a container
                // root mapped to a subuid): 0622 instead, as for a joined
                // namespace; only init's descriptor reaches it, the state
                // root being the user's own 0700 directory.
                Err(nix::errno::Errno::EPERM) if crate::rootless::is_rootless() => anyone()?,
                Err(e) => {
                    return Err(e)
                        .or_sys(|| format!("chown {} to the container's root", path.display()))
                }
            }
        }
        FifoWriter::Anyone => anyone()?,
    }
    open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .or_sys(|| format!("open {}", path.display()))
}

/// Init: block until `start` opens the fifo for reading, then tell it we
/// are going (one byte). `fifo` is the parent's O_PATH descriptor; it is
/// reopened for writing through `procfs` (the container's private procfs,
/// which nothing mounted in the container can redirect). Returns the fifo,
/// open for writing and close-on-exec: its closing at execve tells a
/// waiting `start` that the program runs.
pub fn wait_for_start(
    fifo: OwnedFd,
    procfs: &crate::linux::procfs::ProcfsHandle,
) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let mut f = std::fs::File::from(
        procfs
            .reopen(fifo.as_raw_fd(), OFlag::O_WRONLY)
            .map_err(|e| e.context("open exec fifo"))?,
    );
    std::io::Write::write_all(&mut f, b"0")
        .map_err(|e| crate::error::Error::io("write exec fifo", e))?;
    Ok(f)
}

/// `start`: open the fifo for reading without blocking (O_NONBLOCK; and
/// close-on-exec, as std opens every file). We are the reader init's
/// blocking open waits for; until init has opened it a read is end of
/// file, then WouldBlock until its byte comes. Error: `open PATH`.
pub fn open_for_start(path: &Path) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .or_io(|| format!("open {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    use nix::poll::{PollFd, PollFlags, PollTimeout};

    use super::*;
    use crate::linux::poll::wait as poll;

    #[test]
    fn start_opens_without_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exec.fifo");
        mkfifo(&path, Mode::from_bits_truncate(0o600)).unwrap();
        let mut reader = open_for_start(&path).unwrap();
        let mut buf = [0u8; 1];
        // No writer yet: end of file at once, not a wait.
        assert_eq!(reader.read(&mut buf).unwrap(), 0);
        let mut polled = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
        assert_eq!(poll(&mut polled, PollTimeout::ZERO, "fifo").unwrap(), 0);
        let mut writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        writer.write_all(b"0").unwrap();
        let mut polled = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
        assert_eq!(poll(&mut polled, PollTimeout::NONE, "fifo").unwrap(), 1);
        assert_eq!(reader.read(&mut buf).unwrap(), 1);
        // The writer is there, with nothing more to say: WouldBlock.
        let e = reader.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    }

    #[test]
    fn missing_fifo_names_the_open() {
        let e = open_for_start(Path::new("/nonexistent/exec.fifo")).unwrap_err();
        assert_eq!(
            e.chain(),
            "open /nonexistent/exec.fifo: no such file or directory (ENOENT)"
        );
    }
}
