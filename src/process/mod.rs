//! The process model: PARENT (`brig create`), CHILD (the clone, until its
//! re-exec), INIT (the container's first process until execve).
//! See docs/ARCHITECTURE.md and the diagram in `messages`.

pub mod channel;
pub mod child;
pub mod clone;
pub mod env;
pub mod exec;
pub mod init;
pub mod init_hooks;
pub mod launch;
pub mod messages;
pub mod parent;
pub mod start;
pub mod supervisor;
