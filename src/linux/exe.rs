//! A read-only view of brig's own binary for the container's init to run.
//!
//! CVE-2019-5736: a process inside the container that can reach
//! `/proc/<pid>/exe` of a runtime process could reopen the host's runtime
//! binary for writing. brig's init therefore never runs from the host path:
//! the parent clones a detached bind mount of the binary (`open_tree`),
//! makes that mount read-only (`mount_setattr`) and re-executes from it, so
//! every `/proc/<pid>/exe` a container can see points into a read-only mount
//! with no parent to climb to. Cost: two syscalls and the exec the init needs
//! anyway. Where the new mount API is missing, fall back to a sealed memfd
//! copy (what runc 1.1 does on every start).
//! Ref: CVE-2019-5736; open_tree(2), mount_setattr(2), memfd_create(2).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;

use crate::error::{Error, IoResultExt, Result, SysResultExt};
use crate::linux::{mount, mountapi};
use nix::fcntl::AT_FDCWD;

/// An O_PATH descriptor of brig's binary that cannot be written through.
pub fn protected_self() -> Result<OwnedFd> {
    match readonly_bind() {
        Ok(fd) => Ok(fd),
        Err(e) => {
            tracing::debug!(
                "read-only bind of brig's binary failed ({}); copying to a sealed memfd",
                e.chain()
            );
            sealed_copy()
        }
    }
}

fn readonly_bind() -> Result<OwnedFd> {
    // The magic link resolves to the binary: a detached bind of it alone.
    let fd = mountapi::clone_tree(AT_FDCWD, Path::new("/proc/self/exe"), false)
        .or_sys(|| "open_tree /proc/self/exe".into())?;
    mountapi::mount_setattr(fd.as_fd(), mount::MOUNT_ATTR_RDONLY, 0, false)
        .or_sys(|| "mount_setattr read-only on brig's binary".into())?;
    Ok(fd)
}

fn sealed_copy() -> Result<OwnedFd> {
    let name = CString::new("brig").expect("no NUL");
    // SAFETY: valid C string, flags are constants; returns an fd or -1.
    let raw =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if raw < 0 {
        return Err(Error::sys("memfd_create", Errno::last()));
    }
    // SAFETY: raw was just created and is ours.
    let mut memfd = unsafe { File::from_raw_fd(raw) };
    let mut exe = File::open("/proc/self/exe").or_io(|| "open /proc/self/exe".into())?;
    std::io::copy(&mut exe, &mut memfd).or_io(|| "copy brig's binary to a memfd".into())?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on an fd we own with a constant argument.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(Error::sys("seal brig's memfd copy", Errno::last()));
    }
    Ok(memfd.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_binary_cannot_be_reopened_for_writing() {
        crate::skip::require_root!();
        let fd = protected_self().expect("protected_self");
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap_err();
        let errno = err.raw_os_error().unwrap();
        assert!(
            errno == libc::EROFS || errno == libc::EPERM || errno == libc::ETXTBSY,
            "{err}"
        );
        // Still the same program, readable.
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(
            meta.len(),
            std::fs::metadata("/proc/self/exe").unwrap().len()
        );
    }
}
