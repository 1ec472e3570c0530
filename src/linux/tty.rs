//! TODO(tty): being written.
