//! Spec and command flags -> the whole container, decided before anything
//! is made.
//!
//! [`create`] and [`exec`] take config.json (already parsed) and what the
//! command line asked, make every decision and every refusal, and return
//! a [`Plan`]: nothing exists yet when a config is refused here. The
//! parent then only carries the plan out (process/parent.rs), and the
//! container's init receives [`InitPlan`], the part it needs, with the
//! seccomp filter already compiled: init parses nothing and decides
//! nothing of its own.
//!
//! Pure but for one read: a namespace joined by path is compared with the
//! host's own (a "joined" host namespace is not the container's). What
//! depends on the host (joined paths that must open, an AppArmor profile
//! that must be loaded, preserved descriptors, cgroup controllers) is
//! checked by [`check_host`], still before any resource.

use std::collections::HashMap;
use std::path::PathBuf;

use oci_spec::runtime::{
    Hooks, LinuxIdMapping, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxResources, Process, Spec,
};
use serde::{Deserialize, Serialize};

use crate::bundle::Bundle;
use crate::cgroups::sub::{self, SubCgroup};
use crate::error::{Error, Result};
use crate::hooks;
use crate::linux::affinity::{self, CpuSet, FinalAffinity};
use crate::linux::fifo::FifoWriter;
use crate::linux::landlock::{self, LandlockPolicy};
use crate::linux::mempolicy::{self, MemPolicyPlan};
use crate::linux::namespaces::{Kind, Ns, NsPlan, JOIN_ORDER};
use crate::linux::rootfs::RootfsPlan;
use crate::linux::sched::{self, SchedPlan};
use crate::linux::seccomp::{self, Filter};
use crate::linux::{apparmor, ioprio, personality, userns};
use crate::policy::{self, Policy};
use crate::state::State;

/// What `create` (and `run`) was asked besides config.json.
#[derive(Debug, Clone, Default)]
pub struct CreateFlags {
    pub id: String,
    /// A console socket was given (or `run` holds the pty itself).
    pub console_socket: bool,
    /// brig copies the pty to a raw host terminal itself (`run`/`exec` in
    /// the foreground): ONLCR goes off before the process can write.
    pub console_raw_output: bool,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// LISTEN_FDS of brig's environment (socket activation): that many
    /// descriptors from 3 on come first and are preserved too.
    pub listen_fds: Option<u32>,
    /// `--systemd-cgroup` (the system's or the user's systemd) or not.
    pub cgroup_driver: crate::cgroups::Driver,
    /// The node policy brig was invoked with (`--policy`, `brig-NAME`).
    pub policy: Option<Policy>,
    /// What the node's pool leased this container, for the policy's
    /// `user_namespace` rule ([`policy::pool`]).
    pub userns_grant: Option<policy::pool::Grant>,
    /// `seccomp learn`/`test`: brig's supervisor filter and its socket in
    /// place of config.json's `linux.seccomp`.
    pub supervised_seccomp: Option<SupervisedSeccomp>,
}

/// The filter of brig's own seccomp supervisor and where it listens.
#[derive(Debug, Clone)]
pub struct SupervisedSeccomp {
    pub filter: Filter,
    pub listener: PathBuf,
}

/// What `exec` was asked besides the process.
#[derive(Debug, Clone, Default)]
pub struct ExecFlags {
    /// The node policy brig was invoked with; the container's own (from
    /// its create) applies in any case.
    pub policy: Option<Policy>,
    pub console_socket: bool,
    pub console_raw_output: bool,
    pub preserve_fds: u32,
    /// `--cgroup` arguments, as runc takes them.
    pub sub_cgroups: Vec<String>,
    /// `seccomp learn/test --exec`: brig's supervisor filter and its socket
    /// in place of the container's `linux.seccomp` (which it must not have).
    pub supervised_seccomp: Option<SupervisedSeccomp>,
}

