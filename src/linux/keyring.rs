//! Session keyrings. Ref: keyctl(2), KEYCTL_JOIN_SESSION_KEYRING.

use std::ffi::CString;

use nix::errno::Errno;

use crate::error::{Error, Result};

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;

/// Join a new session keyring called `name`, so a container does not share
/// the host's (runc names it `_ses.<id>`). ENOSYS (a kernel without
/// keyrings) is not an error.
pub fn join_new_session(name: &str) -> Result<()> {
    let c = CString::new(name)
        .map_err(|_| Error::invalid(format!("keyring name {name:?} contains a NUL byte")))?;
    // SAFETY: keyctl with a valid C string name; the kernel copies it.
    let rc = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, c.as_ptr()) };
    if rc < 0 {
        let e = Errno::last();
        if e != Errno::ENOSYS {
            return Err(Error::sys("join a new session keyring", e));
        }
    }
    Ok(())
}
