//! A rootfs built in a copy of brig's mount namespace template
//! (`linux::mnt_template`) instead of a copy of the host's mount table:
//! which configs may (decided by the plan), and the start of
//! [`super::prepare`] there.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{open, OFlag};
use nix::mount::MsFlags;
use nix::sys::stat::Mode;

use super::{
    is_bind, mount_all, mount_options, AskParent, CgroupView, Ctx, RootfsPlan, ROOT_INDEX,
};
use crate::error::{Error, Result, SysResultExt};

/// Can the container's mount namespace start from the template
/// (`linux::mnt_template`) rather than a copy of the host's? Only where
/// nothing needs the host's mount table in it. Each "no" keeps today's way:
/// - a user namespace: its devices are binds of the host's, its sources
///   premade in other ways (a later step);
/// - `--no-pivot`: the host's mounts stay under the chroot by design;
/// - rootfsPropagation other than rslave/rprivate: shared, slave and
///   unbindable are about the host's peers;
/// - prestart, createRuntime or createContainer hooks: they may reach the
///   container's mount namespace by the host's paths before pivot_root;
/// - a mount of another type than bind, proc, sysfs, tmpfs, devpts,
///   mqueue, cgroup(2): its source (a device, an overlay's layers) is a
///   host path. Pure.
pub fn template_eligible(plan: &RootfsPlan, hooks: Option<&oci_spec::runtime::Hooks>) -> bool {
    let hooks_reach_in = hooks.is_some_and(|h| {
        [h.prestart(), h.create_runtime(), h.create_container()]
            .iter()
            .any(|l| l.as_ref().is_some_and(|l| !l.is_empty()))
    });
    let propagation_ok = matches!(
        plan.propagation.as_deref(),
        None | Some("rslave" | "rprivate")
    );
    let mounts_ok = plan.mounts.iter().all(|m| {
        let Ok(o) = mount_options(m) else {
            return false;
        };
        is_bind(m, &o)
            || matches!(
                m.typ().as_deref(),
                Some("proc" | "sysfs" | "tmpfs" | "devpts" | "mqueue" | "cgroup" | "cgroup2")
            )
    });
    // The setup's own /proc is at /proc of the tmpfs the rootfs is on.
    let path_ok = plan.path.is_absolute() && !plan.path.starts_with("/proc");
    path_ok
        && !plan.userns
        && !plan.idmap_root
        && !plan.no_pivot
        && propagation_ok
        && !hooks_reach_in
        && mounts_ok
}

/// What init has for a start from the template: the namespace (checked by
/// the parent) and the cgroup binds the parent made.
#[derive(Clone, Copy)]
pub struct Template<'a> {
    pub ns: BorrowedFd<'a>,
    pub cgroup_trees: &'a [(String, OwnedFd)],
}

/// [`prepare`] in a copy of the template: the rootfs tree the parent
/// cloned on the host (premade at [`ROOT_INDEX`]) attached at its host
/// path on a tmpfs of our own, then given the rootfs propagation; every
/// other host tree the same once attached (see `linux::mnt_template`).
pub(super) fn prepare_from_template(
    plan: &RootfsPlan,
    cgroups: Option<&CgroupView>,
    premade: &[(usize, RawFd)],
    ask_parent: AskParent<'_>,
    template: Template<'_>,
    root_flag: MsFlags,
) -> Result<()> {
    let rootfs = plan.path.as_path();
    let &(_, fd) = premade
        .iter()
        .find(|(i, _)| *i == ROOT_INDEX)
        .ok_or_else(|| Error::invalid("the template needs the rootfs tree from the parent"))?;
    // SAFETY: the parent made this tree for the root and passed it across
    // the re-exec; nothing else in this process owns it.
    let tree = unsafe { OwnedFd::from_raw_fd(fd) };
    crate::linux::mnt_template::enter(template.ns)?;
    crate::linux::mnt_template::attach_root(rootfs, tree.as_fd())?;
    drop(tree);
    nix::mount::mount(None::<&str>, rootfs, None::<&str>, root_flag, None::<&str>)
        .or_sys(|| format!("make rootfs {} slave or private", rootfs.display()))?;
    let root = open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .or_sys(|| format!("open rootfs {}", rootfs.display()))?;
    let ctx = Ctx {
        plan,
        root: root.as_fd(),
        userns: plan.userns,
        cgroups,
        premade,
        ask_parent,
        from_host: Some(root_flag),
        cgroup_trees: template.cgroup_trees,
    };
    mount_all(&ctx)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use oci_spec::runtime::Spec;

    use super::*;
    use crate::linux::rootfs::tests_support::RUNC_SPEC;

    /// Which configs start from the mount namespace template, and which
    /// keep the copy of the host's table.
    #[test]
    fn template_only_where_nothing_needs_the_hosts_mounts() {
        type Edit = fn(&mut serde_json::Value);
        let cases: &[(&str, Edit, bool)] = &[
            ("runc's spec", |_| {}, true),
            (
                "rslave",
                |c| c["linux"]["rootfsPropagation"] = "rslave".into(),
                true,
            ),
            (
                "rprivate",
                |c| c["linux"]["rootfsPropagation"] = "rprivate".into(),
                true,
            ),
            (
                "shared",
                |c| c["linux"]["rootfsPropagation"] = "shared".into(),
                false,
            ),
            (
                "slave",
                |c| c["linux"]["rootfsPropagation"] = "slave".into(),
                false,
            ),
            (
                "private",
                |c| c["linux"]["rootfsPropagation"] = "private".into(),
                false,
            ),
            (
                "a bind",
                |c| {
                    c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
                        {"destination": "/v", "source": "/srv/v", "options": ["rbind"]}));
                },
                true,
            ),
            (
                "an ext4 from a device",
                |c| {
                    c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
                        {"destination": "/v", "type": "ext4", "source": "/dev/sdb1"}));
                },
                false,
            ),
            (
                "a user namespace",
                |c| {
                    let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
                    ns.push(serde_json::json!({"type": "user"}));
                },
                false,
            ),
            (
                "a prestart hook",
                |c| c["hooks"] = serde_json::json!({"prestart": [{"path": "/h"}]}),
                false,
            ),
            (
                "a createContainer hook",
                |c| c["hooks"] = serde_json::json!({"createContainer": [{"path": "/h"}]}),
                false,
            ),
            (
                "a startContainer hook",
                |c| c["hooks"] = serde_json::json!({"startContainer": [{"path": "/h"}]}),
                true,
            ),
        ];
        for (what, edit, want) in cases {
            let mut v: serde_json::Value = serde_json::from_str(RUNC_SPEC).unwrap();
            edit(&mut v);
            let s: Spec = serde_json::from_value(v).unwrap();
            let plan = RootfsPlan::from_spec(&s, Path::new("/b/rootfs"), false).unwrap();
            assert_eq!(
                template_eligible(&plan, s.hooks().as_ref()),
                *want,
                "{what}"
            );
        }
        let s: Spec = serde_json::from_str(RUNC_SPEC).unwrap();
        let no_pivot = RootfsPlan::from_spec(&s, Path::new("/b/rootfs"), true).unwrap();
        assert!(!template_eligible(&no_pivot, None), "--no-pivot");
        let in_proc = RootfsPlan::from_spec(&s, Path::new("/proc/1/root"), false).unwrap();
        assert!(!template_eligible(&in_proc, None), "a rootfs under /proc");
    }
}
