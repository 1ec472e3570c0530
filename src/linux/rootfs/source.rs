//! Where a bind mount's source tree comes from. In a container without a
//! user namespace init clones every source itself. With one, an
//! idmapped tree cannot be made inside it (MOUNT_ATTR_IDMAP needs
//! CAP_SYS_ADMIN over the source filesystem's owner, the initial user
//! namespace; Ref: mount_setattr(2) "EPERM"), and a host source may be out
//! of its reach, so the parent makes them:
//!
//! - a source outside the rootfs: on the host, before clone
//!   ([`premade_sources`], runc does the same);
//! - an idmapped source inside the rootfs, which earlier mounts of the
//!   container may have made: when init reaches that mount, it asks
//!   (sync 1m, [`requested_source`]) and the parent clones it in the
//!   container's mount namespace, resolved inside the rootfs
//!   ([`container_source`]).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, Mount};

use super::{is_bind, is_idmapped, mount_options, RootfsPlan, ROOT_INDEX};
use crate::error::{Context, Error, Result, SysResultExt};
use crate::linux::idmap::{self, Recursive};
use crate::linux::inroot::open_in_root;
use crate::linux::mount::MountOptions;
use crate::linux::mountapi::clone_tree;
use crate::linux::namespaces::{self, Kind};

/// Which maps an idmapped mount takes.
#[derive(Debug, PartialEq)]
enum IdmapFrom<'a> {
    /// Those of the user namespace the container joins (by path).
    Joined(&'a Path),
    /// These, in a user namespace made for the mount.
    Maps(&'a [LinuxIdMapping], &'a [LinuxIdMapping]),
}

/// The mount's own maps; where it gives none, the container's (config.md
/// "idmap": the implied mapping is the container's user namespace). Pure.
fn idmap_from<'a>(plan: &'a RootfsPlan, m: &'a Mount) -> Result<IdmapFrom<'a>> {
    if m.uid_mappings().is_none() && m.gid_mappings().is_none() {
        if let Some(path) = &plan.userns_path {
            return Ok(IdmapFrom::Joined(path));
        }
    }
    // A container's maps that are not given are not there.
    let own = plan.userns && !plan.uid_mappings.is_empty() && !plan.gid_mappings.is_empty();
    let uid = m
        .uid_mappings()
        .as_deref()
        .or(own.then_some(&plan.uid_mappings[..]));
    let gid = m
        .gid_mappings()
        .as_deref()
        .or(own.then_some(&plan.gid_mappings[..]));
    match (uid, gid) {
        (Some(uid), Some(gid)) => Ok(IdmapFrom::Maps(uid, gid)),
        _ => Err(Error::invalid("idmap without uidMappings/gidMappings")),
    }
}

/// `rbind` clones the submounts too; `ridmap` also idmaps them, `idmap`
/// only the top mount (runc's semantics).
fn recursive_mode(o: &MountOptions) -> Recursive {
    Recursive {
        clone: o.is_recursive_bind() || o.idmap == Some(true),
        idmap: o.idmap == Some(true),
    }
}

/// The detached, idmapped tree for mount `m`, its source resolved by
/// path in the caller's mount namespace (a source the config gives on
/// the host, or any source in a container without a user namespace).
pub(super) fn idmapped_source(plan: &RootfsPlan, m: &Mount, o: &MountOptions) -> Result<OwnedFd> {
    let src = m
        .source()
        .as_deref()
        .ok_or_else(|| Error::invalid("bind mount has no source"))?;
    match idmap_from(plan, m)? {
        IdmapFrom::Joined(path) => idmap::idmapped_tree_in(src, path, recursive_mode(o)),
        IdmapFrom::Maps(uid, gid) => idmap::idmapped_tree(src, uid, gid, recursive_mode(o)),
    }
}

