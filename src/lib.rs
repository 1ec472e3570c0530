//! brig: an OCI container runtime.
//!
//! See `docs/ARCHITECTURE.md` for the process model and its sync points.

pub mod bundle;
pub mod cgroups;
pub mod cli;
pub mod commands;
pub mod error;
pub mod hooks;
pub mod linux;
pub mod logging;
pub mod plan;
pub mod policy;
pub mod process;
pub mod state;
pub mod validate;

pub use error::{Error, ErrorKind, Result};

/// The OCI runtime-spec version brig implements.
pub const OCI_VERSION: &str = "1.2.1";
