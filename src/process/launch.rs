//! The launch path `create` and `exec` share: open what init inherits,
//! clone the child into its namespaces (and cgroup), place it, write its id
//! maps, release it (sync 1), and hand init its part of the plan (sync 1b).
//! Everything here carries out a [`Plan`]; nothing is decided.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::cgroups::Manager;
use crate::error::{Context, Error, IoResultExt, Result};
use crate::linux::namespaces::{self, Kind};
use crate::linux::procfs::ProcfsHandle;
use crate::linux::{affinity, exe, pid, prctl, userns};
use crate::logging::LogFormat;
use crate::plan::{CgroupPlan, Plan};
use crate::process::channel::{self, Channel};
use crate::process::child::{self, ChildPlan};
use crate::process::clone::{clone3, Forked};
use crate::process::messages::{InitFds, InitLog, ToInit, ToParent};
use crate::state;

/// brig's global options as the process roles need them (the clap types
/// stay in commands/).
#[derive(Debug, Clone, Copy)]
pub struct RuntimeOpts<'a> {
    /// `--root`: the state directory.
    pub root: &'a Path,
    /// `--log`, which init writes to as well.
    pub log: Option<&'a Path>,
    pub log_format: LogFormat,
    pub debug: bool,
}

/// Where the pty master goes when the process has a terminal.
pub enum ConsoleSocket<'a> {
    /// `--console-socket PATH`.
    Path(&'a Path),
    /// One end of a socketpair: `run`/`exec` in the foreground proxy the
    /// pty themselves.
    Connected(UnixStream),
}

/// The container's cgroup as the plan names it: a new one (checked against
/// the host's controllers, not made yet) or the container's own.
pub fn cgroup_for(plan: &CgroupPlan, id: &str) -> Result<Manager> {
    match plan {
        CgroupPlan::New {
            path,
            driver,
            requested,
            ..
        } => {
            let m = Manager::new(path.as_deref(), id, *driver)?;
            if let Some(r) = requested {
                m.check(r)?;
            }
            if driver.is_systemd() || !crate::rootless::is_rootless() {
                return Ok(m);
            }
            let Some(dir) = m.not_creatable() else {
                return Ok(m);
            };
            // A rootless brig without a delegated cgroup: runc's rule
            // (cgroups/rootless.rs), and a warning so the user knows. Root
            // of a user namespace is a client's runtime (rootless podman):
            // its stderr is the container's own (conmon hands its stdio
            // over, so a warning would open every `podman logs`), and the
            // client knows already; a debug line there, as runc says nothing.
            let dir = dir.display().to_string();
            crate::cgroups::rootless::may_run_without(&dir, path.as_deref(), requested.as_deref())?;
            let msg = format!(
                "rootless: no permission to create cgroup {dir}: the container runs without a cgroup (no limits, no pause, no stats)"
            );
            if nix::unistd::geteuid().is_root() {
                tracing::debug!("{msg}");
            } else {
                tracing::warn!("{msg}");
            }
            Ok(Manager::none(m.layout()))
        }
        CgroupPlan::Existing {
            path: Some(path),
            driver,
            sub,
        } => Manager::open(path, *driver)?.sub(sub),
        CgroupPlan::Existing { sub, .. } if !sub.is_empty() => Err(Error::invalid(
            "--cgroup: the container has no cgroup (created rootless without one)",
        )),
        CgroupPlan::Existing { .. } => Ok(Manager::none(crate::cgroups::Layout::V1)),
    }
}

/// What init inherits besides stdio and the preserved descriptors, opened
/// by us before the clone so a wrong path fails before any process exists.
/// The descriptors close when this is dropped (after sync 1b init has its
/// own copies).
#[derive(Default)]
pub struct Inherited {
    pub fifo: Option<OwnedFd>,
    console: Option<UnixStream>,
    seccomp_listener: Option<UnixStream>,
    /// (index in the rootfs plan's mounts, detached tree).
    premade: Vec<(usize, OwnedFd)>,
    /// The mount namespace template init starts from (`linux::mnt_template`);
    /// None: a copy of the host's, as before.
    mnt_template: Option<OwnedFd>,
    log: Option<OwnedFd>,
    log_format: LogFormat,
    debug: bool,
}

