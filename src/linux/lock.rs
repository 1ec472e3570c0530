//! Advisory whole-file locks: one per container, so that two commands
//! changing it never interleave.
//! Ref: flock(2).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, IoResultExt, Result};

/// An exclusive lock, released when it drops (its descriptor closes).
pub struct FileLock {
    _flock: Flock<File>,
}

/// Open `path` (created 0600 if missing; close-on-exec, as std opens every
/// file) and lock it exclusively, waiting while another holds it.
/// Errors: `open PATH`, `lock PATH`.
pub fn lock_exclusive(path: &Path) -> Result<FileLock> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .or_io(|| format!("open {}", path.display()))?;
    let flock = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::sys(format!("lock {}", path.display()), e))?;
    Ok(FileLock { _flock: flock })
}

#[cfg(test)]
mod tests {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};

    use super::*;

    #[test]
    fn exclusive_and_not_inherited() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let held = lock_exclusive(&path).unwrap();
        // The descriptor must not reach a container across execve.
        let flags = fcntl(&*held._flock, FcntlArg::F_GETFD).unwrap();
        assert!(FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC));
        // A second open file description cannot take it while held.
        let other = File::open(&path).unwrap();
        assert!(Flock::lock(other, FlockArg::LockExclusiveNonblock).is_err());
        drop(held);
        let other = File::open(&path).unwrap();
        let again = Flock::lock(other, FlockArg::LockExclusiveNonblock);
        assert!(again.is_ok(), "{}", path.display());
    }
}
