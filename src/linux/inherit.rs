//! Descriptors the parent opens for init, which init takes over by number
//! after its re-exec (the numbers cross the init channel).

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{IoResultExt, Result};

/// `--log` opened once more, in append mode and close-on-exec, for init
/// (which may run as a user that could not open it, and inside the
/// container's mount namespace).
pub fn open_append(path: &Path) -> Result<OwnedFd> {
    let f = std::fs::OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .or_io(|| format!("open {}", path.display()))?;
    Ok(OwnedFd::from(f))
}

/// An inherited descriptor number becomes owned.
///
/// The caller must pass a number this process inherited for it alone (the
/// parent's [`crate::process::messages::InitFds`], or the channel's
/// number in the environment), and take each number once.
pub fn take(fd: RawFd) -> OwnedFd {
    // SAFETY: per the contract above: fd is open (it was inherited across
    // execve with close-on-exec cleared) and nothing else in this fresh
    // image owns it, so the OwnedFd is its only owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
