//! TODO(procfs): being written.
