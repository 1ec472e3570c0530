//! `process.ioPriority`: the I/O scheduling class and level, set with
//! ioprio_set(2) on init itself; execve keeps it. Ref: ioprio_set(2),
//! linux/ioprio.h, runtime-spec config.md "IOPriority"; runc
//! libcontainer/init_linux.go setupIOPriority.

use nix::errno::Errno;
use oci_spec::runtime::{IOPriorityClass, LinuxIOPriority};

use crate::error::{Error, Result};

/// IOPRIO_WHO_PROCESS: `who` is a thread id, 0 the caller. runc names its
/// constant `ioprioWhoPgrp` but passes 1, which is this (IOPRIO_WHO_PGRP
/// is 2): the priority is the process's own, and its children inherit it.
const IOPRIO_WHO_PROCESS: libc::c_long = 1;
/// IOPRIO_CLASS_SHIFT: the class sits above 13 bits of level.
const CLASS_SHIFT: u32 = 13;

/// runc's check, in its words: a level within 0..7. (An unknown class
/// never gets here: oci-spec refuses it when the JSON is read.)
pub fn validate(p: &LinuxIOPriority) -> Result<()> {
    let level = p.priority();
    if !(0..=7).contains(&level) {
        return Err(Error::invalid(format!(
            "invalid ioPriority.Priority: {level}"
        )));
    }
    Ok(())
}

/// The checked spec as ioprio_set takes it: class << 13 | level.
pub fn plan(p: &LinuxIOPriority) -> Result<u32> {
    validate(p)?;
    let class: u32 = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    Ok(class << CLASS_SHIFT | p.priority() as u32)
}

/// ioprio_set(IOPRIO_WHO_PROCESS, 0, ioprio). The real-time class needs
/// CAP_SYS_ADMIN (before Linux 2.6.25, idle too): called before
/// capabilities drop.
pub fn apply(ioprio: u32) -> Result<()> {
    // SAFETY: integer arguments only; the kernel touches no memory of ours.
    let rc = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, ioprio) };
    if rc != 0 {
        return Err(Error::sys(
            format!(
                "ioprio_set class {} level {}",
                ioprio >> CLASS_SHIFT,
                ioprio & 0x1fff
            ),
            Errno::last(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_table() {
        let cases: &[(&str, Result<u32, &str>)] = &[
            (
                r#"{"class":"IOPRIO_CLASS_BE","priority":4}"#,
                Ok(2 << 13 | 4),
            ),
            (r#"{"class":"IOPRIO_CLASS_RT","priority":0}"#, Ok(1 << 13)),
            (r#"{"class":"IOPRIO_CLASS_IDLE"}"#, Ok(3 << 13)),
            (
                r#"{"class":"IOPRIO_CLASS_BE","priority":7}"#,
                Ok(2 << 13 | 7),
            ),
            (
                r#"{"class":"IOPRIO_CLASS_BE","priority":8}"#,
                Err("invalid ioPriority.Priority: 8"),
            ),
            (
                r#"{"class":"IOPRIO_CLASS_RT","priority":-1}"#,
                Err("invalid ioPriority.Priority: -1"),
            ),
        ];
        for (json, want) in cases {
            let p: LinuxIOPriority = serde_json::from_str(json).unwrap();
            match (plan(&p), want) {
                (Ok(v), Ok(w)) => assert_eq!(v, *w, "{json}"),
                (Err(e), Err(w)) => assert!(e.chain().contains(w), "{json}: {}", e.chain()),
                (r, w) => panic!("{json}: got {r:?}, want {w:?}"),
            }
        }
        assert!(
            serde_json::from_str::<LinuxIOPriority>(r#"{"class":"IOPRIO_CLASS_NONE"}"#).is_err()
        );
    }
}
