//! The container's root filesystem: config-linux.md "mounts", "devices",
//! "rootfsPropagation", "maskedPaths", "readonlyPaths", "root.readonly".
//!
//! Every container path is resolved inside the rootfs (openat2
//! RESOLVE_IN_ROOT) and mounted through the resulting fd; see mount.rs.
//! Ref: SECURITY.md class 1; runc libcontainer/rootfs_linux.go for order.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::MsFlags;
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxIdMapping, LinuxNamespaceType, Mount, Spec};
use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result, SysResultExt};
use crate::linux::devices;
use crate::linux::inroot::{clean_relative, ensure_mountpoint, fd_path, open_in_root};
use crate::linux::mount::{parse_options, MountOptions, MOUNT_ATTR_RDONLY};
use crate::linux::mountapi::{clone_tree, mount_setattr, move_mount, new_tmpfs, set_propagation};
use crate::linux::procmount::refuse_inside_proc;

/// rootfsPropagation values. Ref: config-linux.md "Rootfs Mount Propagation".
fn propagation_flag(value: &str) -> Option<MsFlags> {
    use MsFlags as M;
    Some(match value {
        "shared" => M::MS_SHARED,
        "rshared" => M::MS_SHARED | M::MS_REC,
        "slave" => M::MS_SLAVE,
        "rslave" => M::MS_SLAVE | M::MS_REC,
        "private" => M::MS_PRIVATE,
        "rprivate" => M::MS_PRIVATE | M::MS_REC,
        "unbindable" => M::MS_UNBINDABLE,
        "runbindable" => M::MS_UNBINDABLE | M::MS_REC,
        _ => return None,
    })
}

/// What init builds in the container's new mount namespace: the parts of
/// config.json this module reads, decided (and checked) by the plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RootfsPlan {
    /// Canonical host path of `root.path`.
    pub path: PathBuf,
    /// `root.readonly`.
    pub readonly: bool,
    pub mounts: Vec<Mount>,
    /// `linux.devices`.
    pub devices: Vec<LinuxDevice>,
    /// `linux.rootfsPropagation`, checked to be a known value.
    pub propagation: Option<String>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    /// The container has a user namespace (new or joined): devices are
    /// bind-mounted, locked mount flags kept, idmaps default to its maps.
    pub userns: bool,
    /// The user namespace the container joins by path: its maps are the
    /// default of an idmapped mount then.
    pub userns_path: Option<PathBuf>,
    /// The container's own maps, the default of an idmapped mount.
    pub uid_mappings: Vec<LinuxIdMapping>,
    pub gid_mappings: Vec<LinuxIdMapping>,
    /// `process.terminal`: /dev/console is a mount point for the pty.
    pub console: bool,
    /// `--no-pivot`: MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// The root filesystem is idmapped to the container's user namespace
    /// (one the node policy gave it): the parent makes the tree
    /// ([`premade_sources`], at [`ROOT_INDEX`]) and init takes it as the
    /// root instead of a bind of `path`.
    #[serde(default)]
    pub idmap_root: bool,
    /// The container's mount namespace may start from brig's template
    /// instead of a copy of the host's ([`template_eligible`]); the parent
    /// decides at create whether it does (the template exists, the
    /// sources open).
    #[serde(default)]
    pub template: bool,
}

/// The premade tree of an idmapped root filesystem, among the mounts'.
pub const ROOT_INDEX: usize = usize::MAX;

