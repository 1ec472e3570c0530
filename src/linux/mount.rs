//! TODO(mount): being written.
