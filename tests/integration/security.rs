//! The security layer (issue 3), proven from inside real containers: user
//! namespaces and idmapped mounts, capabilities, seccomp (profiles, the
//! default profile, notify agents), sysctls, Landlock, and the runtime's
//! own binary as seen from the container (CVE-2019-5736).
//!
//! Every test runs against runc too (`BRIG_RUNTIME=/usr/sbin/runc`) unless it
//! asserts a brig-only fact, guarded by `common::is_brig()`.

mod caps;
mod exe;
mod fds;
mod landlock;
mod notify;
mod seccomp;
mod sysctl;
mod userns;

use std::path::Path;

use serde_json::Value;

/// Recursively `lchown` a tree (symlinks themselves, never their targets),
/// so a rootfs copy belongs to a user namespace's mapped root.
pub fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("lchown {}: {e}", path.display()));
    let meta = std::fs::symlink_metadata(path).unwrap();
    if meta.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            chown_tree(&e.unwrap().path(), uid, gid);
        }
    }
}

/// The numbers of a /proc/PID/{uid,gid}_map text, as (inside, outside,
/// count) triples; the kernel pads the columns with spaces.
pub fn map_triples(text: &str) -> Vec<(u64, u64, u64)> {
    text.lines()
        .filter_map(|l| {
            let n: Vec<u64> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (n.len() == 3).then(|| (n[0], n[1], n[2]))
        })
        .collect()
}

/// The same triples from config.json mappings.
pub fn config_triples(maps: &Value) -> Vec<(u64, u64, u64)> {
    maps.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["containerID"].as_u64().unwrap(),
                m["hostID"].as_u64().unwrap(),
                m["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A capability mask from /proc/self/status ("000001ffffffffff") as a number.
pub fn cap_mask(status: &Value, key: &str) -> u64 {
    let v = status[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {status}"));
    u64::from_str_radix(v, 16).unwrap()
}
