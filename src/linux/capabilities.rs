//! Capability sets for the container process.
//!
//! Sets not named in config.json are empty, inheritable and ambient
//! especially (SECURITY.md class 4, Ref: CVE-2022-29162).
//! Ref: capabilities(7), runtime-spec config.md "process.capabilities".

use std::str::FromStr;

use caps::{Capability as Cap, CapsHashSet};
use nix::errno::Errno;
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

use crate::error::{Error, Result, SysResultExt};

/// The kernel's highest capability number, from /proc/sys/kernel/cap_last_cap,
/// else probed with PR_CAPBSET_READ by the caps crate.
fn last_cap() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            caps::runtime::thread_all_supported()
                .iter()
                .map(|c| c.index())
                .max()
                .unwrap_or(0)
        })
}

/// oci-spec's name ("CAP_SYS_ADMIN") for the caps crate's type.
fn to_caps(c: &Capability) -> Result<Cap> {
    let name = format!("CAP_{c}");
    Cap::from_str(&name)
        .map_err(|_| Error::invalid(format!("capability {name} is not known to brig")))
}

fn set_of(caps: Option<&Capabilities>) -> Result<CapsHashSet> {
    caps.into_iter().flatten().map(to_caps).collect()
}

/// The five sets; a missing set is empty.
struct Sets {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

fn sets(caps: Option<&LinuxCapabilities>) -> Result<Sets> {
    let get = |f: fn(&LinuxCapabilities) -> &Option<Capabilities>| {
        set_of(caps.and_then(|c| f(c).as_ref()))
    };
    Ok(Sets {
        bounding: get(LinuxCapabilities::bounding)?,
        effective: get(LinuxCapabilities::effective)?,
        permitted: get(LinuxCapabilities::permitted)?,
        inheritable: get(LinuxCapabilities::inheritable)?,
        ambient: get(LinuxCapabilities::ambient)?,
    })
}

/// Check `process.capabilities` before anything is created.
///
/// Unknown names: oci-spec already refuses them when config.json is parsed
/// (its `Capability` enum has no "other" case), so a typo such as
/// `CAP_SYS_ADMN` never gets here. Where runc warns and ignores, brig refuses:
/// a silently dropped name changes what the container may do. What the enum
/// cannot express is checked here: every capability must exist in the
/// *running* kernel (e.g. CAP_CHECKPOINT_RESTORE needs 5.9), since raising
/// an unknown one fails half-way through init; and every ambient capability
/// that is not also permitted and inheritable is skipped by apply(), as the
/// kernel cannot raise it (runc's default spec lists such ambient caps).
pub fn validate(caps: Option<&LinuxCapabilities>) -> Result<()> {
    validate_with_last(caps, last_cap())?;
    // A capability brig's own bounding set lacks (a host that withholds
    // CAP_SYS_RESOURCE from root) can never be granted, in any user
    // namespace: say so now, not when init sets the sets after `start`.
    let own = caps::read(None, caps::CapSet::Bounding)
        .map_err(|e| Error::invalid(format!("read brig's own bounding set: {e}")))?;
    check_within(caps, &own)
}

/// Every capability named in any set is in `own` (brig's bounding set).
fn check_within(caps: Option<&LinuxCapabilities>, own: &CapsHashSet) -> Result<()> {
    let s = sets(caps)?;
    for (set, named) in [
        ("bounding", &s.bounding),
        ("effective", &s.effective),
        ("permitted", &s.permitted),
        ("inheritable", &s.inheritable),
        ("ambient", &s.ambient),
    ] {
        let mut missing: Vec<_> = named.difference(own).collect();
        missing.sort_by_key(|c| c.index());
        if let Some(c) = missing.first() {
            return Err(Error::invalid(format!(
                "process.capabilities.{set}: {c} cannot be granted: brig itself does not hold it (not in its bounding set)"
            )));
        }
    }
    Ok(())
}

fn validate_with_last(caps: Option<&LinuxCapabilities>, last: u8) -> Result<()> {
    let s = sets(caps)?;
    let named = [
        ("bounding", &s.bounding),
        ("effective", &s.effective),
        ("permitted", &s.permitted),
        ("inheritable", &s.inheritable),
        ("ambient", &s.ambient),
    ];
    for (set, caps) in named {
        let mut sorted: Vec<_> = caps.iter().collect();
        sorted.sort_by_key(|c| c.index());
        if let Some(c) = sorted.into_iter().find(|c| c.index() > last) {
            return Err(Error::invalid(format!(
                "process.capabilities.{set}: {c} is not supported by this kernel (cap_last_cap {last})"
            )));
        }
    }
    // An ambient capability that is not also permitted and inheritable
    // cannot be raised (capabilities(7)); apply() skips it with runc's
    // warning. That grants less than asked, never more.
    Ok(())
}

/// In init, as root with every capability, BEFORE changing uid: drop from the
/// bounding set everything not in `bounding` (missing => empty), and set
/// PR_SET_KEEPCAPS so the permitted set survives setresuid away from 0.
pub fn prepare(caps: Option<&LinuxCapabilities>) -> Result<()> {
    let s = sets(caps)?;
    for c in kernel_caps() {
        if !s.bounding.contains(&c) {
            // SAFETY: PR_CAPBSET_DROP takes a capability number; no pointers.
            let rc = unsafe {
                libc::prctl(
                    libc::PR_CAPBSET_DROP,
                    libc::c_ulong::from(c.index()),
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                )
            };
            Errno::result(rc).or_sys(|| format!("drop {c} from the bounding set"))?;
        }
    }
    nix::sys::prctl::set_keepcaps(true).or_sys(|| "prctl PR_SET_KEEPCAPS 1".to_string())
}

/// After setresgid/setgroups/setresuid: set permitted, effective and
/// inheritable exactly as given (missing => empty), clear KEEPCAPS, then
/// clear the ambient set (it may have come from whoever started brig) and
/// raise each ambient capability.
///
/// `keep_admin` also keeps CAP_SYS_ADMIN permitted and effective (not
/// inheritable, bounding or ambient), for a seccomp filter loaded without
/// no_new_privs; execve drops it again unless the config grants it.
pub fn apply(caps: Option<&LinuxCapabilities>, keep_admin: bool) -> Result<()> {
    let mut s = sets(caps)?;
    if keep_admin {
        s.permitted.insert(Cap::CAP_SYS_ADMIN);
        s.effective.insert(Cap::CAP_SYS_ADMIN);
    }
    capset(&s.permitted, &s.effective, &s.inheritable)?;
    nix::sys::prctl::set_keepcaps(false).or_sys(|| "prctl PR_SET_KEEPCAPS 0".to_string())?;
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes no pointers.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    Errno::result(rc).or_sys(|| "clear the ambient set".to_string())?;
    let mut ambient: Vec<_> = s.ambient.iter().copied().collect();
    ambient.sort_by_key(|c| c.index());
    for c in ambient {
        if !s.permitted.contains(&c) || !s.inheritable.contains(&c) {
            // The kernel refuses it (EPERM): say so in runc's words, and
            // go on with less than asked, never more.
            tracing::warn!(
                "can't raise ambient capability {c}: {}",
                crate::error::Os(Errno::EPERM)
            );
            continue;
        }
        // SAFETY: PR_CAP_AMBIENT_RAISE takes a capability number; no pointers.
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                libc::c_ulong::from(c.index()),
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        Errno::result(rc).or_sys(|| format!("raise ambient {c}"))?;
    }
    Ok(())
}

/// One capset(2) for the three sets. The caps crate changes one set per
/// call, and the kernel checks effective ⊆ permitted after each: dropping
/// permitted first fails while uid 0 still has a full effective set, and
/// setting effective first fails after a setresuid that kept permitted small.
/// One call has no such order. Ref: capset(2).
fn capset(
    permitted: &CapsHashSet,
    effective: &CapsHashSet,
    inheritable: &CapsHashSet,
) -> Result<()> {
    let mask = |s: &CapsHashSet| s.iter().fold(0u64, |m, c| m | c.bitmask());
    let (p, e, i) = (mask(permitted), mask(effective), mask(inheritable));
    let mut header = libc_cap_header {
        version: 0x2008_0522,
        pid: 0,
    }; // _LINUX_CAPABILITY_VERSION_3
    let data = [
        libc_cap_data {
            effective: e as u32,
            permitted: p as u32,
            inheritable: i as u32,
        },
        libc_cap_data {
            effective: (e >> 32) as u32,
            permitted: (p >> 32) as u32,
            inheritable: (i >> 32) as u32,
        },
    ];
    // SAFETY: header and two data structs in the v3 layout, both live for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut libc_cap_header,
            data.as_ptr(),
        )
    };
    Errno::result(rc).map(drop).or_sys(|| {
        format!(
            "capset permitted={} effective={} inheritable={}",
            names(permitted),
            names(effective),
            names(inheritable)
        )
    })
}

