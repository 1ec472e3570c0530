//! Running as an ordinary user: where the state lives and whether brig is
//! rootless at all. runc's rules (main.go `shouldHonorXDGRuntimeDir`,
//! libcontainer `rootless` detection), so a user moving between the two
//! finds the same layout.

use std::ffi::OsStr;
use std::path::PathBuf;

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

fn is_initial_map(uid_map: &str) -> bool {
    let f: Vec<&str> = uid_map.split_whitespace().collect();
    f == ["0", "0", "4294967295"]
}

#[cfg(test)]
mod tests {
    use super::*;

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
