//! `linux.personality`: the execution domain, set with personality(2) on
//! init itself; execve keeps it (LINUX32 makes uname(2) report i686 on
//! x86_64). Ref: personality(2), linux/personality.h, runtime-spec
//! config-linux.md "Personality".

use nix::errno::Errno;
use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain};

use crate::error::{Error, Result};

const PER_LINUX: u64 = 0x0000;
const PER_LINUX32: u64 = 0x0008;

/// The persona personality(2) takes. `flags` must be empty: the
/// runtime-spec defines none ("Currently no flag values are supported"),
/// and brig refuses what it would not apply rather than ignore it (runc
/// warns and runs without them).
pub fn plan(p: &LinuxPersonality) -> Result<u64> {
    if let Some(flags) = p.flags().as_ref().filter(|f| !f.is_empty()) {
        return Err(Error::invalid(format!(
            "linux.personality.flags {flags:?}: no personality flags are supported"
        )));
    }
    Ok(match p.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    })
}

/// personality(persona).
pub fn apply(persona: u64) -> Result<()> {
    // SAFETY: an integer argument; the kernel touches no memory of ours.
    let rc = unsafe { libc::personality(persona as libc::c_ulong) };
    if rc == -1 {
        return Err(Error::sys(
            format!("personality {persona:#x}"),
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
        let cases: &[(&str, Result<u64, &str>)] = &[
            (r#"{"domain":"LINUX32","flags":[]}"#, Ok(0x8)),
            (r#"{"domain":"LINUX32"}"#, Ok(0x8)),
            (r#"{"domain":"LINUX"}"#, Ok(0)),
            (
                r#"{"domain":"LINUX","flags":["ADDR_NO_RANDOMIZE"]}"#,
                Err("no personality flags are supported"),
            ),
        ];
        for (json, want) in cases {
            let p: LinuxPersonality = serde_json::from_str(json).unwrap();
            match (plan(&p), want) {
                (Ok(v), Ok(w)) => assert_eq!(v, *w, "{json}"),
                (Err(e), Err(w)) => assert!(e.chain().contains(w), "{json}: {}", e.chain()),
                (r, w) => panic!("{json}: got {r:?}, want {w:?}"),
            }
        }
        assert!(serde_json::from_str::<LinuxPersonality>(r#"{"domain":"LINUX64"}"#).is_err());
    }
}
