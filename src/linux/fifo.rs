//! The exec fifo: `create` makes it, init blocks opening it for writing
//! until `start` opens it for reading (sync 3).

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{chown, mkfifo, Gid, Uid};

use crate::error::{Result, SysResultExt};

/// mkfifo `path` (0622) owned by `owner` (the host ids of the container's
/// root, when it has a new user namespace: init opens the fifo as that
/// user, as runc's does), and an O_PATH descriptor of it for init.
pub fn make_exec_fifo(path: &Path, owner: Option<(Option<u32>, Option<u32>)>) -> Result<OwnedFd> {
    mkfifo(path, Mode::from_bits_truncate(0o622))
        .or_sys(|| format!("mkfifo {}", path.display()))?;
    if let Some((uid, gid)) = owner {
        chown(path, uid.map(Uid::from_raw), gid.map(Gid::from_raw))
            .or_sys(|| format!("chown {} to the container's root", path.display()))?;
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
