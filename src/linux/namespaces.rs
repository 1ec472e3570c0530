//! TODO(namespaces): being written.
