//! A private, verified procfs handle (SECURITY.md class 2).
//!
//! Every write brig makes to /proc (sysctls, id maps, `setgroups`,
//! `attr/apparmor/exec`, `oom_score_adj`) goes through a [`ProcfsHandle`]:
//! a procfs instance that no container can have mounted over, opened with
//! `openat2` flags that refuse symlinks, magic links and mount crossings.
//! Ref: CVE-2019-16884, CVE-2019-19921, CVE-2023-27561, CVE-2025-52881.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{openat2, readlinkat, OFlag, OpenHow, ResolveFlag};
use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};

use crate::error::{Error, Result, SysResultExt};
use crate::linux::mountapi;

/// The root of a private procfs instance (a detached mount or a clone of
/// /proc that nothing else is attached to).
#[derive(Debug)]
pub struct ProcfsHandle {
    root: OwnedFd,
}

impl ProcfsHandle {
    /// A private procfs instance: `fsopen("proc")` + `FSCONFIG_CMD_CREATE` +
    /// `fsmount`, never attached to any mount tree, so no container can
    /// mount over anything below it. Falls back to `open_tree(/proc,
    /// OPEN_TREE_CLONE)` (a non-recursive clone: mounts over /proc/... are
    /// not copied) when fsopen is refused, e.g. in a user namespace whose
    /// /proc is partly masked. Without any mount privilege (a rootless
    /// brig on the host: both need CAP_SYS_ADMIN over the host's
    /// namespaces) the caller's own /proc, opened `O_PATH`, which must be
    /// the root of a procfs mount: only a process privileged over the
    /// caller's mount namespace could have mounted anything there, and
    /// [`open`](Self::open)'s `RESOLVE_NO_XDEV` refuses whatever is mounted
    /// below it (libpathrs keeps the same last resort). Either way the
    /// root must be real procfs.
    pub fn new() -> Result<ProcfsHandle> {
        let root = match fsmount_proc() {
            Ok(fd) => fd,
            Err(e) => {
                tracing::debug!("fsopen proc failed ({}), cloning /proc", e.chain());
                match open_tree_proc() {
                    Ok(fd) => fd,
                    Err(e) if e.errno() == Some(Errno::EPERM) => {
                        tracing::debug!("{}: opening /proc itself", e.chain());
                        open_proc_root()?
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        verify_procfs(&root, "procfs handle")?;
        Ok(ProcfsHandle { root })
    }

    /// The fd of the procfs root (an `O_PATH` fd), e.g. for `openat` of a
    /// magic link such as `<pid>/ns/user`, which [`open`](Self::open) refuses.
    pub fn root(&self) -> &OwnedFd {
        &self.root
    }

    /// Open `rel` (e.g. `"self/attr/apparmor/exec"`, `"1234/uid_map"`,
    /// `"sys/net/ipv4/ip_forward"`) below the procfs root with
    /// `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS |
    /// RESOLVE_NO_XDEV`: nothing mounted or symlinked can redirect it.
    /// A leading `self` or `thread-self` (procfs symlinks) is resolved by
    /// reading the link in this instance, so it names the caller's pid as
    /// this instance's pid namespace sees it.
    pub fn open(&self, rel: &str, flags: OFlag) -> Result<OwnedFd> {
        let path = self.resolve_self(rel)?;
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC | OFlag::O_NOCTTY)
            .resolve(
                ResolveFlag::RESOLVE_BENEATH
                    | ResolveFlag::RESOLVE_NO_MAGICLINKS
                    | ResolveFlag::RESOLVE_NO_SYMLINKS
                    | ResolveFlag::RESOLVE_NO_XDEV,
            );
        let fd = openat2(self.root.as_fd(), path.as_str(), how)
            .or_sys(|| format!("open /proc/{rel} in private procfs"))?;
        // Belt and braces: RESOLVE_NO_XDEV already keeps us on this mount.
        verify_procfs(&fd, &format!("/proc/{rel}"))?;
        Ok(fd)
    }

    /// Re-open one of our own descriptors (an `O_PATH` fd of a fifo, say)
    /// with new `flags`, through this instance's `self/fd/N`: it needs no
    /// /proc in the process's root (a container without a mount namespace
    /// is chrooted before it waits for `start`).
    pub fn reopen(&self, fd: std::os::fd::RawFd, flags: OFlag) -> Result<OwnedFd> {
        let path = self.resolve_self(&format!("self/fd/{fd}"))?;
        nix::fcntl::openat(
            self.root.as_fd(),
            path.as_str(),
            flags | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .or_sys(|| format!("reopen fd {fd}"))
    }

    /// `open(rel, O_WRONLY)` and one `write()` of `data`: never split, since
    /// procfs files parse each write on its own (uid_map must arrive whole).
    pub fn write(&self, rel: &str, data: &[u8]) -> Result<()> {
        let shown = String::from_utf8_lossy(data);
        let shown = shown.trim_end();
        let fd = self
            .open(rel, OFlag::O_WRONLY)
            .map_err(|e| e.context(format!("write {shown:?} to /proc/{rel}")))?;
        let n =
            nix::unistd::write(&fd, data).or_sys(|| format!("write {shown:?} to /proc/{rel}"))?;
        if n != data.len() {
            return Err(Error::sys(
                format!(
                    "write {shown:?} to /proc/{rel}: short write ({n} of {})",
                    data.len()
                ),
                Errno::EIO,
            ));
        }
        Ok(())
    }

    /// Replace a leading `self`/`thread-self` by what the link says in this
    /// instance (the caller's pid, or `pid/task/tid`, in its pid namespace).
    fn resolve_self(&self, rel: &str) -> Result<String> {
        let rel = rel.trim_start_matches('/');
        let (head, tail) = match rel.split_once('/') {
            Some((h, t)) => (h, Some(t)),
            None => (rel, None),
        };
        if head != "self" && head != "thread-self" {
            return Ok(rel.to_string());
        }
        let target = readlinkat(self.root.as_fd(), head)
            .or_sys(|| format!("readlink /proc/{head} in private procfs"))?;
        let target = target.to_string_lossy().into_owned();
        // "1234" or "1234/task/1235": digits and that one shape only.
        let ok = target.split('/').enumerate().all(|(i, c)| {
            (i == 1 && c == "task") || (!c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
        });
        if !ok {
            return Err(Error::invalid(format!(
                "/proc/{head} in private procfs points to {target:?}, not a pid"
            )));
        }
        Ok(match tail {
            Some(t) => format!("{target}/{t}"),
            None => target,
        })
    }
}

/// fstatfs(fd) must say PROC_SUPER_MAGIC.
fn verify_procfs(fd: &OwnedFd, what: &str) -> Result<()> {
    let st = fstatfs(fd).or_sys(|| format!("fstatfs {what}"))?;
    if st.filesystem_type() != PROC_SUPER_MAGIC {
        return Err(Error::invalid(format!(
            "{what} is not procfs (magic {:#x})",
            st.filesystem_type().0
        )));
    }
    Ok(())
}

/// A fresh, detached procfs. Ref: fsopen(2), fsmount(2).
fn fsmount_proc() -> Result<OwnedFd> {
    let attrs = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOEXEC;
    mountapi::new_fs(c"proc", attrs).or_sys(|| "fsmount proc".to_string())
}

/// open_tree(/proc, OPEN_TREE_CLONE): a detached copy of the /proc mount only.
fn open_tree_proc() -> Result<OwnedFd> {
    mountapi::clone_tree(nix::fcntl::AT_FDCWD, std::path::Path::new("/proc"), false)
        .or_sys(|| "open_tree /proc".to_string())
}

/// The caller's /proc (`O_PATH`), only when it is the root of a procfs
/// mount (the root inode of every procfs instance is PROC_ROOT_INO, 1):
/// not a directory below it nor anything mounted over it.
fn open_proc_root() -> Result<OwnedFd> {
    let fd = nix::fcntl::open(
        "/proc",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        nix::sys::stat::Mode::empty(),
    )
    .or_sys(|| "open /proc".to_string())?;
    verify_procfs(&fd, "/proc")?;
    let st = nix::sys::stat::fstat(&fd).or_sys(|| "fstat /proc".to_string())?;
    const PROC_ROOT_INO: u64 = 1;
    if st.st_ino != PROC_ROOT_INO {
        return Err(Error::invalid(format!(
            "/proc is not the root of a procfs mount (inode {})",
            st.st_ino
        )));
    }
    Ok(fd)
}

/// Test helper shared by the security modules: run `f` in a forked child
/// (irreversible changes stay there) and return what it reported.
#[cfg(test)]
pub(crate) mod testutil {
    use std::io::{Read, Write};

    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    /// `Ok(report)` or `Err(message)` from the child.
    pub(crate) fn in_child(f: impl FnOnce() -> Result<String, String>) -> Result<String, String> {
        let (r, w) = nix::unistd::pipe().expect("pipe");
        // SAFETY: the child only runs `f` and exits with _exit; tests accept
        // the usual fork-in-a-threaded-process caveat (glibc resets malloc).
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                drop(r);
                let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                    .unwrap_or_else(|_| Err("child panicked".into()));
                let msg = match res {
                    Ok(s) => format!("O{s}"),
                    Err(s) => format!("E{s}"),
                };
                let mut w = std::fs::File::from(w);
                let _ = w.write_all(msg.as_bytes());
                drop(w);
                // SAFETY: leave the forked child without running atexit handlers or test harness code.
                unsafe { libc::_exit(0) }
            }
            ForkResult::Parent { child } => {
                drop(w);
                let mut out = String::new();
                std::fs::File::from(r)
                    .read_to_string(&mut out)
                    .expect("read child");
                let st = waitpid(child, None).expect("waitpid");
                assert_eq!(st, WaitStatus::Exited(child, 0));
                match out.split_at_checked(1) {
                    Some(("O", s)) => Ok(s.to_string()),
                    Some(("E", s)) => Err(s.to_string()),
                    _ => Err(format!("child reported nothing: {out:?}")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn read(h: &ProcfsHandle, rel: &str) -> String {
        let fd = h.open(rel, OFlag::O_RDONLY).unwrap();
        let mut s = String::new();
        std::fs::File::from(fd).read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn opens_self_and_sys() {
        crate::skip::require_root!();
        let h = ProcfsHandle::new().unwrap();
        let status = read(&h, "self/status");
        assert!(
            status.contains(&format!("Pid:\t{}", std::process::id())),
            "{status}"
        );
        let last = read(&h, "sys/kernel/cap_last_cap");
        assert!(last.trim().parse::<u32>().is_ok());
        assert!(read(&h, "thread-self/comm").len() > 1);
    }

    #[test]
    fn refuses_escapes_and_magic_links() {
        crate::skip::require_root!();
        let h = ProcfsHandle::new().unwrap();
        for rel in [
            "../etc/passwd",
            "self/root/etc/passwd",
            "self/cwd",
            "self/exe",
            "mounts",
        ] {
            // "mounts" is a symlink to self/mounts: refused too.
            assert!(h.open(rel, OFlag::O_RDONLY).is_err(), "{rel} opened");
        }
        let e = h.write("sys/kernel/nonexistent", b"1").unwrap_err();
        assert!(
            e.chain()
                .starts_with("write \"1\" to /proc/sys/kernel/nonexistent"),
            "{}",
            e.chain()
        );
    }

    #[test]
    fn overmounted_proc_is_not_used() {
        crate::skip::require_root!();
        // In a child with a private mount ns, mount a tmpfs over /proc/sys:
        // the handle must still reach the real sysctl.
        let r = testutil::in_child(|| {
            use nix::mount::{mount, MsFlags};
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(|e| e.to_string())?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .map_err(|e| e.to_string())?;
            mount(
                Some("tmpfs"),
                "/proc/sys",
                Some("tmpfs"),
                MsFlags::empty(),
                None::<&str>,
            )
            .map_err(|e| e.to_string())?;
            let h = ProcfsHandle::new().map_err(|e| e.chain())?;
            Ok(read(&h, "sys/kernel/cap_last_cap"))
        });
        match r {
            Ok(s) => assert!(s.trim().parse::<u32>().is_ok(), "{s}"),
            Err(e) if e.contains("EPERM") => crate::skip::test(format!("needs CAP_SYS_ADMIN: {e}")),
            Err(e) => panic!("{e}"),
        }
    }
}
