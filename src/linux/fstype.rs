//! Which filesystem a path is on. A path that cannot be looked at is on
//! none of them.
//! Ref: statfs(2).

use std::path::Path;

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};

/// Is `path` on a cgroup filesystem, v1 or v2?
pub fn is_cgroup(path: &Path) -> bool {
    statfs(path).is_ok_and(|s| {
        s.filesystem_type() == CGROUP_SUPER_MAGIC || s.filesystem_type() == CGROUP2_SUPER_MAGIC
    })
}

/// Is `path` on the cgroup2 filesystem?
pub fn is_cgroup2(path: &Path) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC)
}

/// Is `path` the root of an overlay mount (statfs f_type
/// OVERLAYFS_SUPER_MAGIC)?
pub fn is_overlay(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::OVERLAYFS_SUPER_MAGIC)
}

/// Is `path` the filesystem a mount of type `typ` makes (sysfs, mqueue)?
/// For a rootless fallback: only the host's real one is bound instead.
pub fn is_fs_of_type(path: &Path, typ: &str) -> bool {
    const MQUEUE_MAGIC: i64 = 0x1980_0202;
    let want = match typ {
        "sysfs" => nix::sys::statfs::SYSFS_MAGIC,
        "mqueue" => nix::sys::statfs::FsType(MQUEUE_MAGIC as _),
        _ => return false,
    };
    statfs(path).is_ok_and(|s| s.filesystem_type() == want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temp_dir_is_no_cgroup() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_cgroup(dir.path()) && !is_cgroup2(dir.path()));
        assert!(!is_cgroup(Path::new("/nonexistent/brig")));
    }
}
