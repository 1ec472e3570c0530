//! TODO(mount): being written.
pub const KNOWN_OPTIONS: &[&str] = &[];