/// The whole container (or exec'd process), decided.
#[derive(Debug)]
pub struct Plan {
    pub id: String,
    /// New namespaces are created at clone; joined ones by the child (the
    /// pid namespace by the parent, for its children).
    pub ns: NsPlan,
    /// Written by the parent when the plan creates a user namespace.
    pub uid_map: Vec<LinuxIdMapping>,
    pub gid_map: Vec<LinuxIdMapping>,
    /// "monotonic S N\nboottime S N\n" for a new time namespace.
    pub time_offsets: Option<String>,
    /// `process.oomScoreAdj`, written by the parent from the host's user
    /// namespace (lowering it needs CAP_SYS_RESOURCE there).
    pub oom_score_adj: Option<i32>,
    /// `execCPUAffinity.initial` (exec only): the parent's CPUs around
    /// the clone, so the child is born on them.
    pub initial_affinity: Option<CpuSet>,
    pub cgroup: CgroupPlan,
    /// Who opens exec.fifo for writing: the container's root (create only).
    pub fifo_writer: FifoWriter,
    /// The seccomp agent's socket, only when a rule uses SCMP_ACT_NOTIFY.
    pub seccomp_listener: Option<PathBuf>,
    /// Descriptors 3..3+N reach the container (LISTEN_FDS included).
    pub preserve_fds: u32,
    /// prestart and createRuntime, run by the parent at sync 1c.
    pub runtime_hooks: Option<Hooks>,
    /// config.json as it runs: with the node policy's changes (state.json
    /// keeps this one; `exec` and the hooks read it from there).
    pub config: Box<Spec>,
    /// The node policy applied, and what it found.
    pub policy: Option<policy::Record>,
    /// The host ids the node's pool leased the container (state.json).
    pub userns_range: Option<policy::pool::Range>,
    /// A sysfs the child mounts before it enters the user namespace:
    /// (index in mounts, mount attributes); see
    /// [`crate::linux::rootfs::sysfs_made_by_child`].
    pub child_sysfs: Option<(usize, u64)>,
    /// net.* sysctls the child writes in the joined network namespace.
    pub child_sysctls: Vec<(String, String)>,
    pub init: InitPlan,
}

/// The container's cgroup.
#[derive(Debug)]
pub enum CgroupPlan {
    /// `create`: a new cgroup at `linux.cgroupsPath` (or brig's default).
    New {
        path: Option<String>,
        driver: crate::cgroups::Driver,
        /// `linux.resources` as given, for the host check.
        requested: Option<Box<LinuxResources>>,
        /// What is set: the request with the device allow-list, which a
        /// container gets even without `linux.resources`.
        resources: Box<LinuxResources>,
    },
    /// `exec`: the container's cgroup, or `--cgroup` sub-cgroups of it.
    Existing {
        /// None: a rootless container created without a cgroup.
        path: Option<String>,
        driver: crate::cgroups::Driver,
        sub: Vec<SubCgroup>,
    },
}

/// Which process init becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InitMode {
    /// The container's first process: hostname, rootfs, sysctls, console
    /// mount, then Ready and the wait for `start`.
    Create,
    /// `brig exec`: a further process in a container that is set up; none
    /// of the above, no Ready, no fifo.
    Exec,
}

/// How init gets to the container's root.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RootSetup {
    /// A new mount namespace: build the rootfs, then pivot into it.
    Build(Box<RootfsPlan>),
    /// No mount namespace of its own: the host's mounts, with root.path
    /// as the root (chroot), as runc does.
    Chroot(PathBuf),
    /// A mount namespace that is already what its owner made it (exec, or
    /// one joined by path).
    AsIs,
}

/// What init needs, and nothing else.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitPlan {
    pub mode: InitMode,
    pub id: String,
    pub ns: NsPlan,
    pub root: RootSetup,
    /// Set only when the container has a uts namespace of its own.
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    /// `linux.sysctl` (create only; checked against the namespaces).
    pub sysctl: HashMap<String, String>,
    /// The process, checked: config.json's, or the one `exec` runs.
    pub process: Process,
    /// Compiled here; init only loads it, last before execve.
    pub seccomp: Option<Filter>,
    /// `linux.seccomp.listenerMetadata`, for the agent.
    pub seccomp_metadata: Option<String>,
    pub landlock: Option<LandlockPolicy>,
    /// A session keyring of the container's own (runc's default).
    pub session_keyring: bool,
    pub preserve_fds: u32,
    pub listen_fds: Option<u32>,
    pub console_raw_output: bool,
    pub hooks: InitHooks,
    pub attrs: ProcessAttrs,
    /// The program's CPUs, set right before execve: `execCPUAffinity.final`
    /// (exec only), or every CPU the cgroup's cpuset allows.
    pub cpu_affinity: FinalAffinity,
}

