//! TODO(userns): stub.
use crate::linux::procfs::ProcfsHandle;
use oci_spec::runtime::{LinuxIdMapping, Spec};
pub fn validate(_spec: &Spec) -> crate::Result<()> {
    Ok(())
}
pub fn write_maps(
    _p: &ProcfsHandle,
    _pid: nix::unistd::Pid,
    _u: &[LinuxIdMapping],
    _g: &[LinuxIdMapping],
) -> crate::Result<()> {
    Err(crate::Error::invalid("userns: not yet"))
}
