//! TODO(capabilities): stub.
use oci_spec::runtime::LinuxCapabilities;
pub fn validate(_c: Option<&LinuxCapabilities>) -> crate::Result<()> {
    Ok(())
}
pub fn prepare(_c: Option<&LinuxCapabilities>) -> crate::Result<()> {
    Ok(())
}
pub fn apply(_c: Option<&LinuxCapabilities>) -> crate::Result<()> {
    Ok(())
}
pub fn known() -> Vec<String> {
    Vec::new()
}
