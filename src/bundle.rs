//! Reading a bundle: config.json into oci-spec types, and the root path.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::error::{Error, IoResultExt, Result};

pub struct Bundle {
    /// Absolute path of the bundle directory.
    pub dir: PathBuf,
    pub spec: Spec,
    /// Canonical absolute path of root.path.
    pub rootfs: PathBuf,
}

impl Bundle {
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::fs::canonicalize(dir).or_io(|| format!("bundle {}", dir.display()))?;
        let path = dir.join("config.json");
        let data = std::fs::read(&path).or_io(|| format!("read {}", path.display()))?;
        let spec: Spec = serde_json::from_slice(&data)
            .map_err(|e| Error::json(format!("parse {}", path.display()), e))?;
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| Error::invalid(format!("{}: root is missing", path.display())))?;
        let rootfs = if root.path().is_absolute() {
            root.path().clone()
        } else {
            dir.join(root.path())
        };
        let given = Path::new("/").join(crate::linux::inroot::clean_relative(&rootfs));
        let rootfs = std::fs::canonicalize(&rootfs)
            .or_io(|| format!("root filesystem {}", rootfs.display()))?;
        // A symlink anywhere in root.path is refused, as runc does: the
        // rootfs is the one path brig trusts as the host gives it.
        if rootfs != given {
            return Err(Error::invalid(format!(
                "root.path {}: invalid rootfs: not an absolute path, or a symlink (it resolves to {})",
                root.path().display(),
                rootfs.display()
            )));
        }
        if !rootfs.is_dir() {
            return Err(Error::invalid(format!(
                "root filesystem {} is not a directory",
                rootfs.display()
            )));
        }
        Ok(Bundle { dir, spec, rootfs })
    }
}
