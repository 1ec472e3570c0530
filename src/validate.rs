//! Every check that can fail before any process is created. A config that
//! fails here leaves nothing behind: no state, no cgroup, no process.

use oci_spec::runtime::Spec;

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
    // Hooks come with their own issue; until then a config asking for them
    // is refused rather than run without them (features lists none).
    if let Some(h) = spec.hooks() {
        let any = [
            h.prestart().as_ref(),
            h.create_runtime().as_ref(),
            h.create_container().as_ref(),
            h.start_container().as_ref(),
            h.poststart().as_ref(),
            h.poststop().as_ref(),
        ]
        .into_iter()
        .any(|l| l.is_some_and(|l| !l.is_empty()));
        if any {
            return Err(Error::invalid("hooks are not supported yet by brig"));
        }
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
