//! TODO(rlimits): stub.
use oci_spec::runtime::PosixRlimit;
pub fn validate(_r: Option<&Vec<PosixRlimit>>) -> crate::Result<()> {
    Ok(())
}
pub fn apply(_r: Option<&Vec<PosixRlimit>>) -> crate::Result<()> {
    Ok(())
}
