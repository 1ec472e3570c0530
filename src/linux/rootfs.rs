//! TODO(rootfs): being written in wt-rootfs; stub signatures only.
use oci_spec::runtime::Spec;
use std::path::Path;
pub fn validate(_spec: &Spec) -> crate::Result<()> {
    Ok(())
}
pub fn prepare(_spec: &Spec, _rootfs: &Path) -> crate::Result<()> {
    Err(crate::Error::invalid("rootfs: not yet"))
}
pub fn pivot(_rootfs: &Path, _no_pivot: bool) -> crate::Result<()> {
    Err(crate::Error::invalid("pivot: not yet"))
}
pub fn finish(_spec: &Spec) -> crate::Result<()> {
    Ok(())
}