impl RootfsPlan {
    /// The rootfs part of a checked spec. Pure.
    pub fn from_spec(spec: &Spec, rootfs: &Path, no_pivot: bool) -> Result<RootfsPlan> {
        let linux = spec.linux().as_ref();
        let propagation = linux
            .and_then(|l| l.rootfs_propagation().clone())
            .filter(|p| !p.is_empty());
        if let Some(p) = &propagation {
            propagation_flag(p)
                .ok_or_else(|| Error::invalid(format!("invalid rootfsPropagation {p:?}")))?;
        }
        // Each path once, in the order first given (a path masked twice
        // is one mount, as runc makes it).
        let list = |v: Option<&Vec<String>>| {
            let mut out: Vec<String> = Vec::new();
            for p in v.into_iter().flatten() {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
            out
        };
        let maps = |v: Option<&Vec<LinuxIdMapping>>| v.cloned().unwrap_or_default();
        Ok(RootfsPlan {
            path: rootfs.to_path_buf(),
            readonly: spec.root().as_ref().and_then(|r| r.readonly()) == Some(true),
            mounts: spec.mounts().clone().unwrap_or_default(),
            devices: linux.and_then(|l| l.devices().clone()).unwrap_or_default(),
            propagation,
            masked_paths: list(linux.and_then(|l| l.masked_paths().as_ref())),
            readonly_paths: list(linux.and_then(|l| l.readonly_paths().as_ref())),
            userns: linux
                .and_then(|l| l.namespaces().as_ref())
                .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::User)),
            userns_path: linux
                .and_then(|l| l.namespaces().as_ref())
                .and_then(|ns| ns.iter().find(|n| n.typ() == LinuxNamespaceType::User))
                .and_then(|n| n.path().clone())
                .filter(|p| !p.as_os_str().is_empty()),
            uid_mappings: maps(linux.and_then(|l| l.uid_mappings().as_ref())),
            gid_mappings: maps(linux.and_then(|l| l.gid_mappings().as_ref())),
            console: spec.process().as_ref().and_then(|p| p.terminal()) == Some(true),
            no_pivot,
            idmap_root: false,
            template: false,
        })
    }

    /// `rootfsPropagation` as mount flags (checked in [`RootfsPlan::from_spec`]).
    /// None means brig's default, rslave.
    fn propagation_flag(&self) -> Option<MsFlags> {
        self.propagation.as_deref().and_then(propagation_flag)
    }
}

fn mount_options(m: &Mount) -> Result<MountOptions> {
    parse_options(m.options().as_deref().unwrap_or(&[]))
        .context(|| format!("mount {}", m.destination().display()))
}

fn is_bind(m: &Mount, o: &MountOptions) -> bool {
    m.typ().as_deref() == Some("bind") || o.is_bind()
}

/// Is `m` a bind mount (by type or options)? A mount whose options do
/// not parse is not; validation reports it.
pub fn is_bind_mount(m: &Mount) -> bool {
    mount_options(m).is_ok_and(|o| is_bind(m, &o))
}

/// The sysfs a container with a user namespace gets when its network
/// namespace is joined by path: (index in mounts, mount attributes). Such a
/// network namespace may belong to the host's user namespace (a pod's,
/// made by containerd), and then only the host's root may mount a sysfs
/// for it: the child mounts it, detached, before it enters the user
/// namespace, and init moves it into place ([`prepare`]'s `premade`).
pub fn sysfs_made_by_child(plan: &RootfsPlan) -> Option<(usize, u64)> {
    if !plan.userns {
        return None;
    }
    plan.mounts.iter().enumerate().find_map(|(i, m)| {
        let o = mount_options(m).ok()?;
        (m.typ().as_deref() == Some("sysfs") && !is_bind(m, &o) && !is_idmapped(m, &o))
            .then(|| (i, o.bind_attrs(0, false).map_or(0, |(set, _)| set)))
    })
}

fn is_idmapped(m: &Mount, o: &MountOptions) -> bool {
    o.idmap.is_some() || m.uid_mappings().is_some() || m.gid_mappings().is_some()
}

mod cgroup;
mod source;
mod template;
mod validate;

use cgroup::cgroup_mount;
pub use cgroup::{cgroup_trees, mounts_cgroup, CgroupView};
pub use source::{container_source, premade_sources};
pub use template::{template_eligible, Template};
pub use validate::validate;

/// Init's way to the parent for a mount's source tree (sync 1m), given
/// the mount's index in the plan.
pub type AskParent<'a> = &'a dyn Fn(usize) -> Result<OwnedFd>;

/// What every mount step needs to know about the container.
struct Ctx<'a> {
    plan: &'a RootfsPlan,
    root: BorrowedFd<'a>,
    userns: bool,
    cgroups: Option<&'a CgroupView>,
    /// Idmapped trees the parent made: (index in spec.mounts, fd).
    premade: &'a [(usize, RawFd)],
    /// Asks the parent for the trees it makes while we mount (sync 1m).
    ask_parent: AskParent<'a>,
    /// In the template's namespace: the propagation every tree from the
    /// host gets once attached (the rootfs's).
    from_host: Option<MsFlags>,
    /// The cgroup binds the parent made on the host (template only).
    cgroup_trees: &'a [(String, OwnedFd)],
}