/// Attributes of the process itself, which execve keeps: set by init
/// (create and exec alike) while it still has its capabilities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessAttrs {
    /// `process.scheduler`, for sched_setattr(2).
    pub scheduler: Option<SchedPlan>,
    /// `process.ioPriority`, the ioprio_set(2) value.
    pub io_priority: Option<u32>,
    /// `linux.personality`'s persona.
    pub personality: Option<u64>,
    /// `linux.memoryPolicy`, for set_mempolicy(2).
    pub memory_policy: Option<MemPolicyPlan>,
}

impl ProcessAttrs {
    /// From the process that runs and the container's `linux` section.
    pub fn from_spec(process: &Process, linux: &oci_spec::runtime::Linux) -> Result<Self> {
        // runc reports a scheduler EPERM as a clash with the cpuset.
        let cpus_restricted = linux
            .resources()
            .as_ref()
            .and_then(|r| r.cpu().as_ref())
            .and_then(|c| c.cpus().as_deref())
            .is_some_and(|c| !c.is_empty());
        Ok(ProcessAttrs {
            scheduler: process
                .scheduler()
                .as_ref()
                .map(|s| sched::plan(s, cpus_restricted))
                .transpose()?,
            io_priority: process
                .io_priority()
                .as_ref()
                .map(ioprio::plan)
                .transpose()?,
            personality: linux
                .personality()
                .as_ref()
                .map(personality::plan)
                .transpose()?,
            memory_policy: linux
                .memory_policy()
                .as_ref()
                .map(mempolicy::plan)
                .transpose()?,
        })
    }
}

/// The hooks init takes part in.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InitHooks {
    /// There are prestart or createRuntime hooks: ask the parent to run
    /// them (sync 1c) and wait for it (sync 1d).
    pub ask_parent: bool,
    /// createContainer and startContainer only: init runs these.
    pub in_container: Option<Hooks>,
    /// `start` waits for the startContainer hooks and the execve, so the
    /// exec fifo stays open until then.
    pub start_waits_for_exec: bool,
    /// createContainer hooks run from here (the rootfs on the host).
    pub cwd: PathBuf,
}

