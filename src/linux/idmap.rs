//! TODO(idmap): being written.
pub fn supported() -> bool {
    false
}