/// Build the rootfs, in the container's new mount namespace, before pivot.
/// `premade` are the source trees from [`premade_sources`], passed by
/// the parent as (index in mounts, fd); this takes ownership of them.
/// `ask_parent` gets those made on request (an idmapped source inside the
/// rootfs, in a user namespace: see source.rs).
pub fn prepare(
    plan: &RootfsPlan,
    cgroups: Option<&CgroupView>,
    premade: &[(usize, RawFd)],
    ask_parent: AskParent<'_>,
    template: Option<Template<'_>>,
) -> Result<()> {
    let rootfs = plan.path.as_path();
    let prop_flag = plan.propagation_flag();
    // Nothing done below may propagate back to the host.
    let root_flag = prop_flag.unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    if let Some(template) = template {
        return template::prepare_from_template(
            plan, cgroups, premade, ask_parent, template, root_flag,
        );
    }
    nix::mount::mount(None::<&str>, "/", None::<&str>, root_flag, None::<&str>)
        .or_sys(|| "make / slave or private".into())?;
    // pivot_root(2) refuses a new root whose parent mount is shared.
    if root_flag.contains(MsFlags::MS_SHARED) {
        make_parent_private(rootfs)?;
    }
    // The rootfs becomes a mount of its own, so pivot_root can use it.
    let shown = rootfs.display();
    let unreachable = |e: Errno| {
        let hint = if e == Errno::EACCES && plan.idmap_root {
            " (the container's root, in the user namespace the policy gave it, may not search a directory above it)"
        } else {
            ""
        };
        Error::sys(format!("open rootfs {shown}{hint}"), e)
    };
    match premade.iter().find(|(i, _)| *i == ROOT_INDEX) {
        Some(&(_, fd)) => {
            // SAFETY: the parent made this tree for the root and passed it
            // across the re-exec; nothing else in this process owns it.
            let tree = unsafe { OwnedFd::from_raw_fd(fd) };
            let at = open(
                rootfs,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(unreachable)?;
            move_mount(tree.as_fd(), at.as_fd())
                .or_sys(|| format!("mount the idmapped rootfs on {shown}"))?;
        }
        None => nix::mount::mount(
            Some(rootfs),
            rootfs,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .or_sys(|| format!("bind rootfs {shown} onto itself"))?,
    }
    // Opened after the bind, so it refers to the new mount.
    let root = open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(unreachable)?;
    let ctx = Ctx {
        plan,
        root: root.as_fd(),
        // A user namespace of the container's own, or one brig itself runs
        // in (rootless podman runs the runtime as root of its user
        // namespace, the container sharing it): mknod is refused and mount
        // flags are locked either way (runc: `userns.RunningInUserNS() ||
        // NEWUSER`).
        userns: plan.userns || crate::rootless::in_user_ns(),
        cgroups,
        premade,
        ask_parent,
        from_host: None,
        cgroup_trees: &[],
    };
    mount_all(&ctx)
}

fn mount_all(ctx: &Ctx<'_>) -> Result<()> {
    let plan = ctx.plan;
    let mut dev_tmpfs = false;
    for (i, m) in plan.mounts.iter().enumerate() {
        mount_one(ctx, i, m)?;
        dev_tmpfs |= m.destination() == Path::new("/dev") && m.typ().as_deref() == Some("tmpfs");
    }
    devices::create_devices(ctx.root, &plan.devices, ctx.userns)?;
    if dev_tmpfs {
        devices::default_devices(ctx.root, ctx.userns, &plan.devices)?;
        if plan.console {
            // The console's mount point, while /dev may still be written.
            ensure_mountpoint(ctx.root, Path::new("/dev/console"), false, true)?;
        }
    }
    Ok(())
}

/// Make the mount holding `rootfs` private (runc rootfsParentMountPrivate).
fn make_parent_private(rootfs: &Path) -> Result<()> {
    let mounts = crate::linux::mountinfo::read_self()
        .map_err(|e| Error::io("read /proc/self/mountinfo", e))?;
    let parent = mounts
        .iter()
        .map(|m| m.mount_point.as_str())
        .filter(|mp| rootfs.starts_with(mp))
        .max_by_key(|mp| mp.len())
        .unwrap_or("/");
    nix::mount::mount(
        None::<&str>,
        parent,
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .or_sys(|| format!("make {parent} private"))
}

fn mount_one(ctx: &Ctx<'_>, index: usize, m: &Mount) -> Result<()> {
    let o = mount_options(m)?;
    let dest = m.destination();
    let typ = m.typ().as_deref().unwrap_or("");
    let src = m.source().as_deref().map(|s| s.display().to_string());
    let src = src.unwrap_or_else(|| typ.to_string());
    let op = || format!("mount {src} on {}", dest.display());
    if is_bind(m, &o) || is_idmapped(m, &o) {
        return bind_mount(ctx, index, m, &o).context(op);
    }
    if typ == "cgroup" {
        return cgroup_mount(ctx, dest, &o).context(op);
    }
    // Only real procfs/sysfs on a real directory: an image whose /proc is a
    // symlink must not redirect it (CVE-2019-16884, CVE-2025-52565).
    let strict = matches!(typ, "proc" | "sysfs");
    if let Some(&(_, fd)) = ctx.premade.iter().find(|(i, _)| *i == index) {
        // SAFETY: the child made this mount for this entry (a sysfs,
        // sysfs_made_by_child) and passed it across the re-exec; nothing
        // else in this process owns it.
        let tree = unsafe { OwnedFd::from_raw_fd(fd) };
        let to = ensure_mountpoint(ctx.root, dest, true, strict).context(op)?;
        refuse_inside_proc(to.as_fd(), dest).context(op)?;
        move_mount(tree.as_fd(), to.as_fd())
            .or_sys(|| "move the premade mount into place".into())
            .context(op)?;
        return after_mount(ctx, dest, &o).context(op);
    }
    let inherited = tmpfs_inherited_mode(ctx, typ, dest, &o);
    let fd = ensure_mountpoint(ctx.root, dest, true, strict).context(op)?;
    refuse_inside_proc(fd.as_fd(), dest).context(op)?;
    let mut data = o.data();
    if let Some(mode) = inherited {
        if !data.is_empty() {
            data.push(',');
        }
        data.push_str(&format!("mode={mode:o}"));
    }
    let data = (!data.is_empty()).then_some(data.as_str());
    let mut flags = o.flags;
    if is_readonly_dev(m) {
        // /dev/pts, the devices and the console go in first; finish()
        // makes it read-only (runc's order).
        flags.remove(MsFlags::MS_RDONLY);
    }
    // tmpcopyup: the directory as it is, opened before the tmpfs covers
    // it (the descriptor still reaches it after), copied in, and only then
    // the mount made read-only if it is to be.
    let copy_up = (typ == "tmpfs" && o.tmpcopyup)
        .then(|| open_in_root(ctx.root, dest, OFlag::O_DIRECTORY, false))
        .transpose()
        .or_sys(|| format!("open {} for tmpcopyup", dest.display()))
        .context(op)?;
    if copy_up.is_some() {
        flags.remove(MsFlags::MS_RDONLY);
    }
    let mounted = nix::mount::mount(
        Some(src.as_str()),
        fd_path(fd.as_fd()).as_str(),
        Some(typ),
        flags,
        data,
    );
    if ctx.userns && matches!(mounted, Err(Errno::EPERM | Errno::EBUSY)) {
        let real = |h: &&str| crate::linux::fstype::is_fs_of_type(Path::new(h), typ);
        if let Some(host) = rootless_fallback(typ).filter(real) {
            drop(fd);
            return host_rbind(ctx, index, m, host).context(op);
        }
    }
    mounted.or_sys(op)?;
    if let Some(covered) = copy_up {
        let tmpfs = open_in_root(ctx.root, dest, OFlag::O_DIRECTORY, false)
            .or_sys(|| format!("open the tmpfs on {}", dest.display()))
            .context(op)?;
        crate::linux::copyup::copy_tree(covered.as_fd(), tmpfs.as_fd())
            .context(|| format!("tmpcopyup into {}", dest.display()))?;
        if o.flags.contains(MsFlags::MS_RDONLY) {
            mount_setattr(tmpfs.as_fd(), MOUNT_ATTR_RDONLY, 0, false)
                .or_sys(|| "make the tmpfs read-only".into())
                .context(op)?;
        }
    }
    after_mount(ctx, dest, &o).context(op)
}

/// What a user namespace may not mount without a namespace of its own
/// (rootless, `spec --rootless`), and the host's directory bound instead:
/// sysfs needs CAP_SYS_ADMIN over the network namespace's owner, mqueue
/// over the IPC namespace's (the host's, when the container shares them).
fn rootless_fallback(typ: &str) -> Option<&'static str> {
    match typ {
        "sysfs" => Some("/sys"),
        "mqueue" => Some("/dev/mqueue"),
        _ => None,
    }
}

/// The host's `host` (/sys, /dev/mqueue) bound recursively on the mount's
/// destination, each of the mount's flags applied to every submount too
/// (`ro` also as `rro`: nothing below /sys, a cgroup hierarchy included,
/// becomes writable), as runc falls back for rootless.
fn host_rbind(ctx: &Ctx<'_>, index: usize, m: &Mount, host: &str) -> Result<()> {
    let mut opts = vec!["rbind".to_string()];
    for o in m.options().iter().flatten() {
        opts.push(o.clone());
        if let Some(r) = match o.as_str() {
            "ro" => Some("rro"),
            "nosuid" => Some("rnosuid"),
            "nodev" => Some("rnodev"),
            "noexec" => Some("rnoexec"),
            _ => None,
        } {
            opts.push(r.to_string());
        }
    }
    let bind = oci_spec::runtime::MountBuilder::default()
        .destination(m.destination())
        .source(host)
        .typ("bind")
        .options(opts)
        .build()
        .map_err(|e| Error::invalid(format!("rootless fallback mount: {e}")))?;
    let o = mount_options(&bind)?;
    tracing::debug!(
        "{} cannot be mounted here: binding the host's {host} instead",
        m.destination().display()
    );
    bind_mount(ctx, index, &bind, &o)
}

/// A tmpfs over a directory the image has, without `mode=`, takes that
/// directory's mode (runc 1.3): the image's /tmp stays 1777, a 0710
/// directory stays 0710. A directory made for the mount gets tmpfs's own
/// default (1777).
fn tmpfs_inherited_mode(ctx: &Ctx<'_>, typ: &str, dest: &Path, o: &MountOptions) -> Option<u32> {
    if typ != "tmpfs" || o.data.iter().any(|d| d.starts_with("mode=")) {
        return None;
    }
    let fd = open_in_root(ctx.root, dest, OFlag::O_DIRECTORY, false).ok()?;
    let st = nix::sys::stat::fstat(&fd).ok()?;
    Some(st.st_mode & 0o7777)
}

/// Recursive attributes and propagation, on the mount now at `dest`.
fn after_mount(ctx: &Ctx<'_>, dest: &Path, o: &MountOptions) -> Result<()> {
    if o.rec_set == 0 && o.rec_clr == 0 && o.propagation.is_empty() {
        return Ok(());
    }
    let fd = open_in_root(ctx.root, dest, OFlag::empty(), false)
        .or_sys(|| format!("open {}", dest.display()))?;
    mount_setattr(fd.as_fd(), o.rec_set, o.rec_clr, true)
        .or_sys(|| "set recursive mount attributes".into())?;
    for p in &o.propagation {
        set_propagation(fd.as_fd(), *p).or_sys(|| format!("set propagation {p:?}"))?;
    }
    Ok(())
}

/// Bind (or idmapped bind) mount: the source tree is cloned detached, its
/// per-mount flags set before anyone can see it, then moved onto the
/// destination fd. This is runc's bind + MS_REMOUNT|MS_BIND pair, atomic.
fn bind_mount(ctx: &Ctx<'_>, index: usize, m: &Mount, o: &MountOptions) -> Result<()> {
    let src = m
        .source()
        .as_deref()
        .ok_or_else(|| Error::invalid("bind mount has no source"))?;
    let recursive = o.is_recursive_bind() || o.idmap == Some(true);
    let premade = ctx.premade.iter().find(|(i, _)| *i == index);
    let tree = if let Some(&(_, fd)) = premade {
        // SAFETY: the parent opened this tree for this mount and passed it
        // across the re-exec; nothing else in this process owns it.
        unsafe { OwnedFd::from_raw_fd(fd) }
    } else if source::asks_parent(ctx.plan, m, o) {
        // In mount order: the source may be an earlier mount of ours.
        (ctx.ask_parent)(index)?
    } else if is_idmapped(m, o) {
        source::idmapped_source(ctx.plan, m, o)?
    } else {
        clone_tree(nix::fcntl::AT_FDCWD, src, recursive).or_sys(|| "clone source tree".into())?
    };
    // The source's own flags: kept when the mount gives none, and locked
    // in a user namespace (runc 1.2+'s rule, MountOptions::bind_attrs).
    let st = nix::sys::statvfs::fstatvfs(&tree).or_sys(|| "statvfs source".into())?;
    let src_attrs = crate::linux::mount::attrs_of_source(st.flags());
    let (set, clr) = o
        .bind_attrs(src_attrs, ctx.userns)
        .map_err(|e| Error::sys(format!("set mount flags: {e}"), Errno::EPERM))?;
    mount_setattr(tree.as_fd(), set, clr, false).or_sys(|| "set mount flags".into())?;
    mount_setattr(tree.as_fd(), o.rec_set, o.rec_clr, true)
        .or_sys(|| "set recursive mount attributes".into())?;
    // The tree itself tells file from directory: its source may be out of
    // reach by path for us (a user namespace's root, premade by the parent).
    let st = nix::sys::stat::fstat(&tree).or_sys(|| "stat source tree".into())?;
    let is_dir = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) == SFlag::S_IFDIR;
    let dest = ensure_mountpoint(ctx.root, m.destination(), is_dir, false)?;
    refuse_inside_proc(dest.as_fd(), m.destination())?;
    move_mount(tree.as_fd(), dest.as_fd()).or_sys(|| "move mount".into())?;
    if let (Some(flag), true) = (ctx.from_host, premade.is_some()) {
        // A clone of a host mount, maybe a shared one's peer: from now on
        // it only receives, as a bind made in a copy of the host's table
        // made rslave would.
        set_propagation(tree.as_fd(), flag).or_sys(|| "make the bind slave or private".into())?;
    }
    let o = MountOptions {
        rec_set: 0,
        rec_clr: 0,
        ..o.clone()
    };
    after_mount(ctx, m.destination(), &o)
}

/// pivot_root into `rootfs` (or MS_MOVE + chroot), then chdir("/").
pub fn pivot(plan: &RootfsPlan) -> Result<()> {
    crate::linux::pivot::pivot_to(&plan.path, plan.no_pivot)
}

/// chroot(2) into the rootfs, for a container without a mount namespace
/// of its own.
pub fn chroot_into(rootfs: &Path) -> Result<()> {
    nix::unistd::chroot(rootfs).or_sys(|| format!("chroot {}", rootfs.display()))?;
    nix::unistd::chdir("/").or_sys(|| "chdir /".into())
}

/// A read-only tmpfs on /dev: mounted writable, made read-only last.
fn is_readonly_dev(m: &Mount) -> bool {
    clean_relative(m.destination()) == Path::new("dev")
        && m.typ().as_deref() == Some("tmpfs")
        && mount_options(m).is_ok_and(|o| o.flags.contains(MsFlags::MS_RDONLY))
}

/// After pivot and sysctls: maskedPaths, readonlyPaths, /dev and
/// root.readonly.
pub fn finish(plan: &RootfsPlan) -> Result<()> {
    let root = open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .or_sys(|| "open /".into())?;
    // The root's propagation once it is the root: pivot_root(2) refuses a
    // shared new root, and before the pivot a shared rootfs would carry
    // the container's mounts to the host's peer group.
    if let Some(flag) = plan.propagation_flag() {
        set_propagation(root.as_fd(), flag)
            .or_sys(|| format!("set rootfs propagation {flag:?}"))?;
    }
    // Masked directories share one empty read-only tmpfs (runc 1.3 does
    // the same): the first is mounted, the rest are clones of it.
    let mut dir_mask: Option<OwnedFd> = None;
    for p in &plan.masked_paths {
        mask_path(root.as_fd(), p, &mut dir_mask).context(|| format!("mask {p}"))?;
    }
    for p in &plan.readonly_paths {
        readonly_path(root.as_fd(), p).context(|| format!("make {p} read-only"))?;
    }
    if plan.mounts.iter().any(is_readonly_dev) {
        let dev = open_in_root(root.as_fd(), Path::new("/dev"), OFlag::O_DIRECTORY, true)
            .or_sys(|| "open /dev".into())?;
        mount_setattr(dev.as_fd(), MOUNT_ATTR_RDONLY, 0, false)
            .or_sys(|| "remount /dev read-only".into())?;
    }
    if plan.readonly {
        // Non-recursive, and only the rdonly bit: nosuid etc. stay as they are.
        mount_setattr(root.as_fd(), MOUNT_ATTR_RDONLY, 0, false)
            .or_sys(|| "remount / read-only".into())?;
    }
    Ok(())
}

/// Open a path that may be missing: None for ENOENT.
fn open_optional(root: BorrowedFd<'_>, p: &str) -> Result<Option<OwnedFd>> {
    match open_in_root(root, Path::new(p), OFlag::empty(), false) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(Error::sys(format!("open {p}"), e)),
    }
}

