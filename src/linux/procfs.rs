//! TODO(procfs): being written in wt-security; stub signatures only.
use std::os::fd::OwnedFd;
pub struct ProcfsHandle;
impl ProcfsHandle {
    pub fn new() -> crate::Result<ProcfsHandle> {
        Ok(ProcfsHandle)
    }
    pub fn open(&self, _rel: &str, _flags: nix::fcntl::OFlag) -> crate::Result<OwnedFd> {
        Err(crate::Error::invalid("procfs: not yet"))
    }
    pub fn write(&self, _rel: &str, _data: &[u8]) -> crate::Result<()> {
        Err(crate::Error::invalid("procfs: not yet"))
    }
}
