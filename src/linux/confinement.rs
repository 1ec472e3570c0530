//! What the kernel says confines a running process, read from /proc:
//! capability sets, no_new_privs and seccomp mode (`status`), the LSM
//! label (`attr/apparmor/current`, else `attr/current`), the user
//! namespace's id maps and whether its root is mounted read-only
//! (`mountinfo`). `brig check` compares this with the recorded config.
//! Ref: proc_pid_status(5), proc_pid_attr(5), user_namespaces(7),
//! proc_pid_mountinfo(5).

use std::path::Path;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{IoResultExt, Result};

/// The capability, privilege and seccomp lines of /proc/PID/status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    pub cap_inh: u64,
    pub cap_prm: u64,
    pub cap_eff: u64,
    pub cap_bnd: u64,
    pub cap_amb: u64,
    pub no_new_privs: bool,
    /// 0 none, 1 strict, 2 filter.
    pub seccomp: u8,
    /// How many filters are attached (kernel >= 5.9), when shown.
    pub seccomp_filters: Option<u32>,
}

/// One line of uid_map or gid_map: `container host size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

impl IdRange {
    /// The identity map of the initial user namespace: every id is itself.
    pub fn is_identity(maps: &[IdRange]) -> bool {
        matches!(
            maps,
            [IdRange {
                container: 0,
                host: 0,
                size: u32::MAX
            }]
        )
    }

    /// `id` of the namespace as its parent sees it, if this range maps it.
    pub fn to_host(&self, id: u32) -> Option<u32> {
        let off = id.checked_sub(self.container).filter(|o| *o < self.size)?;
        Some(self.host + off)
    }
}

/// Everything [`read`] finds about one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelView {
    pub pid: i32,
    pub status: Status,
    /// The LSM label (`profile (enforce)`, an SELinux context), or None
    /// when no LSM answers.
    pub lsm_label: Option<String>,
    pub uid_map: Vec<IdRange>,
    pub gid_map: Vec<IdRange>,
    /// Is the process's root mount read-only? None when the root is not
    /// in its mountinfo (it cannot be told).
    pub root_readonly: Option<bool>,
    /// The cgroup's memory and pids limits, read by the caller (the
    /// container's cgroup is in its state, not below /proc).
    pub limits: crate::cgroups::Limits,
}

/// Read the kernel's view of `pid` below `proc` (`/proc`; a fake tree in
/// tests). The LSM label and mountinfo are optional (no LSM, or a kernel
/// that hides them); status and the id maps are not.
pub fn read(proc: &Path, pid: i32) -> Result<KernelView> {
    let dir = proc.join(pid.to_string());
    let text = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p).or_io(|| format!("read {}", p.display()))
    };
    let status = parse_status(&text("status")?);
    let uid_map = parse_id_map(&text("uid_map")?);
    let gid_map = parse_id_map(&text("gid_map")?);
    let lsm_label = ["attr/apparmor/current", "attr/current"]
        .iter()
        .find_map(|n| std::fs::read_to_string(dir.join(n)).ok())
        .map(|l| l.trim_end_matches(['\n', '\0']).to_string())
        .filter(|l| !l.is_empty());
    let root_readonly = text("mountinfo")
        .ok()
        .and_then(|t| root_readonly(&crate::linux::mountinfo::parse(&t)));
    Ok(KernelView {
        pid,
        status,
        lsm_label,
        uid_map,
        gid_map,
        root_readonly,
        limits: Default::default(),
    })
}

/// Only the id maps of `pid` (another container's, for overlaps).
pub fn read_id_maps(proc: &Path, pid: i32) -> Result<(Vec<IdRange>, Vec<IdRange>)> {
    let dir = proc.join(pid.to_string());
    let map = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p)
            .or_io(|| format!("read {}", p.display()))
            .map(|t| parse_id_map(&t))
    };
    Ok((map("uid_map")?, map("gid_map")?))
}

/// Is SELinux enabled (selinuxfs mounted where the tools look)?
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Pure: the lines of /proc/PID/status brig reads; a missing or malformed
/// line leaves its default (no capability, no filter).
pub fn parse_status(text: &str) -> Status {
    let mut s = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let hex = || u64::from_str_radix(value, 16).unwrap_or(0);
        match key {
            "CapInh" => s.cap_inh = hex(),
            "CapPrm" => s.cap_prm = hex(),
            "CapEff" => s.cap_eff = hex(),
            "CapBnd" => s.cap_bnd = hex(),
            "CapAmb" => s.cap_amb = hex(),
            "NoNewPrivs" => s.no_new_privs = value == "1",
            "Seccomp" => s.seccomp = value.parse().unwrap_or(0),
            "Seccomp_filters" => s.seccomp_filters = value.parse().ok(),
            _ => {}
        }
    }
    s
}

