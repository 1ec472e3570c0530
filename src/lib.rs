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
pub mod posture;
pub mod process;
pub mod rootless;
pub mod state;
pub mod validate;

pub use error::{Error, ErrorKind, Result};

/// Skips that are counted: shared with tests/integration, so both suites
/// end with the same `SKIPPED n of the tests counted as passed above`.
#[cfg(test)]
#[path = "../tests/support/skip.rs"]
pub(crate) mod skip;

/// The OCI runtime-spec version brig implements.
pub const OCI_VERSION: &str = "1.2.1";
