//! TODO(idmap): being written.