/// Every decision of `create`. Refuses what brig will not run, before
/// anything exists.
pub fn create(bundle: &Bundle, flags: &CreateFlags) -> Result<Plan> {
    crate::state::validate_id(&flags.id)?;
    let mut ns = crate::validate::spec(&bundle.spec)?;
    // The node policy: refuses, or lowers the config to its ceiling; the
    // rest of the plan is made from the config as it will run.
    let mut config = bundle.spec.clone();
    let policy = match &flags.policy {
        Some(p) => {
            let host = policy::Host {
                userns_grant: flags.userns_grant.clone(),
                ..policy::Host::current()
            };
            let findings = policy::apply_to_spec(p, &mut config, &host)?;
            if findings
                .iter()
                .any(|f| f.outcome == policy::Outcome::Clamped)
            {
                ns = crate::validate::spec(&config)?;
            }
            Some(policy::Record {
                policy: p.clone(),
                findings,
            })
        }
        None => None,
    };
    let spec = &config;
    let process = spec.process().clone().expect("validate::spec checked it");
    let linux = spec.linux().as_ref().expect("validate::spec checked it");
    match (process.terminal().unwrap_or(false), flags.console_socket) {
        (true, false) => {
            return Err(Error::invalid(
                "process.terminal is true but no --console-socket was given",
            ))
        }
        (false, true) => {
            return Err(Error::invalid(
                "--console-socket was given but process.terminal is false",
            ))
        }
        _ => {}
    }
    let uid_map = linux.uid_mappings().clone().unwrap_or_default();
    let gid_map = linux.gid_mappings().clone().unwrap_or_default();
    let fifo_writer = if ns.is_new(Kind::User) {
        FifoWriter::Owner(userns::host_id(&uid_map, 0), userns::host_id(&gid_map, 0))
    } else if ns.joins_user() {
        FifoWriter::Anyone
    } else {
        FifoWriter::HostRoot
    };
    // A user namespace the policy gave: its range, and the root
    // filesystem idmapped to it (the image's files keep their owners).
    let granted = policy
        .as_ref()
        .is_some_and(|r| policy::granted_userns(&r.findings));
    let userns_range = flags
        .userns_grant
        .as_ref()
        .filter(|_| granted)
        .map(|g| g.range);
    let own_mount_ns = ns.has_own(Kind::Mount);
    let root = if ns.is_new(Kind::Mount) {
        let mut r = RootfsPlan::from_spec(spec, &bundle.rootfs, flags.no_pivot)?;
        r.idmap_root = granted;
        r.template = crate::linux::rootfs::template_eligible(&r, spec.hooks().as_ref());
        RootSetup::Build(Box::new(r))
    } else if own_mount_ns {
        RootSetup::AsIs
    } else {
        RootSetup::Chroot(bundle.rootfs.clone())
    };
    let own_uts = ns.has_own(Kind::Uts);
    let (seccomp, seccomp_metadata, seccomp_listener) = match &flags.supervised_seccomp {
        Some(s) => (Some(s.filter.clone()), None, Some(s.listener.clone())),
        None => compile_seccomp(spec)?,
    };
    let preserve_fds = flags.listen_fds.unwrap_or(0) + flags.preserve_fds;
    let configured = spec.hooks().as_ref();
    let hooks = InitHooks {
        ask_parent: !hooks::Kind::Prestart.list(configured).is_empty()
            || !hooks::Kind::CreateRuntime.list(configured).is_empty(),
        in_container: configured.map(only_in_container),
        start_waits_for_exec: hooks::start_waits_for_exec(configured),
        cwd: bundle.rootfs.clone(),
    };
    let cgroup = CgroupPlan::New {
        path: linux
            .cgroups_path()
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
        driver: flags.cgroup_driver,
        requested: linux.resources().clone().map(Box::new),
        resources: Box::new(crate::cgroups::devices::with_default_devices(
            linux.resources().as_ref(),
            linux.devices().as_deref().unwrap_or(&[]),
        )),
    };
    let time_offsets = time_offsets(linux);
    let runtime_hooks = configured.cloned();
    let attrs = ProcessAttrs::from_spec(&process, linux)?;
    // A network namespace joined by path with a user namespace: its net.*
    // sysctls are written by the child, as the host's root in it (it may
    // belong to the host's user namespace, whose files init cannot write).
    let mut sysctl = linux.sysctl().clone().unwrap_or_default();
    let child_sysctls: Vec<(String, String)> =
        if matches!(ns.get(Kind::Net), Ns::Join(_)) && (ns.unshares_user() || ns.joins_user()) {
            let net: Vec<String> = sysctl
                .keys()
                .filter(|k| k.starts_with("net."))
                .cloned()
                .collect();
            let mut out: Vec<(String, String)> = net
                .into_iter()
                .filter_map(|k| sysctl.remove_entry(&k))
                .collect();
            out.sort();
            out
        } else {
            Vec::new()
        };
    let child_sysfs = match &root {
        RootSetup::Build(r) if matches!(ns.get(Kind::Net), Ns::Join(_)) => {
            crate::linux::rootfs::sysfs_made_by_child(r)
        }
        _ => None,
    };
    let init = InitPlan {
        mode: InitMode::Create,
        id: flags.id.clone(),
        ns: ns.clone(),
        root,
        hostname: spec.hostname().clone().filter(|_| own_uts),
        domainname: spec.domainname().clone().filter(|_| own_uts),
        sysctl,
        process,
        seccomp,
        seccomp_metadata,
        landlock: landlock::parse(spec.annotations().as_ref())?,
        session_keyring: !flags.no_new_keyring,
        preserve_fds,
        listen_fds: flags.listen_fds,
        console_raw_output: flags.console_raw_output,
        hooks,
        attrs,
        // execCPUAffinity is for exec'd processes only (runtime-spec
        // config.md); the init never keeps the caller's CPUs.
        cpu_affinity: FinalAffinity::Reset,
    };
    Ok(Plan {
        id: flags.id.clone(),
        ns,
        uid_map,
        gid_map,
        time_offsets,
        oom_score_adj: init.process.oom_score_adj(),
        initial_affinity: None,
        cgroup,
        fifo_writer,
        seccomp_listener,
        preserve_fds,
        runtime_hooks,
        config: Box::new(config),
        policy,
        userns_range,
        child_sysfs,
        child_sysctls,
        init,
    })
}

