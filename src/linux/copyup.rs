//! `tmpcopyup`: a tmpfs mounted over a directory of the image starts with
//! a copy of what that directory held (podman asks for it on the tmpfs
//! mounts it makes; runc and crun do the copy). Everything is reached
//! through descriptors (openat with O_NOFOLLOW), never by path, so a
//! symlink in the image cannot lead the copy out of the container.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::dir::Dir;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fchmodat, fstat, fstatat, mkdirat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchown, fchownat, symlinkat, Gid, Uid};

use crate::error::{Error, Result, SysResultExt};

/// Copy the tree under directory `from` into directory `to` (the fresh
/// tmpfs): directories, regular files and symlinks, with their modes and
/// owners; the top directory's owner too. Anything else (a device, a fifo,
/// a socket) is left out with a warning.
pub fn copy_tree(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<()> {
    // Readable descriptors of both (the callers' may be O_PATH).
    let reopen = |fd: BorrowedFd<'_>, what: &str| -> Result<OwnedFd> {
        openat(
            fd,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .or_sys(|| format!("open {what}"))
    };
    let (from, to) = (
        reopen(from, "the covered directory")?,
        reopen(to, "the tmpfs")?,
    );
    let top = fstat(&from).or_sys(|| "stat the covered directory".into())?;
    fchown(
        &to,
        Some(Uid::from_raw(top.st_uid)),
        Some(Gid::from_raw(top.st_gid)),
    )
    .or_sys(|| "chown the tmpfs root".into())?;
    let dup = |fd: BorrowedFd<'_>| -> Result<OwnedFd> {
        fd.try_clone_to_owned()
            .map_err(|e| Error::io("dup a directory descriptor", e))
    };
    let mut stack: Vec<(OwnedFd, OwnedFd, String)> = vec![(from, to, String::new())];
    while let Some((src, dst, at)) = stack.pop() {
        let mut dir = Dir::from_fd(dup(src.as_fd())?).or_sys(|| format!("read directory /{at}"))?;
        for entry in dir.iter() {
            let entry = entry.or_sys(|| format!("read directory /{at}"))?;
            let name = entry.file_name();
            if name.to_bytes() == b"." || name.to_bytes() == b".." {
                continue;
            }
            let shown = format!("{at}/{}", name.to_string_lossy());
            let st = fstatat(&src, name, AtFlags::AT_SYMLINK_NOFOLLOW)
                .or_sys(|| format!("stat {shown}"))?;
            let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
            let (uid, gid) = (
                Some(Uid::from_raw(st.st_uid)),
                Some(Gid::from_raw(st.st_gid)),
            );
            let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
            if kind == SFlag::S_IFDIR {
                mkdirat(&dst, name, mode).or_sys(|| format!("mkdir {shown}"))?;
                fchownat(&dst, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW)
                    .or_sys(|| format!("chown {shown}"))?;
                // mkdir is subject to the umask.
                fchmodat(&dst, name, mode, FchmodatFlags::NoFollowSymlink)
                    .or_sys(|| format!("chmod {shown}"))?;
                let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let s = openat(&src, name, flags | OFlag::O_RDONLY, Mode::empty())
                    .or_sys(|| format!("open {shown}"))?;
                let d = openat(&dst, name, flags | OFlag::O_RDONLY, Mode::empty())
                    .or_sys(|| format!("open the copy of {shown}"))?;
                stack.push((s, d, shown));
            } else if kind == SFlag::S_IFREG {
                copy_file(&src, &dst, name, mode, &shown)?;
                fchownat(&dst, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW)
                    .or_sys(|| format!("chown {shown}"))?;
            } else if kind == SFlag::S_IFLNK {
                let target = readlinkat(&src, name).or_sys(|| format!("readlink {shown}"))?;
                symlinkat(target.as_os_str(), &dst, name).or_sys(|| format!("symlink {shown}"))?;
                fchownat(&dst, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW)
                    .or_sys(|| format!("chown {shown}"))?;
            } else {
                tracing::warn!(
                    "tmpcopyup: {shown} is not a file, directory or symlink: not copied"
                );
            }
        }
    }
    Ok(())
}

fn copy_file(
    src: &OwnedFd,
    dst: &OwnedFd,
    name: &std::ffi::CStr,
    mode: Mode,
    shown: &str,
) -> Result<()> {
    let from = openat(
        src,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .or_sys(|| format!("open {shown}"))?;
    let to = openat(
        dst,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        mode,
    )
    .or_sys(|| format!("create the copy of {shown}"))?;
    let mut reader = std::fs::File::from(from);
    let mut writer = std::fs::File::from(to);
    std::io::copy(&mut reader, &mut writer).map_err(|e| Error::io(format!("copy {shown}"), e))?;
    // O_CREAT is subject to the umask.
    fchmod(writer.as_fd(), mode).or_sys(|| format!("chmod {shown}"))?;
    Ok(())
}