/// `dir_mask`: the tmpfs already mounted over a masked directory, if any.
fn mask_path(root: BorrowedFd<'_>, p: &str, dir_mask: &mut Option<OwnedFd>) -> Result<()> {
    let Some(target) = open_optional(root, p)? else {
        return Ok(());
    };
    let st = nix::sys::stat::fstat(&target).or_sys(|| format!("stat {p}"))?;
    if SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) != SFlag::S_IFDIR {
        let null = devices::verified_dev_null(root)?;
        let tree =
            clone_tree(null.as_fd(), Path::new(""), false).or_sys(|| "clone /dev/null".into())?;
        return move_mount(tree.as_fd(), target.as_fd()).or_sys(|| format!("mount over {p}"));
    }
    let tree = match dir_mask {
        // A clone of the mounted one: the same (read-only) superblock.
        Some(first) => clone_tree(first.as_fd(), Path::new(""), false)
            .or_sys(|| "clone the masking tmpfs".into())?,
        // Empty and read-only: nothing can be put there, so the other
        // flags add nothing; plain "ro" is what runc mounts.
        None => new_tmpfs(MOUNT_ATTR_RDONLY).or_sys(|| "create read-only tmpfs".into())?,
    };
    move_mount(tree.as_fd(), target.as_fd()).or_sys(|| format!("mount over {p}"))?;
    // Attached now, so it can be cloned for the next directory.
    dir_mask.get_or_insert(tree);
    Ok(())
}

