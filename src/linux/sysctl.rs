//! TODO(sysctl): stub.
use crate::linux::procfs::ProcfsHandle;
use oci_spec::runtime::Spec;
use std::collections::HashMap;
pub fn validate(_spec: &Spec) -> crate::Result<()> {
    Ok(())
}
pub fn apply(_p: &ProcfsHandle, _s: &HashMap<String, String>) -> crate::Result<()> {
    Ok(())
}
