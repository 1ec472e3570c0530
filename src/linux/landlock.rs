//! TODO(landlock): stub.
use std::collections::HashMap;
pub const ANNOTATION: &str = "run.brig.landlock";
pub struct LandlockPolicy;
pub fn parse(_a: Option<&HashMap<String, String>>) -> crate::Result<Option<LandlockPolicy>> {
    Ok(None)
}
pub fn apply(_p: &LandlockPolicy) -> crate::Result<()> {
    Ok(())
}