impl Inherited {
    /// The console socket (a terminal), the seccomp agent's socket
    /// (SCMP_ACT_NOTIFY), the `--log` file once more in append mode, and
    /// (create with a user namespace) the bind sources made on the host.
    pub fn open(
        plan: &Plan,
        console: Option<&ConsoleSocket<'_>>,
        rt: &RuntimeOpts<'_>,
    ) -> Result<Self> {
        let console = match console {
            Some(ConsoleSocket::Path(p)) => Some(
                UnixStream::connect(p)
                    .or_io(|| format!("connect to console socket {}", p.display()))?,
            ),
            Some(ConsoleSocket::Connected(s)) => {
                Some(s.try_clone().or_io(|| "dup console socket".into())?)
            }
            None => None,
        };
        let seccomp_listener = match &plan.seccomp_listener {
            Some(p) => Some(
                UnixStream::connect(p)
                    .or_io(|| format!("failed to connect with seccomp agent {}", p.display()))?,
            ),
            None => None,
        };
        // Made here, on the host: inside the new user namespace a source
        // may be out of reach, and an idmapped mount cannot be made; from
        // the template, no host path is in reach.
        let (premade, mnt_template) = match plan.rootfs() {
            Some(r) => premade_and_template(r)?,
            None => (Vec::new(), None),
        };
        // A log file we cannot open was reported by our own logger.
        let log = rt
            .log
            .and_then(|p| crate::linux::inherit::open_append(p).ok());
        Ok(Inherited {
            fifo: None,
            console,
            seccomp_listener,
            premade,
            mnt_template,
            log,
            log_format: rt.log_format,
            debug: rt.debug,
        })
    }

    /// Descriptors that must survive the child's re-exec: the preserved
    /// ones and ours.
    fn keep_fds(&self, preserve_fds: u32) -> Vec<RawFd> {
        let mut keep: Vec<RawFd> = (3..3 + preserve_fds as RawFd).collect();
        keep.extend(self.fifo.as_ref().map(|f| f.as_raw_fd()));
        keep.extend(self.console.as_ref().map(|c| c.as_raw_fd()));
        keep.extend(self.seccomp_listener.as_ref().map(|c| c.as_raw_fd()));
        keep.extend(self.premade.iter().map(|(_, fd)| fd.as_raw_fd()));
        keep.extend(self.mnt_template.as_ref().map(|fd| fd.as_raw_fd()));
        keep.extend(self.log.as_ref().map(|fd| fd.as_raw_fd()));
        keep
    }

    /// The numbers init finds them at (inherited as they are).
    pub fn init_fds(&self) -> (InitFds, InitLog) {
        let fds = InitFds {
            fifo: self.fifo.as_ref().map(|f| f.as_raw_fd()),
            console: self.console.as_ref().map(|c| c.as_raw_fd()),
            seccomp_listener: self.seccomp_listener.as_ref().map(|c| c.as_raw_fd()),
            premade_mounts: self
                .premade
                .iter()
                .map(|(i, fd)| (*i, fd.as_raw_fd()))
                .collect(),
            mnt_template: self.mnt_template.as_ref().map(|fd| fd.as_raw_fd()),
        };
        let log = InitLog {
            fd: self.log.as_ref().map(|f| f.as_raw_fd()),
            format: self.log_format,
            debug: self.debug,
        };
        (fds, log)
    }
}

impl Inherited {
    /// Does init start from the mount namespace template?
    pub fn from_template(&self) -> bool {
        self.mnt_template.is_some()
    }
}

/// Detached trees from the host: (index in the rootfs plan's mounts, tree).
type Premade = Vec<(usize, OwnedFd)>;

/// The trees init takes from the host, and the template when the plan
/// allows it and this host has one. Where the template cannot serve (it
/// cannot be made, a source does not open here), today's way: a copy of
/// the host's mount table, in which init reports what is wrong as before.
fn premade_and_template(
    r: &crate::linux::rootfs::RootfsPlan,
) -> Result<(Premade, Option<OwnedFd>)> {
    use crate::linux::{mnt_template, rootfs};
    if r.template {
        let made =
            mnt_template::open_or_make().and_then(|t| Ok((rootfs::premade_sources(r, true)?, t)));
        match made {
            Ok((premade, t)) => {
                tracing::debug!("mount namespace from the template {}", mnt_template::PIN);
                return Ok((premade, Some(t)));
            }
            Err(e) => tracing::debug!("mount namespace template not used: {}", e.chain()),
        }
    }
    Ok((rootfs::premade_sources(r, false)?, None))
}

/// A child released at sync 1, now re-executing as INIT and waiting for
/// its Config (sync 1b) on `channel`.
pub struct Spawned {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    pub channel: Channel,
    pub guard: KillOnDrop,
}

/// Kills and reaps the child on drop unless disarmed: a failed launch
/// leaves no process behind.
pub struct KillOnDrop(Option<Pid>);

impl KillOnDrop {
    pub fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0 {
            pid::kill_and_reap(p);
        }
    }
}

