//! Every check that can fail before any process is created.
