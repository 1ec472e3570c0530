//! A rootless container without a cgroup it may create: runc's rule. With
//! no permission on the cgroup tree (no delegated subtree), a container
//! that asks for no limits and names no `cgroupsPath` runs without a
//! cgroup of its own (a warning says so); one that asks for limits, or
//! for a particular cgroup, is an error, because a limit the config asks
//! for is never dropped silently. Device rules are not limits here: in a
//! user namespace the container can only reach the host's device nodes it
//! is given, with the user's own permissions (runc ignores the devices
//! controller when rootless too).
//!
//! Ref: runc libcontainer/cgroups/fs2/fs2.go `Apply` ("rootless needs no
//! limits + no cgrouppath when no permission is granted for cgroups"),
//! fs/fs.go `isIgnorableError`.

use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result};

/// The `linux.resources` fields that need a cgroup controller to apply.
pub fn limits_requested(r: &LinuxResources) -> Vec<&'static str> {
    let mut v = Vec::new();
    if r.memory().is_some() {
        v.push("memory");
    }
    if r.cpu().is_some() {
        v.push("cpu");
    }
    if r.pids().is_some() {
        v.push("pids");
    }
    if r.block_io().is_some() {
        v.push("blockIO");
    }
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        v.push("hugepageLimits");
    }
    if r.network().is_some() {
        v.push("network");
    }
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        v.push("rdma");
    }
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        v.push("unified");
    }
    v
}

/// May a rootless container that cannot create `dir` run without a
/// cgroup? Ok when it names no cgroup and asks for no limits; else the one
/// line saying what it asked for and why it cannot have it.
pub fn may_run_without(
    dir: &str,
    cgroups_path: Option<&str>,
    requested: Option<&LinuxResources>,
) -> Result<()> {
    if let Some(p) = cgroups_path {
        return Err(Error::invalid(format!(
            "rootless: linux.cgroupsPath {p:?} asks for a cgroup, and this user may not create {dir} (no delegated cgroup)"
        )));
    }
    let limits = requested.map(limits_requested).unwrap_or_default();
    if !limits.is_empty() {
        return Err(Error::invalid(format!(
            "rootless: linux.resources {} need a cgroup, and this user may not create {dir} (no delegated cgroup): remove the limits or delegate a cgroup",
            limits.join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn limits_named() {
        let table = [
            ("{}", vec![]),
            (r#"{"devices":[{"allow":false,"access":"rwm"}]}"#, vec![]),
            (r#"{"memory":{"limit":1000000}}"#, vec!["memory"]),
            (
                r#"{"pids":{"limit":10},"cpu":{"shares":2}}"#,
                vec!["cpu", "pids"],
            ),
            (r#"{"unified":{}}"#, vec![]),
            (r#"{"unified":{"memory.max":"1M"}}"#, vec!["unified"]),
            (r#"{"hugepageLimits":[]}"#, vec![]),
        ];
        for (j, want) in table {
            assert_eq!(limits_requested(&res(j)), want, "{j}");
        }
    }

    #[test]
    fn without_cgroup_only_when_nothing_asked() {
        let devices = res(r#"{"devices":[{"allow":false,"access":"rwm"}]}"#);
        let mem = res(r#"{"memory":{"limit":1000000}}"#);
        assert!(may_run_without("/sys/fs/cgroup/c1", None, None).is_ok());
        assert!(may_run_without("/sys/fs/cgroup/c1", None, Some(&devices)).is_ok());
        let e = may_run_without("/sys/fs/cgroup/c1", None, Some(&mem)).unwrap_err();
        assert!(
            e.chain().contains("linux.resources memory need a cgroup"),
            "{}",
            e.chain()
        );
        let e = may_run_without("/sys/fs/cgroup/c1", Some("/a/b"), None).unwrap_err();
        assert!(
            e.chain().contains("linux.cgroupsPath \"/a/b\""),
            "{}",
            e.chain()
        );
    }
}
