//! The uts namespace's names. Ref: sethostname(2), setdomainname(2).

use nix::errno::Errno;

use crate::error::{Error, Result, SysResultExt};

pub fn set_hostname(name: &str) -> Result<()> {
    nix::unistd::sethostname(name).or_sys(|| format!("sethostname {name:?}"))
}

pub fn set_domainname(name: &str) -> Result<()> {
    // SAFETY: pointer and length describe a live byte slice.
    let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if rc < 0 {
        return Err(Error::sys(format!("setdomainname {name:?}"), Errno::last()));
    }
    Ok(())
}