/// For a container with a user namespace, the parent opens every bind
/// source outside the rootfs on the host, before clone, as runc does:
/// the container's root may not be able to reach it (a directory only
/// the host's owner may search), and an idmapped tree cannot be made in
/// there. Returns (index in mounts, tree) for init's [`super::prepare`].
///
/// A container started from the template (`template`) gets every tree
/// from the host this way too, the root filesystem (at [`ROOT_INDEX`],
/// with its submounts) first: in its mount namespace no host path leads
/// anywhere.
pub fn premade_sources(plan: &RootfsPlan, template: bool) -> Result<Vec<(usize, OwnedFd)>> {
    if !plan.userns && !template {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    if plan.idmap_root {
        out.push((ROOT_INDEX, idmapped_root(plan)?));
    } else if template {
        let tree = clone_tree(nix::fcntl::AT_FDCWD, &plan.path, true)
            .or_sys(|| format!("open_tree rootfs {}", plan.path.display()))?;
        out.push((ROOT_INDEX, tree));
    }
    for (i, m) in plan.mounts.iter().enumerate() {
        let o = mount_options(m)?;
        let Some(src) = m
            .source()
            .as_deref()
            .filter(|_| is_bind(m, &o) || is_idmapped(m, &o))
        else {
            continue;
        };
        // A source inside the rootfs may be made by an earlier mount of
        // the container's: it is resolved there, in mount order.
        if in_rootfs(plan, src).is_some() {
            continue;
        }
        let what = || format!("mount on {}", m.destination().display());
        let tree = if is_idmapped(m, &o) {
            idmapped_source(plan, m, &o).context(what)?
        } else if crate::rootless::is_rootless() {
            // open_tree(OPEN_TREE_CLONE) needs CAP_SYS_ADMIN over the
            // host's mount namespace. A rootless container's root is the
            // user, who reaches what the user reaches: init binds the
            // source itself, in its own mount namespace, as runc does.
            continue;
        } else {
            clone_tree(nix::fcntl::AT_FDCWD, src, o.is_recursive_bind())
                .or_sys(|| format!("open bind source {}", src.display()))
                .context(what)?
        };
        out.push((i, tree));
    }
    Ok(out)
}

/// The root filesystem, idmapped to the user namespace the node policy
/// gave the container: an overlay anew over idmapped layers (overlayfs
/// itself cannot be idmapped), anything else as an idmapped clone.
fn idmapped_root(plan: &RootfsPlan) -> Result<OwnedFd> {
    let rootfs = plan.path.as_path();
    let what = || "idmap the rootfs".to_string();
    reachable_by_container_root(rootfs)?;
    if !crate::linux::fstype::is_overlay(rootfs) {
        let m = oci_spec::runtime::MountBuilder::default()
            .destination("/")
            .source(rootfs)
            .typ("bind")
            .options(vec!["rbind".to_string(), "idmap".to_string()])
            .build()
            .expect("a complete mount");
        let o = mount_options(&m)?;
        return idmapped_source(plan, &m, &o).context(what);
    }
    let userns = match &plan.userns_path {
        Some(path) => namespaces::open_ns(Kind::User, path)?.into(),
        None => idmap::userns_with_maps(&plan.uid_mappings, &plan.gid_mappings)?,
    };
    let root_ids = match &plan.userns_path {
        Some(path) => crate::linux::userns::root_ids_of(path),
        None => crate::linux::userns::host_id(&plan.uid_mappings, 0)
            .zip(crate::linux::userns::host_id(&plan.gid_mappings, 0)),
    };
    idmap::idmapped_overlay(rootfs, &userns, root_ids).context(what)
}

/// Init, as the container's root in the user namespace the policy gave,
/// mounts the idmapped root on `rootfs` by path, so it must be able to
/// search the bundle directory: one that only the host's root may enter
/// (0700, as containerd 1.6 makes them) becomes 0711, as containerd 2
/// makes the bundles of user-namespaced pods; nothing in it becomes
/// readable. A directory above the bundle is not brig's to change.
fn reachable_by_container_root(rootfs: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Some(bundle) = rootfs.parent() else {
        return Ok(());
    };
    let md = std::fs::metadata(bundle)
        .map_err(|e| Error::io(format!("stat {}", bundle.display()), e))?;
    let mode = md.mode() & 0o7777;
    if md.uid() == 0 && mode & 0o001 == 0 {
        std::fs::set_permissions(bundle, std::fs::Permissions::from_mode(mode | 0o011))
            .map_err(|e| Error::io(format!("chmod {}", bundle.display()), e))?;
    }
    Ok(())
}

/// `src` relative to the rootfs, when it is inside it. A `..` after the
/// rootfs's path may climb out of it on the host, where RESOLVE_IN_ROOT
/// would stop at the root: such a source is the host's, as written.
fn in_rootfs(plan: &RootfsPlan, src: &Path) -> Option<PathBuf> {
    let rel = src.strip_prefix(&plan.path).ok()?;
    rel.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        .then(|| rel.to_path_buf())
}

/// Does init ask the parent for this mount's tree (sync 1m)? An idmapped
/// bind whose source is inside the rootfs, in a container with a user
/// namespace. Both sides decide with this, so init asks for exactly what
/// the parent makes. Pure.
pub(super) fn asks_parent(plan: &RootfsPlan, m: &Mount, o: &MountOptions) -> bool {
    plan.userns
        && is_idmapped(m, o)
        && m.source()
            .as_deref()
            .is_some_and(|s| in_rootfs(plan, s).is_some())
}

/// The parent's check of init's request for mount `index` (sync 1m): the
/// mount and its source relative to the rootfs. Pure.
pub fn requested_source(plan: &RootfsPlan, index: usize) -> Result<(&Mount, PathBuf)> {
    let m = plan.mounts.get(index).ok_or_else(|| {
        Error::invalid(format!(
            "container init asked for mount #{index}, of {}",
            plan.mounts.len()
        ))
    })?;
    let o = mount_options(m)?;
    let rel = m.source().as_deref().and_then(|s| in_rootfs(plan, s));
    match rel {
        Some(rel) if asks_parent(plan, m, &o) => Ok((m, rel)),
        _ => Err(Error::invalid(format!(
            "container init asked for mount #{index} ({}), which is not an idmapped bind \
             from inside the rootfs of a container with a user namespace",
            m.destination().display()
        ))),
    }
}

/// sync 1m, the parent's side: the idmapped tree of mount `index` for the
/// container whose init is `init` (our child, so its pid and `pidfd` name
/// it alone). The source is resolved in the container's mount namespace,
/// where init has made the mounts before this one, inside the rootfs
/// (openat2 RESOLVE_IN_ROOT: a symlink in the image cannot lead out to
/// the host). Cloned there, on a thread of its own; idmapped here, as
/// the host's root, with the container's user namespace or one holding
/// the mount's own maps.
pub fn container_source(
    plan: &RootfsPlan,
    index: usize,
    init: Pid,
    pidfd: BorrowedFd<'_>,
) -> Result<OwnedFd> {
    let (m, rel) = requested_source(plan, index)?;
    let src = m.source().as_deref().unwrap_or(Path::new(""));
    // As init would have said it.
    let op = || format!("mount {} on {}", src.display(), m.destination().display());
    container_tree(plan, m, &rel, init, pidfd).context(op)
}

fn container_tree(
    plan: &RootfsPlan,
    m: &Mount,
    rel: &Path,
    init: Pid,
    pidfd: BorrowedFd<'_>,
) -> Result<OwnedFd> {
    let o = mount_options(m)?;
    let src = m.source().as_deref().unwrap_or(Path::new(""));
    let what = || format!("idmapped mount of {}", src.display());
    let userns: OwnedFd = if m.uid_mappings().is_none() && m.gid_mappings().is_none() {
        // The container's own user namespace, whether new or joined.
        idmap::userns_of(init).context(what)?
    } else {
        match idmap_from(plan, m).context(what)? {
            IdmapFrom::Maps(uid, gid) => idmap::userns_with_maps(uid, gid).context(what)?,
            IdmapFrom::Joined(p) => namespaces::open_ns(Kind::User, p).context(what)?.into(),
        }
    };
    let recursive = recursive_mode(&o);
    let rootfs = plan.path.as_path();
    let tree = namespaces::in_mount_ns_of(pidfd, || {
        let root = open(
            rootfs,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .or_sys(|| format!("open rootfs {}", rootfs.display()))?;
        clone_in_root(root.as_fd(), rel, recursive.clone)
    })
    .context(what)?;
    idmap::set_idmap(&tree, &userns, recursive.idmap).context(what)?;
    Ok(tree)
}

/// A detached clone of the mount tree at `rel`, resolved inside `root`.
fn clone_in_root(root: BorrowedFd<'_>, rel: &Path, recursive: bool) -> Result<OwnedFd> {
    let shown = || format!("/{}", crate::linux::inroot::clean_relative(rel).display());
    let src = open_in_root(root, rel, OFlag::empty(), false)
        .or_sys(|| format!("open {} in the rootfs", shown()))?;
    clone_tree(src.as_fd(), Path::new(""), recursive).or_sys(|| format!("open_tree {}", shown()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::userns::mapping;
    use oci_spec::runtime::Spec;

    fn plan(json: &str) -> RootfsPlan {
        let spec: Spec = serde_json::from_str(json).unwrap();
        RootfsPlan::from_spec(&spec, Path::new("/b/rootfs"), false).unwrap()
    }

    const USERNS: &str = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
"mounts":[
 {"destination":"/a","source":"/host/a","options":["rbind","idmap"]},
 {"destination":"/b","source":"/b/rootfs/mnt/x","options":["rbind","idmap"]},
 {"destination":"/c","source":"/b/rootfs/mnt/y","options":["bind"]},
 {"destination":"/d","source":"/b/rootfs/mnt/z","options":["bind"],
  "uidMappings":[{"containerID":0,"hostID":5000,"size":10}],
  "gidMappings":[{"containerID":0,"hostID":6000,"size":10}]},
 {"destination":"/e","type":"tmpfs","source":"tmpfs"},
 {"destination":"/f","source":"/b/rootfs-other/x","options":["bind","ridmap"]},
 {"destination":"/g","source":"/b/rootfs/../x","options":["bind","idmap"]}],
"linux":{"namespaces":[{"type":"user"},{"type":"mount"}],
 "uidMappings":[{"containerID":0,"hostID":100000,"size":65536}],
 "gidMappings":[{"containerID":0,"hostID":100000,"size":65536}]}}"#;

    #[test]
    fn init_asks_for_idmapped_sources_inside_the_rootfs_only() {
        let p = plan(USERNS);
        let asks: Vec<bool> = p
            .mounts
            .iter()
            .map(|m| asks_parent(&p, m, &mount_options(m).unwrap()))
            .collect();
        // /b/rootfs-other is not inside /b/rootfs (by component), nor is
        // /b/rootfs/../x on the host.
        assert_eq!(asks, [false, true, false, true, false, false, false]);
        let (m, rel) = requested_source(&p, 1).unwrap();
        assert_eq!(
            (m.destination().as_path(), rel),
            (Path::new("/b"), "mnt/x".into())
        );
        assert_eq!(requested_source(&p, 3).unwrap().1, PathBuf::from("mnt/z"));
        for i in [0, 2, 4, 5, 6, 7] {
            assert!(requested_source(&p, i).is_err(), "#{i}");
        }
        // Without a user namespace init makes it itself.
        let plain = plan(&USERNS.replace(r#"{"type":"user"},"#, ""));
        assert!(plain
            .mounts
            .iter()
            .all(|m| !asks_parent(&plain, m, &mount_options(m).unwrap())));
        assert!(requested_source(&plain, 1).is_err());
    }

    #[test]
    fn idmap_maps_the_mounts_own_else_the_containers() {
        let p = plan(USERNS);
        let own = [mapping(0, 100_000, 65_536)];
        assert_eq!(
            idmap_from(&p, &p.mounts[1]).unwrap(),
            IdmapFrom::Maps(&own, &own)
        );
        assert_eq!(
            idmap_from(&p, &p.mounts[3]).unwrap(),
            IdmapFrom::Maps(&[mapping(0, 5000, 10)], &[mapping(0, 6000, 10)])
        );
        let joined = plan(&USERNS.replace(
            r#"{"type":"user"}"#,
            r#"{"type":"user","path":"/proc/7/ns/user"}"#,
        ));
        assert_eq!(
            idmap_from(&joined, &joined.mounts[1]).unwrap(),
            IdmapFrom::Joined(Path::new("/proc/7/ns/user"))
        );
        let none = plan(&USERNS.replace(r#"{"type":"user"},"#, ""));
        assert!(idmap_from(&none, &none.mounts[1]).is_err());
    }
}
