//! TODO(landlock): being written.
