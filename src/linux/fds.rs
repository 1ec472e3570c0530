//! TODO(fds): being written.