/// Clone the child into the plan's namespaces (and `cgroup`, on v2), place
/// it in the cgroup, write its id maps and oom_score_adj, release it
/// (sync 1). What follows (sync 1b on) depends on the mode.
pub fn spawn(plan: &Plan, cgroup: &Manager, inherited: &Inherited) -> Result<Spawned> {
    let ns = &plan.ns;
    let exe = exe::protected_self()?;
    let (parent_ch, child_ch) = channel::pair()?;
    // A rootless brig joining a user namespace (exec) has no privilege
    // over the container's other namespaces until it is inside it: the
    // child joins the user namespace first, then the others, the pid
    // namespace too, and forks the init into it (runc's nsexec order for
    // an unprivileged caller).
    let user_first = ns.joins_user() && crate::rootless::is_rootless();
    // A pid namespace given by path is entered for our children only; the
    // parent's own pid namespace does not change.
    if let Some(path) = ns.joins().find(|(k, _)| *k == Kind::Pid).map(|(_, p)| p) {
        if !user_first {
            namespaces::join(Kind::Pid, path)?;
        }
    }
    // Init must not be dumpable before its re-exec; the child inherits
    // this. Not so a rootless parent's child in a new user namespace: the
    // parent (the same ordinary user) may only write the id maps and
    // `setgroups` of a dumpable process (a non-dumpable one's /proc files
    // belong to the host's root, also for newuidmap), so the child turns
    // non-dumpable itself once they are written, before it joins or runs
    // anything of the container's (runc's nsexec does the same). Until
    // then nothing but the user's own processes can reach it.
    let dumpable_until_maps = ns.is_new(Kind::User) && crate::rootless::is_rootless();
    if !dumpable_until_maps {
        prctl::set_not_dumpable()?;
    }

    // execCPUAffinity.initial: the child is born on these CPUs (they are
    // ours for the clone only), and keeps them through its move into the
    // cgroup, as far as the cpuset allows.
    let restore_affinity = match &plan.initial_affinity {
        Some(initial) => Some(affinity::replace_own(initial)?),
        None => None,
    };

    let mut into_cgroup = cgroup.clone_into_fd().map(|fd| fd.as_raw_fd());
    // The v1 hierarchies the child joins itself (see Manager::v1_tasks).
    let v1_tasks = cgroup.v1_tasks()?;
    let v1_tasks_empty = v1_tasks.is_empty();
    let mut flags = ns.clone_flags();
    if inherited.from_template() {
        // Init makes its mount namespace from the template, after the
        // re-exec (brig's loader and libraries are the host's).
        flags.remove(nix::sched::CloneFlags::CLONE_NEWNS);
    }
    let mut cloned = clone3(flags, into_cgroup);
    if into_cgroup.is_some() && matches!(&cloned, Err(e) if e.errno() == Some(Errno::EACCES)) {
        // Only the cgroup was refused (rootless, outside the delegated
        // subtree): `add` finds another way (the unit's systemd).
        into_cgroup = None;
        cloned = clone3(flags, None);
    }
    // The child keeps them; we go back to ours.
    if let (Some(had), false) = (restore_affinity, matches!(cloned, Ok(Forked::Child))) {
        if let Err(e) = affinity::set_own(&had) {
            tracing::warn!("restore brig's CPU affinity: {}", e.desc());
        }
    }
    let (pid, pidfd) = match cloned? {
        Forked::Child => {
            drop(parent_ch);
            child::run(
                child_ch,
                ChildPlan {
                    ns,
                    new_time_ns: plan.time_offsets.is_some(),
                    keep_fds: inherited.keep_fds(plan.preserve_fds),
                    sysfs: plan.child_sysfs,
                    net_sysctls: &plan.child_sysctls,
                    dumpable_until_maps,
                    user_first,
                    cgroup_tasks: &v1_tasks,
                },
                &exe,
            )
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(child_ch);
    let guard = KillOnDrop(Some(pid));

    drop(v1_tasks);
    // Cgroup before the user namespace's maps and before the child runs
    // anything of its own. A child cloned into the unified hierarchy is
    // there already, and the child joins the v1 ones itself before it does
    // anything else; a write of its pid to cgroup.procs would cost an RCU
    // grace period (cgroup_threadgroup_rwsem) for nothing.
    cgroup.add(pid, into_cgroup.is_some(), !v1_tasks_empty)?;
    if !v1_tasks_empty {
        // sync 0c
        expect_child(&parent_ch, "the child's v1 cgroups", |m| {
            matches!(m, ToParent::CgroupJoined)
        })?;
    }
    let procfs =
        if ns.is_new(Kind::User) || plan.oom_score_adj.is_some() || plan.time_offsets.is_some() {
            Some(ProcfsHandle::new()?)
        } else {
            None
        };
    if let Some(procfs) = &procfs {
        if ns.is_new(Kind::User) && !ns.unshares_user() {
            userns::write_maps(procfs, pid, &plan.uid_map, &plan.gid_map)?;
        }
        if let Some(adj) = plan.oom_score_adj {
            write_oom_score_adj(procfs, pid, adj)?;
        }
        if let Some(offsets) = &plan.time_offsets {
            write_time_offsets(&parent_ch, procfs, pid, offsets)?;
        }
    }
    // sync 1
    parent_ch.send(&ToInit::Go)?;
    if ns.unshares_user() {
        // sync 1u: the child joined the namespaces given by path and made
        // its user namespace; its maps, then go on.
        expect_child(&parent_ch, "the child's user namespace", |m| {
            matches!(m, ToParent::UserNamespace)
        })?;
        let procfs = procfs.as_ref().expect("made for a new user namespace");
        userns::write_maps(procfs, pid, &plan.uid_map, &plan.gid_map)?;
        parent_ch.send(&ToInit::Go)?;
    }
    let joins_pid = ns.joins().any(|(k, _)| k == Kind::Pid);
    if ns.forks_into_pid() || (user_first && joins_pid) {
        return adopt_forked_init(parent_ch, guard);
    }
    Ok(Spawned {
        pid,
        pidfd,
        channel: parent_ch,
        guard,
    })
}

/// sync 1a: the child forked the container's init into the pid namespace
/// it unshared, as our own child (CLONE_PARENT), and exits. The init is
/// the process from here on: reap the child, take a pidfd of the init (it
/// is our child, so its pid cannot be reused before we reap it).
fn adopt_forked_init(channel: Channel, mut child: KillOnDrop) -> Result<Spawned> {
    let init = match channel.recv::<ToParent>()? {
        Some(ToParent::Forked { pid }) => Pid::from_raw(pid),
        Some(ToParent::Failed { chain, errno }) => return Err(Error::Init { chain, errno }),
        Some(other) => {
            return Err(Error::invalid(format!(
                "expected the container's init to be forked, got {other:?}"
            )))
        }
        None => {
            return Err(Error::invalid(
                "the child exited before forking the container's init",
            ))
        }
    };
    let guard = KillOnDrop(Some(init));
    if let Some(c) = child.0.take() {
        pid::reap(c);
    }
    let pidfd = pid::pidfd_open(init.as_raw())?;
    Ok(Spawned {
        pid: init,
        pidfd,
        channel,
        guard,
    })
}

/// The child's next message must be `want` (`what` names it); its failure
/// is its error.
fn expect_child(ch: &Channel, what: &str, want: fn(&ToParent) -> bool) -> Result<()> {
    match ch.recv::<ToParent>()? {
        Some(m) if want(&m) => Ok(()),
        Some(ToParent::Failed { chain, errno }) => Err(Error::Init { chain, errno }),
        other => Err(Error::invalid(format!("expected {what}, got {other:?}"))),
    }
}

/// sync 0: once the child has unshared its time namespace, its offsets,
/// written as the host's root (the child, in a new user namespace and not
/// dumpable, may not write its own /proc files).
fn write_time_offsets(ch: &Channel, procfs: &ProcfsHandle, pid: Pid, offsets: &str) -> Result<()> {
    expect_child(ch, "the child's time namespace", |m| {
        matches!(m, ToParent::TimeNamespace)
    })?;
    procfs
        .write(&format!("{pid}/timens_offsets"), offsets.as_bytes())
        .map_err(|e| e.context(format!("write time offsets {offsets:?}")))
}

/// Inherited by everything the child starts. Like runc's, a privileged
/// write also sets the floor the container may later lower it to.
fn write_oom_score_adj(procfs: &ProcfsHandle, pid: Pid, adj: i32) -> Result<()> {
    procfs
        .write(&format!("{pid}/oom_score_adj"), adj.to_string().as_bytes())
        .map_err(|e| {
            if e.errno() == Some(Errno::EACCES) {
                e.context("lowering oom_score_adj needs CAP_SYS_RESOURCE, which brig lacks")
            } else {
                e
            }
        })
}

/// Written atomically (temp file + rename) before create/exec returns.
pub fn write_pid_file(p: &Path, pid: Pid) -> Result<()> {
    let p: PathBuf = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().or_io(|| "getcwd".into())?.join(p)
    };
    state::write_atomic(&p, pid.to_string().as_bytes(), 0o644)
        .context(|| format!("write pid file {}", p.display()))
}
