//! TODO(capabilities): being written.