#[repr(C)]
#[allow(non_camel_case_types)]
struct libc_cap_header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[allow(non_camel_case_types)]
struct libc_cap_data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn names(s: &CapsHashSet) -> String {
    let mut v: Vec<_> = s.iter().map(|c| c.to_string()).collect();
    v.sort();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(",")
    }
}

/// Every capability this kernel knows, "CAP_..." in number order (for `features`).
pub fn known() -> Vec<String> {
    kernel_caps().into_iter().map(|c| c.to_string()).collect()
}

/// Every capability this kernel knows, in number order.
fn kernel_caps() -> Vec<Cap> {
    let last = last_cap();
    let mut all: Vec<Cap> = caps::all()
        .into_iter()
        .filter(|c| c.index() <= last)
        .collect();
    all.sort_by_key(|c| c.index());
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::procfs::testutil::in_child;

    fn lc(json: &str) -> LinuxCapabilities {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn every_oci_capability_maps_to_caps() {
        // Round-trip every name the caps crate knows through oci-spec's enum.
        for c in caps::all() {
            let oci: Capability = serde_json::from_value(serde_json::json!(c.to_string())).unwrap();
            assert_eq!(to_caps(&oci).unwrap(), c);
        }
        assert!(
            serde_json::from_str::<LinuxCapabilities>(r#"{"bounding":["CAP_SYS_ADMN"]}"#).is_err()
        );
    }

    #[test]
    fn capabilities_brig_lacks_are_refused() {
        let own: CapsHashSet = [Cap::CAP_CHOWN, Cap::CAP_KILL].into_iter().collect();
        assert!(check_within(Some(&lc(r#"{"bounding":["CAP_KILL"]}"#)), &own).is_ok());
        let e = check_within(
            Some(&lc(r#"{"permitted":["CAP_KILL","CAP_SYS_RESOURCE"]}"#)),
            &own,
        )
        .unwrap_err();
        assert!(
            e.chain()
                .contains("permitted: CAP_SYS_RESOURCE cannot be granted"),
            "{}",
            e.chain()
        );
    }

    #[test]
    fn validate_table() {
        let cases: &[(&str, u8, Option<&str>)] = &[
            ("{}", 40, None),
            (
                r#"{"bounding":["CAP_CHOWN"],"permitted":["CAP_CHOWN"]}"#,
                40,
                None,
            ),
            (
                r#"{"permitted":["CAP_CHECKPOINT_RESTORE"]}"#,
                39,
                Some("not supported by this kernel"),
            ),
            (
                r#"{"permitted":["CAP_KILL"],"inheritable":["CAP_KILL"],"ambient":["CAP_KILL"]}"#,
                40,
                None,
            ),
            (
                // runc's own default spec: ambient without inheritable is
                // accepted; apply() skips what the kernel cannot raise.
                r#"{"permitted":["CAP_KILL"],"ambient":["CAP_KILL"]}"#,
                40,
                None,
            ),
        ];
        for (j, last, want) in cases {
            match (validate_with_last(Some(&lc(j)), *last), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.chain().contains(w), "{j}: {}", e.chain()),
                (got, _) => panic!("{j}: got {got:?}, want {want:?}"),
            }
        }
        validate(None).unwrap();
    }

    #[test]
    fn known_matches_cap_last_cap() {
        let k = known();
        assert_eq!(k.len(), usize::from(last_cap()) + 1);
        assert_eq!(k[0], "CAP_CHOWN");
    }

    /// prepare, setresuid(1000), apply in a child; return its status lines.
    fn run(caps: Option<LinuxCapabilities>) -> Result<String, String> {
        in_child(move || {
            prepare(caps.as_ref()).map_err(|e| e.chain())?;
            let id = nix::unistd::Uid::from_raw(1000);
            nix::unistd::setresgid(1000.into(), 1000.into(), 1000.into())
                .map_err(|e| e.to_string())?;
            nix::unistd::setresuid(id, id, id).map_err(|e| e.to_string())?;
            apply(caps.as_ref(), false).map_err(|e| e.chain())?;
            let st = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
            Ok(st
                .lines()
                .filter(|l| l.starts_with("Cap"))
                .collect::<Vec<_>>()
                .join("\n"))
        })
    }

    fn field<'a>(st: &'a str, name: &str) -> &'a str {
        st.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
    }

    #[test]
    fn child_gets_exact_sets() {
        crate::skip::require_root!();
        // CHOWN=0, KILL=5, NET_BIND_SERVICE=10.
        let c = lc(
            r#"{"bounding":["CAP_CHOWN","CAP_KILL","CAP_NET_BIND_SERVICE"],
            "permitted":["CAP_KILL","CAP_NET_BIND_SERVICE"],"effective":["CAP_KILL"],
            "inheritable":["CAP_NET_BIND_SERVICE"],"ambient":["CAP_NET_BIND_SERVICE"]}"#,
        );
        let st = run(Some(c)).unwrap();
        assert_eq!(field(&st, "CapBnd:"), "0000000000000421", "{st}");
        assert_eq!(field(&st, "CapPrm:"), "0000000000000420", "{st}");
        assert_eq!(field(&st, "CapEff:"), "0000000000000020", "{st}");
        assert_eq!(field(&st, "CapInh:"), "0000000000000400", "{st}");
        assert_eq!(field(&st, "CapAmb:"), "0000000000000400", "{st}");
    }

    #[test]
    fn absent_sets_are_empty() {
        crate::skip::require_root!();
        let c =
            lc(r#"{"bounding":["CAP_KILL"],"permitted":["CAP_KILL"],"effective":["CAP_KILL"]}"#);
        let st = run(Some(c)).unwrap();
        assert_eq!(field(&st, "CapInh:"), "0000000000000000", "{st}");
        assert_eq!(field(&st, "CapAmb:"), "0000000000000000", "{st}");
        assert_eq!(field(&st, "CapBnd:"), "0000000000000020", "{st}");
        let st = run(None).unwrap();
        for f in ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
            assert_eq!(field(&st, f), "0000000000000000", "{f} {st}");
        }
    }

    #[test]
    fn as_root_effective_full_then_smaller() {
        crate::skip::require_root!();
        // Staying uid 0: the full effective set must not block a smaller permitted set.
        let c =
            lc(r#"{"bounding":["CAP_KILL"],"permitted":["CAP_KILL"],"effective":["CAP_KILL"]}"#);
        let st = in_child(move || {
            prepare(Some(&c)).map_err(|e| e.chain())?;
            apply(Some(&c), false).map_err(|e| e.chain())?;
            std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())
        })
        .unwrap();
        assert_eq!(field(&st, "CapEff:"), "0000000000000020", "{st}");
        assert_eq!(field(&st, "CapPrm:"), "0000000000000020", "{st}");
    }
}
