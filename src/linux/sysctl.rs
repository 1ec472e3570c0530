//! TODO(sysctl): being written.
