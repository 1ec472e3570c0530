//! TODO(seccomp): being written.