/// Pure: uid_map / gid_map text, one `container host size` range a line.
pub fn parse_id_map(text: &str) -> Vec<IdRange> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().map(|n| n.parse::<u32>().ok());
            Some(IdRange {
                container: f.next()??,
                host: f.next()??,
                size: f.next()??,
            })
        })
        .collect()
}

/// Pure: is the mount at `/` (the last one: a later mount hides an
/// earlier one) read-only?
pub fn root_readonly(mounts: &[crate::linux::mountinfo::MountInfo]) -> Option<bool> {
    let root = mounts.iter().rev().find(|m| m.mount_point == "/")?;
    Some(root.options.split(',').any(|o| o == "ro"))
}

/// The capability names (`CAP_...`) of a mask, in number order; a bit
/// this build does not know is `CAP_<n>`.
pub fn cap_names(mask: u64) -> Vec<String> {
    (0..64u8)
        .filter(|i| mask & (1u64 << i) != 0)
        .map(|i| {
            caps::all()
                .into_iter()
                .find(|c| c.index() == i)
                .map(|c| c.to_string())
                .unwrap_or_else(|| format!("CAP_{i}"))
        })
        .collect()
}

/// The mask of capability names (`CAP_...`); unknown names are skipped.
pub fn cap_mask<S: AsRef<str>>(names: &[S]) -> u64 {
    names
        .iter()
        .filter_map(|n| caps::Capability::from_str(n.as_ref()).ok())
        .fold(0, |m, c| m | (1u64 << c.index()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let text = "Name:\tprobe\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\n\
                    CapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\n\
                    CapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\n\
                    NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n";
        let s = parse_status(text);
        assert_eq!(s.cap_eff, 0xa80425fb);
        assert_eq!(s.cap_bnd, 0xa80425fb);
        assert_eq!(s.cap_inh, 0);
        assert!(s.no_new_privs);
        assert_eq!((s.seccomp, s.seccomp_filters), (2, Some(1)));
        let bare = parse_status("CapEff:\tzz\nSeccomp:\t0\n");
        assert_eq!(bare, Status::default(), "malformed lines leave defaults");
    }

    #[test]
    fn id_to_host() {
        let r = IdRange {
            container: 1,
            host: 3_000_000_000,
            size: 65536,
        };
        assert_eq!(r.to_host(0), None);
        assert_eq!(r.to_host(1), Some(3_000_000_000));
        assert_eq!(r.to_host(65536), Some(3_000_065_535));
        assert_eq!(r.to_host(65537), None);
        let own = IdRange {
            container: 0,
            host: 1000,
            size: 1,
        };
        assert_eq!(own.to_host(0), Some(1000));
    }

    #[test]
    fn id_maps() {
        let m = parse_id_map("         0     100000      65536\n  65536 1 2\nbad line\n");
        assert_eq!(
            m,
            vec![
                IdRange {
                    container: 0,
                    host: 100000,
                    size: 65536
                },
                IdRange {
                    container: 65536,
                    host: 1,
                    size: 2
                }
            ]
        );
        assert!(IdRange::is_identity(&parse_id_map(
            "         0          0 4294967295\n"
        )));
        assert!(!IdRange::is_identity(&m));
    }

    #[test]
    fn root_mount_is_the_last_at_slash() {
        let t = "1 0 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n\
                 2 1 0:5 / /proc rw - proc proc rw\n\
                 3 1 8:1 /bundle/rootfs / ro,relatime - ext4 /dev/sda1 rw\n";
        let m = crate::linux::mountinfo::parse(t);
        assert_eq!(root_readonly(&m), Some(true));
        assert_eq!(root_readonly(&m[..2]), Some(false));
        assert_eq!(root_readonly(&m[1..2]), None);
    }

    #[test]
    fn capability_masks_both_ways() {
        let names = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NOPE"];
        let mask = cap_mask(&names);
        assert_eq!(mask, 1 | (1 << 5) | (1 << 10));
        assert_eq!(
            cap_names(mask),
            ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
        );
        assert_eq!(cap_names(1 << 63), ["CAP_63"]);
    }

    #[test]
    fn reads_a_fake_proc_tree() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("42");
        std::fs::create_dir_all(p.join("attr")).unwrap();
        std::fs::write(p.join("status"), "CapBnd:\t0000000000000401\nSeccomp:\t2\n").unwrap();
        std::fs::write(p.join("uid_map"), "0 1000 1\n").unwrap();
        std::fs::write(p.join("gid_map"), "0 1000 1\n").unwrap();
        std::fs::write(p.join("attr/current"), "brig-default (enforce)\n").unwrap();
        let k = read(dir.path(), 42).unwrap();
        assert_eq!(k.status.cap_bnd, 0x401);
        assert_eq!(k.lsm_label.as_deref(), Some("brig-default (enforce)"));
        assert_eq!(k.uid_map[0].host, 1000);
        assert_eq!(k.root_readonly, None, "no mountinfo");
        assert!(read(dir.path(), 43).is_err());
    }
}
