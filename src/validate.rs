//! Every check that can fail before any process is created. A config that
//! fails here leaves nothing behind: no state, no cgroup, no process.

use oci_spec::runtime::{Hooks, Spec};

use crate::error::{Error, Result};
use crate::linux::namespaces::{Kind, NsPlan};
use crate::linux::{capabilities, landlock, rlimits, rootfs, seccomp, sysctl, userns};

/// Check the whole spec; returns the namespace plan on success.
pub fn spec(spec: &Spec) -> Result<NsPlan> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::invalid("config.json has no process"))?;
    match process.args() {
        Some(a) if !a.is_empty() && !a[0].is_empty() => {}
        _ => return Err(Error::invalid("process.args must name a program")),
    }
    if !process.cwd().is_absolute() {
        return Err(Error::invalid(format!(
            "process.cwd {} is not absolute",
            process.cwd().display()
        )));
    }
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::invalid("config.json has no linux section"))?;
    let ns = NsPlan::from_spec(linux.namespaces().as_deref().unwrap_or(&[]))?;
    for (kind, path) in ns.joins() {
        crate::linux::namespaces::open_ns(kind, path)?;
    }
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !ns.has_own(Kind::Uts) {
        return Err(Error::invalid(
            "hostname is set but the container has no uts namespace of its own",
        ));
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty()) && !ns.has_own(Kind::Uts) {
        return Err(Error::invalid(
            "domainname is set but the container has no uts namespace of its own",
        ));
    }
    if linux.time_offsets().is_some() && !ns.is_new(Kind::Time) {
        return Err(Error::invalid(
            "timeOffsets are set but the container does not create a time namespace",
        ));
    }
    if let Some(h) = spec.hooks() {
        hooks(h)?;
    }
    let user = process.user();
    if user.uid() == u32::MAX || user.gid() == u32::MAX {
        return Err(Error::invalid(
            "process.user uid or gid 4294967295 is not a valid id",
        ));
    }
    userns::validate(spec)?;
    capabilities::validate(process.capabilities().as_ref())?;
    rlimits::validate(process.rlimits().as_ref())?;
    rootfs::validate(spec)?;
    sysctl::validate(spec)?;
    if let Some(s) = linux.seccomp() {
        seccomp::validate(s)?;
    }
    landlock::parse(spec.annotations().as_ref())?;
    if let Some(r) = linux.resources() {
        crate::cgroups::validate(r)?;
    }
    Ok(ns)
}

/// Every hook: an absolute path (resolved as given, never via $PATH), a
/// positive timeout, env entries of the form KEY=VALUE.
/// Ref: runtime-spec config.md, POSIX-platform Hooks.
pub fn hooks(h: &Hooks) -> Result<()> {
    for kind in crate::hooks::Kind::ALL {
        for (i, hook) in kind.list(Some(h)).iter().enumerate() {
            let at = || format!("hooks.{}[{i}]", kind.name());
            if !hook.path().is_absolute() {
                return Err(Error::invalid(format!(
                    "{}: path {:?} is not absolute",
                    at(),
                    hook.path()
                )));
            }
            if let Some(t) = hook.timeout() {
                if t <= 0 {
                    return Err(Error::invalid(format!(
                        "{}: timeout {t} must be a positive number of seconds",
                        at()
                    )));
                }
            }
            if let Some(e) = hook
                .env()
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .find(|e| e.split_once('=').is_none_or(|(k, _)| k.is_empty()))
            {
                return Err(Error::invalid(format!(
                    "{}: env entry {e:?} is not KEY=VALUE",
                    at()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_checks() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"{"prestart":[{"path":"/bin/true"}]}"#, None),
            (
                r#"{"createRuntime":[{"path":"/h","args":["h","a"],"env":["A=b=c","E="],"timeout":1}]}"#,
                None,
            ),
            (r#"{"poststop":[]}"#, None),
            (r#"{}"#, None),
            (
                r#"{"createContainer":[{"path":"bin/true"}]}"#,
                Some("hooks.createContainer[0]: path \"bin/true\" is not absolute"),
            ),
            (
                r#"{"poststart":[{"path":"/a"},{"path":"/b","timeout":0}]}"#,
                Some("hooks.poststart[1]: timeout 0 must be a positive number of seconds"),
            ),
            (
                r#"{"startContainer":[{"path":"/a","timeout":-3}]}"#,
                Some("timeout -3"),
            ),
            (
                r#"{"poststop":[{"path":"/a","env":["NOEQUALS"]}]}"#,
                Some("env entry \"NOEQUALS\" is not KEY=VALUE"),
            ),
            (
                r#"{"prestart":[{"path":"/a","env":["=v"]}]}"#,
                Some("env entry"),
            ),
            (r#"{"prestart":[{"path":""}]}"#, Some("is not absolute")),
        ];
        for (json, want) in cases {
            let h: Hooks = serde_json::from_str(json).unwrap();
            match (hooks(&h), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.chain().contains(w), "{json}: {}", e.chain()),
                (r, w) => panic!("{json}: got {r:?}, want {w:?}"),
            }
        }
    }
}
