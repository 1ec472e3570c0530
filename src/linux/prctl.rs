//! prctl(2) settings of the calling process.

use std::ffi::CStr;

use crate::error::{Result, SysResultExt};

/// The name `ps` shows (`brig:[2:INIT]`), so a hung stage is visible.
/// At most 15 bytes are kept.
pub fn set_name(name: &CStr) {
    // SAFETY: PR_SET_NAME copies at most 16 bytes from a valid C string.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) };
}

/// Nobody else (a process in the container) may ptrace us or open our
/// /proc entries; execve resets this. Inherited by children.
/// Ref: CVE-2019-5736.
pub fn set_not_dumpable() -> Result<()> {
    nix::sys::prctl::set_dumpable(false).or_sys(|| "prctl PR_SET_DUMPABLE 0".into())
}

/// No execve from here on can gain privileges (setuid bits, file
/// capabilities); needed to load a seccomp filter without CAP_SYS_ADMIN.
pub fn set_no_new_privs() -> Result<()> {
    nix::sys::prctl::set_no_new_privs().or_sys(|| "prctl PR_SET_NO_NEW_PRIVS".into())
}
