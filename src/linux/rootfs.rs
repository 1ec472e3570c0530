//! TODO(rootfs): being written.
