//! TODO(idmap): being written by another helper. Stub so rootfs compiles;
//! the integrator keeps the real implementation over this one.

use std::os::fd::OwnedFd;
use std::path::Path;

use oci_spec::runtime::LinuxIdMapping;

use crate::error::{Error, Result};

/// A detached open_tree mount of `source`, idmapped with `uid`/`gid`.
pub fn idmapped_tree(
    source: &Path,
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
    recursive: bool,
) -> Result<OwnedFd> {
    let _ = (source, uid, gid, recursive);
    Err(Error::invalid("idmapped mounts not yet supported"))
}
pub fn supported() -> bool { false }
