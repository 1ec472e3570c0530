//! The process model: parent, init, the channel between them.
