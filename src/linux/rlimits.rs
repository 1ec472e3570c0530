//! TODO(rlimits): being written.
