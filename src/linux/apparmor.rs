//! TODO(apparmor): being written.
