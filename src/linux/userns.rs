//! TODO(userns): being written.