/// Every decision of `exec`: `process` in container `st`, with the config
/// saved at its create (not config.json as it may be now).
pub fn exec(st: &State, mut process: Process, flags: &ExecFlags) -> Result<Plan> {
    let (id, config) = (st.id.as_str(), &*st.config);
    crate::validate::process(&process)?;
    // The container's policy, and the one brig was invoked with: an exec
    // cannot have more than either allows.
    let mut findings = Vec::new();
    let recorded = st.policy.as_ref().map(|r| &r.policy);
    let invoked = flags.policy.as_ref().filter(|p| Some(*p) != recorded);
    for p in recorded.into_iter().chain(invoked) {
        let host = policy::Host::current();
        findings.extend(policy::apply_to_process(p, config, &mut process, &host)?);
    }
    match (process.terminal().unwrap_or(false), flags.console_socket) {
        (true, false) => {
            return Err(Error::invalid(
                "cannot allocate a tty without a console socket when detached",
            ))
        }
        (false, true) => {
            return Err(Error::invalid(
                "--console-socket was given but the process has no terminal (use -t)",
            ))
        }
        _ => {}
    }
    let linux = config
        .linux()
        .as_ref()
        .ok_or_else(|| Error::invalid("config.json has no linux section"))?;
    // A process without its own scheduler, I/O priority or CPU affinity
    // takes config.json's (as created), as runc's exec does.
    if let Some(base) = config.process() {
        if process.scheduler().is_none() {
            process.set_scheduler(base.scheduler().clone());
        }
        if process.io_priority().is_none() {
            process.set_io_priority(*base.io_priority());
        }
        if process.exec_cpu_affinity().is_none() {
            process.set_exec_cpu_affinity(base.exec_cpu_affinity().clone());
        }
    }
    let attrs = ProcessAttrs::from_spec(&process, linux)?;
    let (initial_affinity, cpu_affinity) = affinity::plan(process.exec_cpu_affinity().as_ref())?;
    let container_ns = NsPlan::from_spec(linux.namespaces().as_deref().unwrap_or(&[]))?;
    let ns = join_plan(&container_ns, st.pid)?;
    // None: a rootless container created without a cgroup of its own.
    let path = st.cgroup_path.clone();
    let (seccomp, seccomp_metadata, seccomp_listener) = match &flags.supervised_seccomp {
        // Replacing a filter would be a way around it: only a container
        // without one is supervised (commands/seccomp.rs says so first).
        Some(_) if linux.seccomp().is_some() => {
            return Err(Error::invalid(format!(
                "container {id} has a seccomp filter, which an exec'd process must keep"
            )))
        }
        Some(s) => (Some(s.filter.clone()), None, Some(s.listener.clone())),
        None => compile_seccomp(config)?,
    };
    // The container's own plan says whether its mount namespace is its own
    // (the join plan's /proc/PID/ns/mnt path cannot tell from here).
    let own_mount_ns = container_ns.has_own(Kind::Mount);
    let root = if own_mount_ns {
        RootSetup::AsIs
    } else {
        RootSetup::Chroot(st.rootfs.clone())
    };
    let init = InitPlan {
        mode: InitMode::Exec,
        id: id.into(),
        ns: ns.clone(),
        root,
        hostname: None,
        domainname: None,
        sysctl: HashMap::new(),
        process: process.clone(),
        seccomp,
        seccomp_metadata,
        landlock: landlock::parse(config.annotations().as_ref())?,
        // The container's init made its session keyring; exec shares it.
        session_keyring: false,
        preserve_fds: flags.preserve_fds,
        listen_fds: None,
        console_raw_output: flags.console_raw_output,
        hooks: InitHooks::default(),
        attrs,
        cpu_affinity,
    };
    Ok(Plan {
        id: id.into(),
        ns,
        uid_map: Vec::new(),
        gid_map: Vec::new(),
        time_offsets: None,
        oom_score_adj: process.oom_score_adj(),
        initial_affinity,
        cgroup: CgroupPlan::Existing {
            path,
            driver: st.cgroup_driver(),
            sub: sub::parse(&flags.sub_cgroups)?,
        },
        fifo_writer: FifoWriter::HostRoot,
        seccomp_listener,
        preserve_fds: flags.preserve_fds,
        runtime_hooks: None,
        config: Box::new(config.clone()),
        policy: st.policy.clone().map(|r| policy::Record { findings, ..r }),
        userns_range: None,
        child_sysfs: None,
        child_sysctls: Vec::new(),
        init,
    })
}

