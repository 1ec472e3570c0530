//! Running as an ordinary user: where the state lives and whether brig is
//! rootless at all. runc's rules (main.go `shouldHonorXDGRuntimeDir`,
//! libcontainer `rootless` detection), so a user moving between the two
//! finds the same layout.

use std::ffi::OsStr;
use std::path::PathBuf;

use oci_spec::runtime::LinuxIdMapping;

use crate::error::{Error, Result};

/// The state root when `--root` is not given: `$XDG_RUNTIME_DIR/brig` for
/// an ordinary user (runc: `$XDG_RUNTIME_DIR/runc`), else `None` (the
/// built-in `/run/brig`). Real root ignores `XDG_RUNTIME_DIR` (often
/// `/run/user/0`) so its containers stay where they always were; root in a
/// user namespace honours it unless `$USER` says it is root (runc's rule
/// for a rootless runtime run inside `unshare -r`).
pub fn default_state_root(
    xdg_runtime_dir: Option<&OsStr>,
    euid_is_root: bool,
    in_user_ns: bool,
    user: Option<&OsStr>,
) -> Option<PathBuf> {
    let xdg = xdg_runtime_dir.filter(|d| !d.is_empty())?;
    let honour = !euid_is_root || (in_user_ns && user != Some(OsStr::new("root")));
    honour.then(|| PathBuf::from(xdg).join("brig"))
}

/// True when brig runs without real root: an ordinary user, or root of a
/// user namespace that does not map the whole id range (what `unshare -r`
/// or a rootless podman gives). Then no cgroup outside a delegated subtree
/// is writable and only the caller's own ids can be mapped directly.
pub fn is_rootless() -> bool {
    !nix::unistd::geteuid().is_root() || in_user_ns()
}

/// True inside a user namespace other than the initial one: the initial
/// namespace's uid_map is the whole range `0 0 4294967295` (runc's
/// `userns.RunningInUserNS`).
pub fn in_user_ns() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| !is_initial_map(&m))
        .unwrap_or(false)
}

/// The uid brig is in its parent user namespace (its own outside a user
/// namespace): what a peer there, such as the user's D-Bus daemon, sees.
pub fn outer_uid() -> u32 {
    let euid = nix::unistd::geteuid().as_raw();
    std::fs::read_to_string("/proc/self/uid_map")
        .ok()
        .and_then(|m| {
            crate::linux::confinement::parse_id_map(&m)
                .iter()
                .find_map(|r| r.to_host(euid))
        })
        .unwrap_or(euid)
}

fn is_initial_map(uid_map: &str) -> bool {
    let f: Vec<&str> = uid_map.split_whitespace().collect();
    f == ["0", "0", "4294967295"]
}

/// The user's ranges in an /etc/subuid or /etc/subgid text: lines
/// `NAME:START:COUNT` or `UID:START:COUNT` (subuid(5)).
pub fn subid_ranges(text: &str, name: &str, id: u32) -> Vec<(u64, u64)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let (who, start, count) = (f.next()?, f.next()?, f.next()?);
            if who != name && who.parse::<u32>().ok() != Some(id) {
                return None;
            }
            Some((start.parse().ok()?, count.parse().ok()?))
        })
        .collect()
}