fn readonly_path(root: BorrowedFd<'_>, p: &str) -> Result<()> {
    let Some(target) = open_optional(root, p)? else {
        return Ok(());
    };
    let tree = clone_tree(target.as_fd(), Path::new(""), true).or_sys(|| format!("bind {p}"))?;
    mount_setattr(tree.as_fd(), MOUNT_ATTR_RDONLY, 0, true).or_sys(|| "set read-only".into())?;
    move_mount(tree.as_fd(), target.as_fd()).or_sys(|| format!("mount over {p}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn runc_spec_defaults_validate() {
        let s = spec(RUNC_SPEC);
        validate(&s).unwrap();
    }

    use super::tests_support::RUNC_SPEC;
}

#[cfg(test)]
pub(crate) mod tests_support {
    /// What `runc spec` writes (runc 1.1.5), plus root.readonly.
    pub(crate) const RUNC_SPEC: &str = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs","readonly":true},
"mounts":[{"destination":"/proc","type":"proc","source":"proc"},
{"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
{"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]},
{"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"]},
{"destination":"/dev/mqueue","type":"mqueue","source":"mqueue","options":["nosuid","noexec","nodev"]},
{"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]},
{"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid","noexec","nodev","relatime","ro"]}],
"linux":{"namespaces":[{"type":"pid"},{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"mount"}],
"maskedPaths":["/proc/acpi","/proc/asound","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/sys/firmware","/proc/scsi"],
"readonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}}"#;
}
