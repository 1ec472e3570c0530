//! `process.rlimits`: setrlimit(2) for each, in order.

use std::collections::HashSet;

use nix::sys::resource::{setrlimit, Resource};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use crate::error::{Error, Result, SysResultExt};

/// oci-spec's type for nix's. Unknown names never get here: oci-spec's
/// `PosixRlimitType` refuses them when config.json is parsed.
fn resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => Resource::RLIMIT_CPU,
        T::RlimitFsize => Resource::RLIMIT_FSIZE,
        T::RlimitData => Resource::RLIMIT_DATA,
        T::RlimitStack => Resource::RLIMIT_STACK,
        T::RlimitCore => Resource::RLIMIT_CORE,
        T::RlimitRss => Resource::RLIMIT_RSS,
        T::RlimitNproc => Resource::RLIMIT_NPROC,
        T::RlimitNofile => Resource::RLIMIT_NOFILE,
        T::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        T::RlimitAs => Resource::RLIMIT_AS,
        T::RlimitLocks => Resource::RLIMIT_LOCKS,
        T::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        T::RlimitNice => Resource::RLIMIT_NICE,
        T::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        T::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// Check the rlimits before anything is created: soft <= hard, each type
/// at most once (runc would apply the last silently; which one was meant?).
pub fn validate(rlimits: Option<&Vec<PosixRlimit>>) -> Result<()> {
    let mut seen = HashSet::new();
    for r in rlimits.into_iter().flatten() {
        if r.soft() > r.hard() {
            return Err(Error::invalid(format!(
                "rlimit {}: soft limit {} is above hard limit {}",
                r.typ(),
                r.soft(),
                r.hard()
            )));
        }
        if !seen.insert(r.typ().to_string()) {
            return Err(Error::invalid(format!("rlimit {} is given twice", r.typ())));
        }
    }
    Ok(())
}

/// A rootless container inherits the user's limits and may only lower a
/// hard limit (raising one needs CAP_SYS_RESOURCE in the host's user
/// namespace): a config asking for more is refused before anything is
/// made, in one line naming the user's limit.
pub fn check_within_hard(rlimits: Option<&Vec<PosixRlimit>>) -> Result<()> {
    for r in rlimits.into_iter().flatten() {
        let (_, hard) = nix::sys::resource::getrlimit(resource(r.typ()))
            .or_sys(|| format!("getrlimit {}", r.typ()))?;
        if r.hard() > hard {
            return Err(Error::invalid(format!(
                "rootless: process.rlimits {} hard {} is above this user's hard limit {hard} (raising it needs CAP_SYS_RESOURCE on the host)",
                r.typ(),
                r.hard()
            )));
        }
    }
    Ok(())
}

/// setrlimit each, in order. Raising a hard limit needs CAP_SYS_RESOURCE:
/// without it the error reads
/// `setrlimit RLIMIT_NOFILE to 30000/30000: operation not permitted (EPERM)`.
pub fn apply(rlimits: Option<&Vec<PosixRlimit>>) -> Result<()> {
    for r in rlimits.into_iter().flatten() {
        setrlimit(resource(r.typ()), r.soft(), r.hard())
            .or_sys(|| format!("setrlimit {} to {}/{}", r.typ(), r.soft(), r.hard()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::procfs::testutil::in_child;
    use nix::sys::resource::getrlimit;

    fn parse(json: &str) -> Vec<PosixRlimit> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn validate_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("[]", None),
            (
                r#"[{"type":"RLIMIT_NOFILE","soft":1024,"hard":4096}]"#,
                None,
            ),
            (
                r#"[{"type":"RLIMIT_NOFILE","soft":1024,"hard":4096},{"type":"RLIMIT_CORE","soft":0,"hard":0}]"#,
                None,
            ),
            (
                r#"[{"type":"RLIMIT_NOFILE","soft":5000,"hard":4096}]"#,
                Some("rlimit RLIMIT_NOFILE: soft limit 5000 is above hard limit 4096"),
            ),
            (
                r#"[{"type":"RLIMIT_NPROC","soft":1,"hard":1},{"type":"RLIMIT_NPROC","soft":2,"hard":2}]"#,
                Some("rlimit RLIMIT_NPROC is given twice"),
            ),
        ];
        for (j, want) in cases {
            let v = parse(j);
            match (validate(Some(&v)), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert_eq!(e.chain(), *w),
                (got, _) => panic!("{j}: got {got:?}, want {want:?}"),
            }
        }
        validate(None).unwrap();
        assert!(serde_json::from_str::<Vec<PosixRlimit>>(
            r#"[{"type":"RLIMIT_BOGUS","soft":1,"hard":1}]"#
        )
        .is_err());
    }

    #[test]
    fn every_type_maps() {
        // The Display name of each type is the libc name nix uses.
        for name in [
            "CPU",
            "FSIZE",
            "DATA",
            "STACK",
            "CORE",
            "RSS",
            "NPROC",
            "NOFILE",
            "MEMLOCK",
            "AS",
            "LOCKS",
            "SIGPENDING",
            "MSGQUEUE",
            "NICE",
            "RTPRIO",
            "RTTIME",
        ] {
            let t: PosixRlimitType =
                serde_json::from_value(serde_json::json!(format!("RLIMIT_{name}"))).unwrap();
            assert_eq!(format!("{:?}", resource(t)), format!("RLIMIT_{name}"));
        }
    }

    #[test]
    fn apply_in_child() {
        let r = in_child(|| {
            let v = parse(
                r#"[{"type":"RLIMIT_NOFILE","soft":1000,"hard":2000},{"type":"RLIMIT_CORE","soft":0,"hard":0}]"#,
            );
            apply(Some(&v)).map_err(|e| e.chain())?;
            let (s, h) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
            let (cs, ch) = getrlimit(Resource::RLIMIT_CORE).map_err(|e| e.to_string())?;
            Ok(format!("{s}/{h} {cs}/{ch}"))
        });
        assert_eq!(r.unwrap(), "1000/2000 0/0");
    }

    #[test]
    fn raising_above_hard_needs_cap_sys_resource() {
        let r = in_child(|| {
            // Drop CAP_SYS_RESOURCE (the VM already lacks it) so the test means the same everywhere.
            let _ = caps::drop(
                None,
                caps::CapSet::Effective,
                caps::Capability::CAP_SYS_RESOURCE,
            );
            let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
            let want = hard + 10000;
            let v = parse(&format!(
                r#"[{{"type":"RLIMIT_NOFILE","soft":{want},"hard":{want}}}]"#
            ));
            match apply(Some(&v)) {
                Ok(()) => Err("raised above the hard limit".into()),
                Err(e) => Ok(format!("{want}|{}", e.chain())),
            }
        })
        .unwrap();
        let (want, msg) = r.split_once('|').unwrap();
        assert_eq!(
            msg,
            format!("setrlimit RLIMIT_NOFILE to {want}/{want}: operation not permitted (EPERM)")
        );
    }
}
