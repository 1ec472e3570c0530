//! What may be mounted on and under /proc: procfs itself on /proc, and
//! below it only the files lxcfs emulates. Checked on the config before
//! anything exists, and again at mount time on the destination as it
//! resolves inside the rootfs.

use std::os::fd::BorrowedFd;
use std::path::Path;

use nix::sys::statfs::{fstatfs, statfs, PROC_SUPER_MAGIC};
use oci_spec::runtime::Mount;

use crate::error::{Error, Result, SysResultExt};
use crate::linux::inroot::clean_relative;

/// The files under /proc a mount may cover: the ones lxcfs emulates
/// (runc's list). Anything else under /proc (core_pattern, sysrq-trigger,
/// a pid's attr) stays the kernel's.
const LXCFS_PROC: [&str; 10] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/sys/kernel/ns_last_pid",
    "/proc/sys/crypto/fips_enabled",
];

/// Only procfs on /proc (or a bind of a procfs), and under /proc only the
/// lxcfs set: a tmpfs over /proc would hide the masked paths, a bind over
/// a /proc file would let the container write the host kernel's settings.
/// Ref: runc libcontainer/rootfs_linux.go checkProcMount.
pub fn check_proc_mount(m: &Mount, bind: bool) -> Result<()> {
    let dest = Path::new("/").join(clean_relative(m.destination()));
    if !dest.starts_with("/proc") {
        return Ok(());
    }
    if dest == Path::new("/proc") {
        let procfs = if bind {
            m.source()
                .as_deref()
                .and_then(|s| statfs(s).ok())
                .is_some_and(|st| st.filesystem_type() == PROC_SUPER_MAGIC)
        } else {
            m.typ().as_deref() == Some("proc")
        };
        if !procfs {
            return Err(Error::invalid(format!(
                "mount {}: \"/proc\" cannot be mounted because it is not of type proc",
                m.destination().display()
            )));
        }
        return Ok(());
    }
    if LXCFS_PROC.iter().any(|p| dest == Path::new(p)) {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "mount {}: {:?} cannot be mounted because it is inside /proc",
        m.destination().display(),
        dest
    )))
}

/// The same rule at mount time, on the destination as resolved inside the
/// rootfs: a path of the image's that leads into the container's procfs
/// (a symlink to /proc/sys/...) is refused like a config naming it.
pub fn refuse_inside_proc(fd: BorrowedFd<'_>, dest: &Path) -> Result<()> {
    let st = fstatfs(fd).or_sys(|| format!("statfs {}", dest.display()))?;
    let lexical = Path::new("/").join(clean_relative(dest));
    let allowed =
        lexical == Path::new("/proc") || LXCFS_PROC.iter().any(|p| lexical == Path::new(p));
    if st.filesystem_type() == PROC_SUPER_MAGIC && !allowed {
        return Err(Error::invalid(format!(
            "{} resolves to a path inside /proc, which cannot be mounted over",
            dest.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_mount_table() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                r#"{"destination":"/proc","type":"proc","source":"proc"}"#,
                None,
            ),
            (
                r#"{"destination":"/proc","type":"tmpfs","source":"tmpfs"}"#,
                Some("not of type proc"),
            ),
            (
                r#"{"destination":"/proc/","type":"bind","source":"/tmp","options":["bind"]}"#,
                Some("not of type proc"),
            ),
            (
                r#"{"destination":"/proc","type":"bind","source":"/proc","options":["rbind"]}"#,
                None,
            ),
            (
                r#"{"destination":"/proc/meminfo","type":"bind","source":"/tmp/m","options":["bind"]}"#,
                None,
            ),
            (
                r#"{"destination":"/proc/sys/kernel/core_pattern","type":"bind","source":"/tmp/c","options":["bind"]}"#,
                Some("inside /proc"),
            ),
            (
                r#"{"destination":"/x/../proc/sysrq-trigger","type":"bind","source":"/tmp/c","options":["bind"]}"#,
                Some("inside /proc"),
            ),
            (
                r#"{"destination":"/procfoo","type":"tmpfs","source":"tmpfs"}"#,
                None,
            ),
        ];
        for (json, want) in cases {
            let m: Mount = serde_json::from_str(json).unwrap();
            let bind = m.typ().as_deref() == Some("bind");
            match (check_proc_mount(&m, bind), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.chain().contains(w), "{json}: {}", e.chain()),
                (r, w) => panic!("{json}: got {r:?}, want {w:?}"),
            }
        }
    }
}
