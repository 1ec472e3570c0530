//! TODO(pivot): being written.
