//! Landlock, opted into with the `run.brig.landlock` annotation: an extra
//! file-system allow-list the container cannot lift, on top of mounts,
//! capabilities and seccomp.
//!
//! ```json
//! {"required": true, "readOnly": ["/etc", "/usr"], "readWrite": ["/tmp"], "execute": ["/bin"]}
//! ```
//! Every file-system access right of the highest ABI this kernel has is
//! handled; what is not listed is denied. Paths are as seen inside the
//! container. Ref: landlock(7), Documentation/userspace-api/landlock.rst.

use std::collections::HashMap;
use std::path::PathBuf;

use landlock::{
    make_bitflags, Access, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, ABI,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The annotation that carries the policy.
pub const ANNOTATION: &str = "run.brig.landlock";

/// The newest ABI the crate knows; the crate lowers it to what the kernel has.
const ABI_MAX: ABI = ABI::V10;

/// A parsed `run.brig.landlock` annotation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LandlockPolicy {
    /// Refuse to start when the kernel has no Landlock (default: warn and run).
    #[serde(default)]
    pub required: bool,
    /// Read files and list directories beneath these.
    #[serde(default)]
    pub read_only: Vec<PathBuf>,
    /// Everything but execute beneath these.
    #[serde(default)]
    pub read_write: Vec<PathBuf>,
    /// Read and execute beneath these.
    #[serde(default)]
    pub execute: Vec<PathBuf>,
    /// Also read and execute beneath each top-level entry of the image's
    /// root (a directory or a file) that is not a mount point, other than
    /// /tmp, /dev, /proc, /sys and /run: with `readWrite: ["/"]`, programs
    /// run only from the image, never from a volume, a tmpfs (/dev/shm, an
    /// emptyDir) or a memfd (`/proc/self/fd/N`, fileless payloads).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub execute_image_only: bool,
}