/// What newuidmap/newgidmap will accept, checked first so the refusal is
/// one clear line: each mapping is the user's own id alone, or lies in one
/// of the user's ranges. `what` is "uidMappings"; `file` /etc/subuid.
pub fn check_subid_maps(
    what: &str,
    file: &str,
    user: &str,
    own: u32,
    maps: &[LinuxIdMapping],
    ranges: &[(u64, u64)],
) -> Result<()> {
    for m in maps {
        let (host, size) = (u64::from(m.host_id()), u64::from(m.size()));
        let own_id = size == 1 && m.host_id() == own;
        let inside = ranges
            .iter()
            .any(|&(start, count)| host >= start && host + size <= start + count);
        if !own_id && !inside {
            let have = if ranges.is_empty() {
                "none".to_string()
            } else {
                ranges
                    .iter()
                    .map(|(s, c)| format!("{s}-{}", s + c - 1))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(Error::invalid(format!(
                "rootless: {what} hostID {host} size {size} is outside {user}'s ranges in {file} ({have})"
            )));
        }
    }
    Ok(())
}

/// Before anything is made: a rootless user namespace with more than the
/// user's own ids needs newuidmap and newgidmap (Debian's `uidmap`) and
/// maps inside the user's /etc/subuid and /etc/subgid ranges.
pub fn check_id_maps(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<()> {
    if nix::unistd::geteuid().is_root() || !crate::linux::userns::needs_helpers(uid, gid) {
        return Ok(());
    }
    for tool in ["newuidmap", "newgidmap"] {
        if find_in_path(tool).is_none() {
            return Err(Error::invalid(format!(
                "rootless: mapping more than the user's own id needs {tool} (Debian package uidmap), not found in PATH"
            )));
        }
    }
    let euid = nix::unistd::geteuid();
    let user = host_user_name(euid.as_raw()).unwrap_or_else(|| euid.to_string());
    let read = |f: &str| std::fs::read_to_string(f).unwrap_or_default();
    let ranges = subid_ranges(&read("/etc/subuid"), &user, euid.as_raw());
    check_subid_maps(
        "uidMappings",
        "/etc/subuid",
        &user,
        euid.as_raw(),
        uid,
        &ranges,
    )?;
    let egid = nix::unistd::getegid().as_raw();
    let ranges = subid_ranges(&read("/etc/subgid"), &user, euid.as_raw());
    check_subid_maps("gidMappings", "/etc/subgid", &user, egid, gid, &ranges)
}

/// The name of host user `uid`: the host's /etc/passwd, read by brig
/// itself (as runc's static build does), else `getent passwd UID` for the
/// users only NSS knows (LDAP, sssd). brig is linked statically, and
/// glibc's NSS modules cannot be loaded into it from the host's glibc,
/// of another version; getent is the host's own program.
pub fn host_user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    crate::process::env::name_in_passwd(&passwd, uid).or_else(|| {
        let out = std::process::Command::new("getent")
            .args(["passwd", &uid.to_string()])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        crate::process::env::name_in_passwd(&String::from_utf8_lossy(&out.stdout), uid)
    })
}

fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subid_ranges_and_maps() {
        let text = "alice:100000:65536\n1001:300000:10\nbob:200000:65536\nbad line\n";
        let r = subid_ranges(text, "alice", 1001);
        assert_eq!(r, vec![(100000, 65536), (300000, 10)]);
        assert!(subid_ranges(text, "carol", 7).is_empty());
        let m = crate::linux::userns::mapping;
        let ok = [m(0, 1001, 1), m(1, 100000, 65536), m(70000, 300000, 10)];
        assert!(check_subid_maps("uidMappings", "/etc/subuid", "alice", 1001, &ok, &r).is_ok());
        for bad in [
            m(1, 100001, 65536),
            m(0, 1002, 1),
            m(0, 1001, 2),
            m(1, 200000, 5),
        ] {
            let e = check_subid_maps("uidMappings", "/etc/subuid", "alice", 1001, &[bad], &r)
                .unwrap_err()
                .chain();
            assert!(
                e.contains("outside alice's ranges in /etc/subuid (100000-165535, 300000-300009)"),
                "{e}"
            );
        }
        let e = check_subid_maps("gidMappings", "/etc/subgid", "bob", 1, &[m(0, 5, 3)], &[])
            .unwrap_err()
            .chain();
        assert!(e.ends_with("(none)"), "{e}");
    }

    #[test]
    fn state_root_follows_runc() {
        let xdg = Some(OsStr::new("/run/user/1000"));
        let root = Some(OsStr::new("root"));
        let alice = Some(OsStr::new("alice"));
        let want = Some(PathBuf::from("/run/user/1000/brig"));
        // (xdg, euid 0, in a userns, $USER) -> root
        let table = [
            (xdg, false, false, alice, want.clone()),
            (xdg, false, true, alice, want.clone()),
            (None, false, false, alice, None),
            (Some(OsStr::new("")), false, false, alice, None),
            (xdg, true, false, root, None),
            (xdg, true, false, alice, None),
            (xdg, true, true, root, None),
            (xdg, true, true, alice, want.clone()),
            (xdg, true, true, None, want),
        ];
        for (x, euid0, userns, user, expect) in table {
            assert_eq!(
                default_state_root(x, euid0, userns, user),
                expect,
                "{x:?} {euid0} {userns} {user:?}"
            );
        }
    }

    #[test]
    fn initial_map() {
        assert!(is_initial_map("         0          0 4294967295\n"));
        assert!(!is_initial_map("         0       1000          1\n"));
        assert!(!is_initial_map("0 1000 1\n1 100000 65536\n"));
    }
}
