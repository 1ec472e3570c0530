//! TODO(exe): being written.