/// Top-level entries of the image a program may run from: in init, after
/// pivot_root, so `/` is the container's root and /proc its own.
fn image_entries() -> Result<Vec<PathBuf>> {
    const WRITABLE_OR_KERNEL: &[&str] = &["tmp", "dev", "proc", "sys", "run"];
    let mounts: std::collections::HashSet<String> = crate::linux::mountinfo::read_self()
        .map_err(|e| Error::io("read /proc/self/mountinfo", e))?
        .into_iter()
        .map(|m| m.mount_point)
        .collect();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/").map_err(|e| Error::io("list /", e))? {
        let entry = entry.map_err(|e| Error::io("list /", e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = PathBuf::from("/").join(&name);
        // A symlink (/bin -> usr/bin) leads to an entry listed itself.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if WRITABLE_OR_KERNEL.contains(&name.as_str())
            || kind.is_symlink()
            || mounts.contains(&path.to_string_lossy().into_owned())
        {
            continue;
        }
        if kind.is_dir() || kind.is_file() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The policy from the annotations, if the annotation is there.
pub fn parse(annotations: Option<&HashMap<String, String>>) -> Result<Option<LandlockPolicy>> {
    let Some(json) = annotations.and_then(|a| a.get(ANNOTATION)) else {
        return Ok(None);
    };
    let policy: LandlockPolicy = serde_json::from_str(json)
        .map_err(|e| Error::json(format!("annotation {ANNOTATION}"), e))?;
    for p in policy
        .read_only
        .iter()
        .chain(&policy.read_write)
        .chain(&policy.execute)
    {
        if !p.is_absolute() {
            return Err(Error::invalid(format!(
                "annotation {ANNOTATION}: path {} is not absolute",
                p.display()
            )));
        }
    }
    Ok(Some(policy))
}

fn read_access() -> BitFlags<AccessFs> {
    make_bitflags!(AccessFs::{ReadFile | ReadDir})
}

/// In init, after pivot_root (so paths open inside the container root) and
/// just before the seccomp filter and execve: restrict this process and
/// everything it will run. Sets no_new_privs, as Landlock requires.
pub fn apply(policy: &LandlockPolicy) -> Result<()> {
    let all = AccessFs::from_all(ABI_MAX);
    let read_write = all & !AccessFs::Execute;
    let execute = read_access() | AccessFs::Execute;
    // Best effort: rights newer than this kernel are not there to restrict,
    // so they are dropped; whether anything was enforced at all is checked
    // below against `required`.
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .map_err(|e| Error::invalid(format!("landlock ruleset: {e}")))?
        .create()
        .map_err(|e| Error::invalid(format!("landlock create ruleset: {e}")))?;
    let image = if policy.execute_image_only {
        image_entries()?
    } else {
        Vec::new()
    };
    let lists = [
        (&policy.read_only, read_access()),
        (&policy.read_write, read_write),
        (&policy.execute, execute),
        (&image, execute),
    ];
    for (paths, access) in lists {
        for p in paths {
            let fd = PathFd::new(p)
                .map_err(|e| Error::invalid(format!("landlock open {}: {e}", p.display())))?;
            // Files take only file rights; the crate trims them in best-effort mode.
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, access))
                .map_err(|e| Error::invalid(format!("landlock rule for {}: {e}", p.display())))?;
        }
    }
    let status = ruleset
        .restrict_self()
        .map_err(|e| Error::invalid(format!("landlock restrict_self: {e}")))?;
    match status.ruleset {
        RulesetStatus::NotEnforced if policy.required => Err(Error::invalid(format!(
            "annotation {ANNOTATION} requires Landlock, and this kernel does not enforce it"
        ))),
        RulesetStatus::NotEnforced => {
            tracing::warn!(
                "{ANNOTATION}: Landlock is not available in this kernel; policy skipped"
            );
            Ok(())
        }
        RulesetStatus::PartiallyEnforced | RulesetStatus::FullyEnforced => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::procfs::testutil::in_child;

    fn ann(v: &str) -> HashMap<String, String> {
        [(ANNOTATION.to_string(), v.to_string())].into()
    }

    #[test]
    fn parse_table() {
        assert_eq!(parse(None).unwrap(), None);
        assert_eq!(parse(Some(&HashMap::new())).unwrap(), None);
        let p = parse(Some(&ann(
            r#"{"readOnly":["/etc"],"readWrite":["/tmp"],"execute":["/bin"]}"#,
        )))
        .unwrap()
        .unwrap();
        assert!(!p.required);
        assert_eq!(p.read_write, vec![PathBuf::from("/tmp")]);
        let p = parse(Some(&ann(r#"{"required":true}"#))).unwrap().unwrap();
        assert!(p.required && p.read_only.is_empty());
        for (bad, want) in [
            (r#"{"readonly":["/etc"]}"#, "unknown field"),
            (r#"{"readOnly":["etc"]}"#, "not absolute"),
            (r#"{"required":"yes"}"#, "annotation run.brig.landlock"),
            ("not json", "annotation run.brig.landlock"),
        ] {
            let e = parse(Some(&ann(bad))).unwrap_err().chain();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }

    #[test]
    fn write_outside_read_write_is_denied() {
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        let rw = dir.path().join("rw");
        std::fs::create_dir(&ro).unwrap();
        std::fs::create_dir(&rw).unwrap();
        std::fs::write(ro.join("f"), "x").unwrap();
        let policy = LandlockPolicy {
            required: true,
            read_only: vec![ro.clone()],
            read_write: vec![rw.clone()],
            execute: vec![],
            execute_image_only: false,
        };
        let r = in_child(move || {
            apply(&policy).map_err(|e| e.chain())?;
            let w_rw = std::fs::write(rw.join("g"), "y").map_err(|e| e.to_string());
            let r_ro = std::fs::read_to_string(ro.join("f")).map_err(|e| e.to_string());
            let w_ro =
                std::fs::write(ro.join("f"), "z").map_err(|e| format!("{:?}", e.raw_os_error()));
            let r_etc =
                std::fs::read("/etc/hostname").map_err(|e| format!("{:?}", e.raw_os_error()));
            Ok(format!("{w_rw:?} {r_ro:?} {w_ro:?} {}", r_etc.is_err()))
        })
        .unwrap();
        let eacces = format!("Err(\"{:?}\")", Some(libc::EACCES));
        assert_eq!(r, format!("Ok(()) Ok(\"x\") {eacces} true"));
    }
}
