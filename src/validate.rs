//! Every check on config.json that can fail before any process is created,
//! pure (called by plan.rs; what depends on the host is plan::check_host).
//! A config that fails here leaves nothing behind: no state, no cgroup, no
//! process.

use oci_spec::runtime::{Hooks, Process, Spec};

use crate::error::{Error, Result};
use crate::linux::namespaces::{Kind, NsPlan};
use crate::linux::{
    affinity, apparmor, capabilities, ioprio, mempolicy, personality, rlimits, rootfs, sched,
    sysctl, userns,
};

/// Check the whole spec; returns the namespace plan on success.
pub fn spec(spec: &Spec) -> Result<NsPlan> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::invalid("config.json has no process"))?;
    self::process(process)?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::invalid("config.json has no linux section"))?;
    let ns = NsPlan::from_spec(linux.namespaces().as_deref().unwrap_or(&[]))?;
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
    selinux(None, linux.mount_label().as_deref())?;
    userns::validate(spec)?;
    rootfs::validate(spec)?;
    sysctl::validate(spec)?;
    // The seccomp profile and the Landlock annotation are checked where
    // plan.rs compiles and parses them.
    if let Some(r) = linux.resources() {
        crate::cgroups::validate(r)?;
    }
    if let Some(p) = linux.personality() {
        personality::plan(p)?;
    }
    if let Some(m) = linux.memory_policy() {
        mempolicy::plan(m)?;
    }
    Ok(ns)
}

/// The process alone: config.json's, or the one `exec` runs.
pub fn process(process: &Process) -> Result<()> {
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
    env(process.env().as_deref().unwrap_or(&[]))?;
    selinux(process.selinux_label().as_deref(), None)?;
    // Refused at create too, as runc does, though only exec uses it.
    affinity::plan(process.exec_cpu_affinity().as_ref())?;
    let user = process.user();
    if user.uid() == u32::MAX || user.gid() == u32::MAX {
        return Err(Error::invalid(
            "process.user uid or gid 4294967295 is not a valid id",
        ));
    }
    capabilities::validate(process.capabilities().as_ref())?;
    rlimits::validate(process.rlimits().as_ref())?;
    if let Some(profile) = process.apparmor_profile() {
        apparmor::validate_name(profile)?;
    }
    if let Some(s) = process.scheduler() {
        sched::validate(s)?;
    }
    if let Some(p) = process.io_priority() {
        ioprio::validate(p)?;
    }
    Ok(())
}

/// `process.env`: every entry KEY=VALUE with a name, and no NUL (runc's
/// rules, checked before anything exists rather than in init).
pub fn env(env: &[String]) -> Result<()> {
    for e in env {
        match e.split_once('=') {
            None => {
                return Err(Error::invalid(format!(
                    "invalid environment variable {e:?}: missing '='"
                )))
            }
            Some(("", _)) => {
                return Err(Error::invalid(format!(
                    "invalid environment variable {e:?}: name cannot be empty"
                )))
            }
            Some(_) if e.contains('\0') => {
                return Err(Error::invalid(format!(
                    "invalid environment variable {e:?}: contains a NUL byte"
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// brig applies no SELinux labels, so a config asking for one is refused
/// rather than run unlabelled (runc refuses a process label when SELinux
/// is off; a mount label it would drop silently).
fn selinux(process_label: Option<&str>, mount_label: Option<&str>) -> Result<()> {
    for (field, label) in [
        ("process.selinuxLabel", process_label),
        ("linux.mountLabel", mount_label),
    ] {
        if let Some(l) = label.filter(|l| !l.is_empty()) {
            return Err(Error::invalid(format!(
                "{field} {l:?}: selinux label is specified in config, but selinux is disabled or not supported"
            )));
        }
    }
    Ok(())
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
    fn env_and_selinux_checks() {
        let ok: &[&str] = &["A=b", "E=", "X=a=b"];
        assert!(env(&ok.iter().map(|s| s.to_string()).collect::<Vec<_>>()).is_ok());
        for (bad, want) in [
            ("NOEQUALS", "missing '='"),
            ("=v", "name cannot be empty"),
            ("A=b\0c", "NUL"),
        ] {
            let e = env(&[bad.to_string()]).unwrap_err().chain();
            assert!(e.contains(want), "{bad:?}: {e}");
        }
        assert!(selinux(None, Some("")).is_ok());
        let e = selinux(Some("system_u:system_r:container_t:s0"), None).unwrap_err();
        assert!(e.chain().contains("process.selinuxLabel"), "{}", e.chain());
        let e = selinux(None, Some("system_u:object_r:container_file_t:s0")).unwrap_err();
        assert!(e.chain().contains("linux.mountLabel"), "{}", e.chain());
    }

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
