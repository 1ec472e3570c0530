//! TODO(apparmor): stub.
use crate::linux::procfs::ProcfsHandle;
pub fn enabled() -> bool {
    false
}
pub fn check(_p: &str) -> crate::Result<()> {
    Err(crate::Error::invalid("apparmor: not yet"))
}
pub fn apply_on_exec(_p: &ProcfsHandle, _profile: &str) -> crate::Result<()> {
    Err(crate::Error::invalid("apparmor: not yet"))
}
