//! Paths inside the rootfs. Every destination is opened with
//! openat2(RESOLVE_IN_ROOT) relative to an fd of the rootfs, and mounted
//! through that fd (new mount API, or `/proc/self/fd/N` for mount(2) of a
//! new filesystem), never by joining strings.
//! Ref: SECURITY.md class 1, CVE-2021-30465, CVE-2024-45310.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use crate::error::{Error, Result, SysResultExt};

/// Open `path` (relative or absolute, read as inside `root`) with openat2
/// RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS, plus RESOLVE_NO_SYMLINKS when
/// `no_symlinks`. `flags` are added to O_PATH|O_CLOEXEC.
pub fn open_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
    no_symlinks: bool,
) -> std::result::Result<OwnedFd, Errno> {
    let rel = clean_relative(path);
    let rel = if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    };
    let mut resolve = ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    if no_symlinks {
        resolve |= ResolveFlag::RESOLVE_NO_SYMLINKS;
    }
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC | flags)
        .resolve(resolve);
    // EAGAIN: a rename raced the lookup; openat2(2) asks callers to retry.
    let mut tries = 0;
    loop {
        match openat2(root, &rel, how) {
            Err(Errno::EAGAIN) if tries < 16 => tries += 1,
            r => return r,
        }
    }
}

/// `mkdir -p` inside the rootfs: every component is created in a directory
/// fd that was itself resolved inside the root. A dangling symlink on the
/// way has its target created, read as inside the root (as RESOLVE_IN_ROOT
/// would follow it). Returns the last directory.
pub fn mkdir_all_in_root(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd> {
    mkdir_all_depth(root, path, 0)
}

fn mkdir_all_depth(root: BorrowedFd<'_>, path: &Path, depth: u32) -> Result<OwnedFd> {
    let rel = clean_relative(path);
    let mut cur = PathBuf::new();
    let mut dir = open_in_root(root, Path::new("."), OFlag::O_DIRECTORY, false)
        .or_sys(|| "open rootfs".into())?;
    for name in rel.iter() {
        let parent = cur.clone();
        cur.push(name);
        let shown = |p: &Path| format!("/{}", p.display());
        dir = match open_in_root(root, &cur, OFlag::O_DIRECTORY, false) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                match nix::sys::stat::mkdirat(&dir, name, Mode::from_bits_truncate(0o755)) {
                    Ok(()) => {}
                    Err(Errno::EEXIST) => {
                        // A dangling symlink: create its target inside the root.
                        let target = nix::fcntl::readlinkat(&dir, name)
                            .or_sys(|| format!("readlink {}", shown(&cur)))?;
                        // Limit as the kernel's MAXSYMLINKS (40).
                        if depth >= 40 {
                            return Err(Error::sys(format!("mkdir {}", shown(&cur)), Errno::ELOOP));
                        }
                        mkdir_all_depth(
                            root,
                            &Path::new("/").join(&parent).join(target),
                            depth + 1,
                        )?;
                    }
                    Err(e) => return Err(Error::sys(format!("mkdir {}", shown(&cur)), e)),
                }
                open_in_root(root, &cur, OFlag::O_DIRECTORY, false)
                    .or_sys(|| format!("open {}", shown(&cur)))?
            }
            Err(e) => return Err(Error::sys(format!("open {}", shown(&cur)), e)),
        }
    }
    Ok(dir)
}

/// Open the mount point `dest` inside the root, creating it (a directory,
/// or an empty file when `dir` is false) and its parents when missing.
pub fn ensure_mountpoint(
    root: BorrowedFd<'_>,
    dest: &Path,
    dir: bool,
    no_symlinks: bool,
) -> Result<OwnedFd> {
    let shown = || format!("mount point {}", dest.display());
    let want = if dir {
        OFlag::O_DIRECTORY
    } else {
        OFlag::empty()
    };
    match open_in_root(root, dest, want, no_symlinks) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(Errno::ELOOP) if no_symlinks => {
            // runc's words for a directory, which clients match on.
            let what = if dir { "directory" } else { "file" };
            return Err(Error::invalid(format!(
                "{} must be mounted on ordinary {what} (it is or goes through a symlink)",
                shown()
            )));
        }
        Err(e) => return Err(Error::sys(format!("open {}", shown()), e)),
    }
    if dir {
        mkdir_all_in_root(root, dest).map_err(|e| e.context(shown()))?;
    } else {
        create_file_in_root(root, dest, 0).map_err(|e| e.context(shown()))?;
    }
    open_in_root(root, dest, want, no_symlinks).or_sys(|| format!("open {}", shown()))
}

/// The directory `name` directly in `dir` (made when missing), opened
/// without following a symlink: for a filesystem brig has just mounted
/// and fills itself, where a walk from the root for every entry would be
/// wasted work.
pub fn make_dir_in(dir: BorrowedFd<'_>, name: &str) -> Result<OwnedFd> {
    match nix::sys::stat::mkdirat(dir, name, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(Error::sys(format!("mkdir {name}"), e)),
    }
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC | OFlag::O_DIRECTORY)
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
    openat2(dir, name, how).or_sys(|| format!("open {name}"))
}

/// An empty file at `path` inside the root, its parents made as by
/// [`mkdir_all_in_root`]. A dangling symlink there has its target created
/// instead, read as inside the root (runc does the same for a bind mount
/// onto, say, an image's /etc/hosts -> /tmp/hosts).
fn create_file_in_root(root: BorrowedFd<'_>, path: &Path, depth: u32) -> Result<()> {
    let rel = clean_relative(path);
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Err(Error::invalid("the root is no file"));
    };
    let parent_fd = mkdir_all_in_root(root, parent)?;
    match nix::fcntl::openat(
        &parent_fd,
        name,
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    ) {
        Ok(_) => Ok(()),
        Err(Errno::EEXIST) => match nix::fcntl::readlinkat(&parent_fd, name) {
            // Limit as the kernel's MAXSYMLINKS (40).
            Ok(_) if depth >= 40 => Err(Error::sys(
                format!("create /{}", rel.display()),
                Errno::ELOOP,
            )),
            Ok(target) => {
                create_file_in_root(root, &Path::new("/").join(parent).join(target), depth + 1)
            }
            // Not a symlink: something is there already.
            Err(_) => Ok(()),
        },
        Err(e) => Err(Error::sys(format!("create /{}", rel.display()), e)),
    }
}

/// `/proc/self/fd/N`: how mount(2) reaches a target opened with O_PATH.
/// Only used before pivot, while /proc is the host's trusted procfs.
pub fn fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Lexically clean an absolute container path into a relative one
/// (`/a/../b/` -> `b`), clamping `..` at the root as RESOLVE_IN_ROOT does.
pub fn clean_relative(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_relative_clamps() {
        for (i, o) in [
            ("/", ""),
            ("/proc", "proc"),
            ("/a/../b/", "b"),
            ("/../../etc", "etc"),
            ("/a/./b", "a/b"),
        ] {
            assert_eq!(clean_relative(Path::new(i)), PathBuf::from(o), "{i}");
        }
    }
}