/// What depends on the host, checked before any resource: every joined
/// namespace path opens as a namespace of its kind, the AppArmor profile
/// is loaded, every preserved descriptor is open.
pub fn check_host(plan: &Plan) -> Result<()> {
    if plan.ns.is_new(crate::linux::namespaces::Kind::User) {
        crate::rootless::check_id_maps(&plan.uid_map, &plan.gid_map)?;
    }
    if crate::rootless::is_rootless() {
        crate::linux::rlimits::check_within_hard(plan.init.process.rlimits().as_ref())?;
    }
    for (kind, path) in plan.ns.joins() {
        crate::linux::namespaces::open_ns(kind, path)?;
    }
    if let Some(profile) = plan.init.process.apparmor_profile() {
        apparmor::check(profile)?;
    }
    // A hole would let the init channel (made later) take its number and
    // reach the container.
    let n = plan.preserve_fds;
    for fd in 3..3 + n as i32 {
        if !crate::linux::fds::is_open(fd) {
            return Err(Error::invalid(format!(
                "--preserve-fds {n}: descriptor {fd} is not open"
            )));
        }
    }
    Ok(())
}

/// The filter, the agent's metadata and the agent's socket path (only a
/// profile with an SCMP_ACT_NOTIFY rule has anything to send the agent;
/// otherwise its listenerPath is ignored, as runc does).
fn compile_seccomp(spec: &Spec) -> Result<(Option<Filter>, Option<String>, Option<PathBuf>)> {
    let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok((None, None, None));
    };
    let filter = seccomp::build(s)?;
    let listener = s.listener_path().clone().filter(|_| filter.uses_notify());
    Ok((Some(filter), s.listener_metadata().clone(), listener))
}

/// The hooks init runs itself; the others stay with the runtime.
fn only_in_container(h: &Hooks) -> Hooks {
    let mut out = Hooks::default();
    out.set_create_container(h.create_container().clone());
    out.set_start_container(h.start_container().clone());
    out
}

fn time_offsets(linux: &oci_spec::runtime::Linux) -> Option<String> {
    let offsets = linux.time_offsets().as_ref()?;
    let mut out = String::new();
    for (clock, off) in offsets {
        out.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    Some(out)
}

/// The exec'd process's namespaces: the container's own (created at its
/// `create`) through its init's /proc/PID/ns links, those it joined by
/// path through the same path, and the host's left alone.
pub fn join_plan(container: &NsPlan, init_pid: i32) -> Result<NsPlan> {
    let mut list: Vec<LinuxNamespace> = Vec::new();
    for kind in JOIN_ORDER {
        let path = match container.get(kind) {
            Ns::Host => continue,
            Ns::New => PathBuf::from(format!("/proc/{init_pid}/ns/{}", kind.proc_name())),
            Ns::Join(p) => p.clone(),
        };
        list.push(
            LinuxNamespaceBuilder::default()
                .typ(spec_type(kind))
                .path(path)
                .build()
                .map_err(|e| Error::invalid(format!("namespace {}: {e}", kind.spec_name())))?,
        );
    }
    NsPlan::from_spec(&list)
}

fn spec_type(kind: Kind) -> LinuxNamespaceType {
    match kind {
        Kind::User => LinuxNamespaceType::User,
        Kind::Ipc => LinuxNamespaceType::Ipc,
        Kind::Uts => LinuxNamespaceType::Uts,
        Kind::Net => LinuxNamespaceType::Network,
        Kind::Pid => LinuxNamespaceType::Pid,
        Kind::Cgroup => LinuxNamespaceType::Cgroup,
        Kind::Time => LinuxNamespaceType::Time,
        Kind::Mount => LinuxNamespaceType::Mount,
    }
}

impl Plan {
    /// The rootfs init builds, when it builds one.
    pub fn rootfs(&self) -> Option<&RootfsPlan> {
        match &self.init.root {
            RootSetup::Build(r) => Some(r),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
