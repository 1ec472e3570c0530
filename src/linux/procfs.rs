//! STUB (wt-apparmor only): the minimal API of the verified procfs handle,
//! just so `linux::apparmor` compiles in this worktree. The integrator takes
//! the procfs helper's real implementation instead of this file.
//! It does NOT verify anything (no fstatfs magic check, no openat2).

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;

use crate::error::{Result, SysResultExt};

/// STUB: a handle on the real procfs.
pub struct ProcfsHandle {
    root: OwnedFd,
}

impl ProcfsHandle {
    /// STUB: opens /proc without verification.
    pub fn new() -> Result<ProcfsHandle> {
        let root = nix::fcntl::open(
            "/proc",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .or_sys(|| "open /proc".to_string())?;
        Ok(ProcfsHandle { root })
    }

    /// STUB: opens `rel` (e.g. "thread-self/attr/apparmor/exec") under /proc.
    pub fn open(&self, rel: &str, flags: OFlag) -> Result<OwnedFd> {
        openat(
            self.root.as_fd(),
            rel,
            flags | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .or_sys(|| format!("open /proc/{rel}"))
    }

    /// STUB: writes `data` to `rel` in one write(2).
    pub fn write(&self, rel: &str, data: &[u8]) -> Result<()> {
        let fd = self.open(rel, OFlag::O_WRONLY)?;
        nix::unistd::write(&fd, data).or_sys(|| format!("write /proc/{rel}"))?;
        Ok(())
    }
}
