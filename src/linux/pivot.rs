//! Switching the process's root to the container rootfs.
//! Ref: pivot_root(2) "pivot_root(".", ".")"; runc libcontainer pivotRoot/msMoveRoot.

use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, fchdir, pivot_root};

use crate::error::{Result, SysResultExt};

/// pivot_root into `rootfs` and detach the old root, or (no_pivot) move the
/// rootfs mount over / and chroot into it. Ends with chdir("/").
pub fn pivot_to(rootfs: &Path, no_pivot: bool) -> Result<()> {
    let shown = rootfs.display();
    if no_pivot {
        hide_host_proc_and_sys(rootfs)?;
        chdir(rootfs).or_sys(|| format!("chdir {shown}"))?;
        nix::mount::mount(
            Some(rootfs),
            "/",
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .or_sys(|| format!("move {shown} to /"))?;
        chroot(".").or_sys(|| format!("chroot {shown}"))?;
    } else {
        let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        let old_root = open("/", flags, Mode::empty()).or_sys(|| "open /".into())?;
        let new_root = open(rootfs, flags, Mode::empty()).or_sys(|| format!("open {shown}"))?;
        fchdir(&new_root).or_sys(|| format!("chdir {shown}"))?;
        // Stacks the old root on top of the new one, at the same place:
        // no directory for the old root is needed inside the image.
        pivot_root(".", ".").or_sys(|| format!("pivot_root {shown}"))?;
        fchdir(&old_root).or_sys(|| "chdir old root".into())?;
        // Unmounting must not propagate to the host's mounts.
        nix::mount::mount(
            None::<&str>,
            ".",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .or_sys(|| "make old root rslave".into())?;
        umount2(".", MntFlags::MNT_DETACH).or_sys(|| "unmount old root".into())?;
    }
    chdir("/").or_sys(|| "chdir /".into())
}

/// Without pivot_root the host's mounts stay in the container's mount
/// namespace, under the chroot. A full procfs or sysfs among them would
/// let a nested user namespace mount a fresh, unmasked one (the kernel
/// allows that while a fully visible instance exists in the namespace):
/// detach every such mount outside the rootfs first, or cover it with an
/// empty tmpfs where it cannot be unmounted. Ref: runc msMoveRoot;
/// mount_namespaces(7) and the kernel's mount_too_revealing().
fn hide_host_proc_and_sys(rootfs: &Path) -> Result<()> {
    let mounts = super::mountinfo::read_self()
        .map_err(|e| crate::error::Error::io("read /proc/self/mountinfo", e))?;
    for m in mounts.iter().rev() {
        let full = m.root == "/" && matches!(m.fs_type.as_str(), "proc" | "sysfs");
        if !full || Path::new(&m.mount_point).starts_with(rootfs) {
            continue;
        }
        let at = m.mount_point.as_str();
        // Unmounting must not propagate to the host.
        match nix::mount::mount(
            None::<&str>,
            at,
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Err(Errno::ENOENT) => continue,
            r => r.or_sys(|| format!("make {at} rslave"))?,
        }
        match umount2(at, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(Errno::EINVAL | Errno::EPERM) => nix::mount::mount(
                Some("tmpfs"),
                at,
                Some("tmpfs"),
                MsFlags::empty(),
                None::<&str>,
            )
            .or_sys(|| format!("cover {at} with a tmpfs"))?,
            Err(e) => return Err(crate::error::Error::sys(format!("unmount {at}"), e)),
        }
    }
    Ok(())
}

/// End to end: prepare + pivot + finish on a busybox rootfs, in a forked
/// child with its own mount and pid namespaces, reporting through a pipe.
#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt};
    use std::path::{Path, PathBuf};

    use nix::sched::{unshare, CloneFlags};
    use nix::sys::wait::waitpid;
    use nix::unistd::{fork, pipe, ForkResult};
    use oci_spec::runtime::Spec;

    use crate::linux::rootfs::{finish, pivot, prepare, RootfsPlan};

    fn skip_reason() -> Option<&'static str> {
        if !nix::unistd::geteuid().is_root() {
            return Some(crate::skip::NEEDS_ROOT);
        }
        if !Path::new("/bin/busybox").exists() {
            return Some("needs /bin/busybox (apt-get install busybox-static)");
        }
        None
    }

    /// A busybox image with hostile symlinks, plus a host dir to bind.
    fn image(tag: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        for l in ["sh", "ls", "cat"] {
            symlink("busybox", root.join("bin").join(l)).unwrap();
        }
        symlink("/etc", root.join("evil")).unwrap();
        symlink(
            format!("../../../../tmp/brig-escape-{tag}"),
            root.join("evil2"),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/marker"), "m").unwrap();
        let root = root.canonicalize().unwrap();
        (dir, root)
    }

    /// Fork; child: new mount ns, then a pid-1 grandchild runs `body`, whose
    /// report (or error chain) comes back through the pipe.
    fn in_container(body: impl FnOnce(&mut String) -> crate::Result<()>) -> String {
        let (r, w) = pipe().unwrap();
        // SAFETY: the child only unshares, forks, runs body and _exits.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                drop(r);
                let mut out = String::new();
                let code = (|| -> crate::Result<()> {
                    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID)
                        .map_err(|e| crate::Error::sys("unshare", e))?;
                    // SAFETY: as above; the grandchild is pid 1 of the new ns.
                    match unsafe { fork() }.map_err(|e| crate::Error::sys("fork", e))? {
                        ForkResult::Child => {
                            let r = body(&mut out);
                            if let Err(e) = r {
                                out.push_str(&format!("error: {}\n", e.chain()));
                            }
                            let mut f = std::fs::File::from(w.try_clone().unwrap());
                            let _ = f.write_all(out.as_bytes());
                            // SAFETY: leave without running the test harness's atexit.
                            unsafe { libc::_exit(0) };
                        }
                        ForkResult::Parent { child } => {
                            let _ = waitpid(child, None);
                        }
                    }
                    Ok(())
                })();
                if let Err(e) = code {
                    let mut f = std::fs::File::from(w);
                    let _ = f.write_all(format!("error: {}\n", e.chain()).as_bytes());
                }
                // SAFETY: as above.
                unsafe { libc::_exit(0) };
            }
            ForkResult::Parent { child } => {
                drop(w);
                let mut s = String::new();
                std::fs::File::from(r).read_to_string(&mut s).unwrap();
                waitpid(child, None).unwrap();
                s
            }
        }
    }

    fn errno_of(r: std::io::Result<impl Sized>) -> String {
        match r {
            Ok(_) => "ok".into(),
            Err(e) => format!(
                "{:?}",
                nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0))
            ),
        }
    }

    #[test]
    fn runc_default_spec_end_to_end() {
        if let Some(why) = skip_reason() {
            return crate::skip::test(why);
        }
        end_to_end(false);
    }

    #[test]
    fn no_pivot_end_to_end() {
        if let Some(why) = skip_reason() {
            return crate::skip::test(why);
        }
        end_to_end(true);
    }

    fn end_to_end(no_pivot: bool) {
        let tag = format!("{}-{no_pivot}", std::process::id());
        let (dir, root) = image(&tag);
        let src = dir.path().join("src");
        let mut json: serde_json::Value =
            serde_json::from_str(crate::linux::rootfs::tests_support::RUNC_SPEC).unwrap();
        let mounts = json["mounts"].as_array_mut().unwrap();
        mounts.push(serde_json::json!({"destination":"/evil/x","type":"bind","source":src,"options":["rbind","ro"]}));
        mounts.push(serde_json::json!({"destination":"/evil2/y","type":"tmpfs","source":"tmpfs"}));
        let spec: Spec = serde_json::from_value(json).unwrap();
        let plan = RootfsPlan::from_spec(&spec, &root, no_pivot).unwrap();
        let out = in_container(|out| {
            prepare(
                &plan,
                None,
                &[],
                &|_| unreachable!("no mount asks the parent"),
                None,
            )?;
            pivot(&plan)?;
            finish(&plan)?;
            let line = |out: &mut String, k: &str, v: String| out.push_str(&format!("{k}={v}\n"));
            line(out, "pid", std::process::id().to_string());
            let st = nix::sys::statfs::statfs("/proc").unwrap();
            line(
                out,
                "proc",
                (st.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC).to_string(),
            );
            let m = std::fs::metadata("/dev/null").unwrap();
            line(
                out,
                "null",
                format!(
                    "{} {}",
                    m.file_type().is_char_device(),
                    m.rdev() == nix::sys::stat::makedev(1, 3)
                ),
            );
            // /proc/kcore is absent from this kernel; /proc/keys is always there.
            let k = std::fs::metadata("/proc/keys").unwrap();
            let masked =
                k.file_type().is_char_device() && k.rdev() == nix::sys::stat::makedev(1, 3);
            line(
                out,
                "keys",
                format!(
                    "{masked} {:?}",
                    std::fs::read("/proc/keys").map(|v| v.len()).ok()
                ),
            );
            let fw = std::fs::read_dir("/sys/firmware").map(|d| d.count());
            line(out, "firmware", format!("{:?}", fw.ok()));
            let w = std::fs::OpenOptions::new()
                .write(true)
                .open("/proc/sys/kernel/hostname");
            line(out, "procsys", errno_of(w));
            line(out, "rootro", errno_of(std::fs::write("/newfile", "x")));
            line(
                out,
                "marker",
                format!("{:?}", std::fs::read_to_string("/etc/x/marker").ok()),
            );
            line(out, "bindro", errno_of(std::fs::write("/etc/x/new", "x")));
            line(
                out,
                "ptmx",
                format!("{:?}", std::fs::read_link("/dev/ptmx").ok()),
            );
            line(
                out,
                "memcg",
                Path::new("/sys/fs/cgroup/memory").is_dir().to_string(),
            );
            line(
                out,
                "escape",
                Path::new("/tmp")
                    .join(format!("brig-escape-{tag}/y"))
                    .is_dir()
                    .to_string(),
            );
            Ok(())
        });
        eprintln!("{out}");
        for want in [
            "pid=1\n",
            "proc=true\n",
            "null=true true\n",
            "keys=true Some(0)\n",
            "firmware=Some(0)\n",
            "procsys=EROFS\n",
            "rootro=EROFS\n",
            "marker=Some(\"m\")\n",
            "bindro=EROFS\n",
            "ptmx=Some(\"pts/ptmx\")\n",
            "memcg=true\n",
            "escape=true\n",
        ] {
            assert!(out.contains(want), "missing {want:?} in:\n{out}");
        }
        assert!(
            !Path::new(&format!("/tmp/brig-escape-{tag}")).exists(),
            "escaped to host /tmp"
        );
        assert!(!Path::new("/etc/x").exists(), "escaped to host /etc");
        assert!(root.join("etc/x").is_dir());
        drop(dir);
    }

    #[test]
    fn proc_symlink_in_image_is_refused() {
        if let Some(why) = skip_reason() {
            return crate::skip::test(why);
        }
        let (_dir, root) = image("proc");
        std::fs::remove_dir(root.join("proc")).unwrap();
        symlink("/etc", root.join("proc")).unwrap();
        let spec: Spec = serde_json::from_str(
            r#"{"mounts":[{"destination":"/proc","type":"proc","source":"proc"}]}"#,
        )
        .unwrap();
        let plan = RootfsPlan::from_spec(&spec, &root, false).unwrap();
        let out = in_container(|_| {
            prepare(
                &plan,
                None,
                &[],
                &|_| unreachable!("no mount asks the parent"),
                None,
            )
        });
        assert!(
            out.contains(
                "error: mount proc on /proc: mount point /proc must be mounted on ordinary directory (it is or goes through a symlink)"
            ),
            "{out}"
        );
    }
}
