//! Role PARENT: `brig create` (and `run`). Plans the whole container
//! (plan.rs), then carries the plan out: records the container, makes its
//! cgroup and exec fifo, launches the child, hands init its part of the
//! plan, runs the runtime's hooks when init asks, waits for ready. Any
//! failure tears down all it made.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::unistd::Pid;

use crate::bundle::Bundle;
use crate::cgroups::Manager;
use crate::error::{Error, IoResultExt, Result};
use crate::hooks;
use crate::linux::namespaces::Kind;
use crate::linux::pidfd_socket::{PidfdOf, PidfdSocket};
use crate::plan::{self, CgroupPlan, CreateFlags, Plan};
use crate::policy::pool::Taken;
use crate::process::channel::Channel;
use crate::process::launch::{self, ConsoleSocket, Inherited, RuntimeOpts};
use crate::process::messages::{InitConfig, ParentPhase, ToInit, ToParent};
use crate::state::{self, State, Status};

pub struct CreateOpts<'a> {
    pub id: &'a str,
    /// The bundle, read once: `run` looks at process.terminal first.
    pub bundle: Bundle,
    pub console_socket: Option<ConsoleSocket<'a>>,
    /// `--pidfd-socket`: receives a pidfd of the init once it is ready.
    pub pidfd_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// `--systemd-cgroup`: the system's systemd or the user's.
    pub cgroup_driver: crate::cgroups::Driver,
    /// The node policy brig was invoked with.
    pub policy: Option<crate::policy::Policy>,
    /// `seccomp learn`/`test`: brig's supervisor instead of `linux.seccomp`.
    pub supervised_seccomp: Option<plan::SupervisedSeccomp>,
}

/// A created container whose init waits for `start`.
pub struct Created {
    pub state: State,
    pub pid: Pid,
    pub pidfd: std::os::fd::OwnedFd,
}

pub fn create(rt: &RuntimeOpts<'_>, opts: &CreateOpts<'_>) -> Result<Created> {
    // Decide first: nothing is made until the whole container is planned.
    let bundle = &opts.bundle;
    // A user namespace the policy gives: a range from the node's pool
    // first (released again if the create fails), for the plan to map.
    let lease = Taken::take(rt.root, opts.id, opts.policy.as_ref(), &bundle.spec)?;
    let mut flags = create_flags(opts);
    flags.userns_grant = lease.as_ref().map(|l| l.grant.clone());
    let mut plan = plan::create(bundle, &flags)?;
    plan::check_host(&plan)?;
    let cgroup = launch::cgroup_for(&plan.cgroup, &plan.id)?;
    let pidfd_socket = opts.pidfd_socket.map(PidfdSocket::connect).transpose()?;

    let mut record = Record::begin(rt.root, &mut plan, bundle, &cgroup)?;
    make_cgroup(&plan, &cgroup, &mut record)?;
    let mut inherited = Inherited::open(&plan, opts.console_socket.as_ref(), rt)?;
    inherited.fifo = Some(crate::linux::fifo::make_exec_fifo(
        &record.dir.join(state::EXEC_FIFO),
        plan.fifo_writer,
    )?);

    // Dropped (killing the child) before `record` on any error below.
    let mut spawned = launch::spawn(&plan, &cgroup, &inherited)?;
    let pid = spawned.pid;
    if cgroup.systemd_unit().is_some() {
        // A systemd scope exists only once its first process does; init
        // still waits for its Config.
        cgroup.set(resources(&plan))?;
    }
    send_config(&spawned.channel, &plan, &inherited, &record.state, pid)?;
    drop(inherited);
    await_ready(
        &spawned.channel,
        &plan,
        &record.state,
        pid,
        spawned.pidfd.as_fd(),
    )?;
    // Before create returns, as runc's init sends it before Ready; a
    // failure still tears the container down.
    if let Some(s) = &pidfd_socket {
        s.send(spawned.pidfd.as_fd(), PidfdOf::Init)?;
    }

    let st = record.created(rt.root, pid)?;
    if let Some(l) = lease {
        l.keep();
    }
    if let Some(p) = opts.pid_file {
        launch::write_pid_file(p, pid)?;
    }
    spawned.guard.disarm();
    Ok(Created {
        state: st,
        pid,
        pidfd: spawned.pidfd,
    })
}

fn create_flags(opts: &CreateOpts<'_>) -> CreateFlags {
    CreateFlags {
        policy: opts.policy.clone(),
        id: opts.id.into(),
        console_socket: opts.console_socket.is_some(),
        console_raw_output: matches!(opts.console_socket, Some(ConsoleSocket::Connected(_))),
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        preserve_fds: opts.preserve_fds,
        listen_fds: listen_fds(),
        cgroup_driver: opts.cgroup_driver,
        userns_grant: None,
        supervised_seccomp: opts.supervised_seccomp.clone(),
    }
}

/// LISTEN_FDS in brig's environment (socket activation).
fn listen_fds() -> Option<u32> {
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| *n > 0)
}

fn resources(plan: &Plan) -> &oci_spec::runtime::LinuxResources {
    match &plan.cgroup {
        CgroupPlan::New { resources, .. } => resources,
        CgroupPlan::Existing { .. } => unreachable!("create plans a new cgroup"),
    }
}

/// The cgroup, with its limits before the process exists (the device
/// allow-list always); a systemd scope gets them after spawn.
fn make_cgroup<'a>(plan: &Plan, cgroup: &'a Manager, record: &mut Record<'a>) -> Result<()> {
    if cgroup.is_none() {
        return Ok(());
    }
    cgroup.create()?;
    record.undo.cgroup = Some(cgroup);
    if cgroup.systemd_unit().is_none() {
        cgroup.set(resources(plan))?;
    }
    Ok(())
}

/// sync 1b: init's part of the plan, the descriptors it inherits, and the
/// views only the host has.
fn send_config(
    ch: &Channel,
    plan: &Plan,
    inherited: &Inherited,
    st: &State,
    pid: Pid,
) -> Result<()> {
    let cgroup_view = match plan.rootfs() {
        Some(r) if crate::linux::rootfs::mounts_cgroup(r) => {
            Some(crate::linux::rootfs::CgroupView {
                mountinfo: crate::linux::mountinfo::cgroup_mounts()
                    .or_io(|| "read /proc/self/mountinfo".into())?,
                cgroup: std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                    .or_io(|| format!("read /proc/{pid}/cgroup"))?,
            })
        }
        _ => None,
    };
    // From the template, the host's cgroup directories are out of init's
    // reach: the binds come from here (sync 1b').
    let cgroup_trees = match &cgroup_view {
        Some(view) if inherited.from_template() => crate::linux::rootfs::cgroup_trees(view)?,
        _ => Vec::new(),
    };
    let (fds, log) = inherited.init_fds();
    ch.send(&ToInit::Config(Box::new(InitConfig {
        plan: plan.init.clone(),
        fds,
        cgroup_view,
        cgroup_trees: cgroup_trees.len(),
        state_json: st.to_oci(Status::Creating, pid.as_raw()),
        log,
    })))?;
    for (name, tree) in cgroup_trees {
        ch.send_with_fd(&ToInit::CgroupTree { name }, tree.as_fd())?;
    }
    Ok(())
}

/// sync 2, and before it sync 1m when init asks for a mount's source tree,
/// and sync 1c/1d when it asks for the hooks: prestart then createRuntime,
/// in our (the runtime's) namespaces, after init's mounts and before its
/// pivot_root. A failure returns here and the child is killed.
fn await_ready(
    ch: &Channel,
    plan: &Plan,
    st: &State,
    pid: Pid,
    pidfd: BorrowedFd<'_>,
) -> Result<()> {
    let mut phase = ParentPhase::AwaitReady;
    while phase != ParentPhase::Done {
        phase = phase.on_message(ch.recv::<ToParent>()?)?;
        if let ParentPhase::MakeMount { index } = phase {
            // sync 1m: made in the container's mount namespace, sent to
            // init (ours closes here: nothing of it stays with us).
            let rootfs = plan.rootfs().ok_or_else(|| {
                Error::invalid("container init asked for a mount without a rootfs")
            })?;
            let tree = crate::linux::rootfs::container_source(rootfs, index, pid, pidfd)?;
            ch.send_with_fd(&ToInit::MountSource { index }, tree.as_fd())?;
            phase = phase.mount_sent()?;
        }
        if phase == ParentPhase::RunHooks {
            // sync 1c
            let state = st.to_oci(Status::Creating, pid.as_raw());
            let configured = plan.runtime_hooks.as_ref();
            hooks::run(hooks::Kind::Prestart, configured, &state)?;
            hooks::run(hooks::Kind::CreateRuntime, configured, &state)?;
            // sync 1d
            ch.send(&ToInit::HooksDone)?;
            phase = phase.hooks_done()?;
        }
    }
    Ok(())
}

/// The container's record under `--root`: its directory (locked) and
/// state.json, written before any resource so a killed create is still
/// found and cleaned by `delete --force`. Dropped before [`Record::created`],
/// its guard undoes everything: the cgroup, then the directory (the child
/// is killed by its own guard first).
struct Record<'a> {
    state: State,
    dir: PathBuf,
    undo: Undo<'a>,
}

struct Undo<'a> {
    dir: PathBuf,
    cgroup: Option<&'a Manager>,
    _lock: Option<state::Lock>,
    armed: bool,
}

impl<'a> Record<'a> {
    /// Takes the plan's config and policy into the record.
    fn begin(
        root: &Path,
        plan: &mut Plan,
        bundle: &Bundle,
        cgroup: &Manager,
    ) -> Result<Record<'a>> {
        state::ensure_root(root)?;
        let dir = state::container_dir(root, &plan.id);
        match state::create_container_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::already_exists(&plan.id))
            }
            Err(e) => return Err(Error::io(format!("create {}", dir.display()), e)),
        }
        // From here on a failure removes the directory.
        let mut undo = Undo {
            dir: dir.clone(),
            cgroup: None,
            _lock: None,
            armed: true,
        };
        undo._lock = Some(state::Lock::acquire(&dir)?);
        let config = std::mem::take(&mut plan.config);
        let state = State {
            oci_version: crate::OCI_VERSION.into(),
            id: plan.id.clone(),
            status: Status::Creating,
            pid: 0,
            pid_start_time: 0,
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            created: crate::logging::rfc3339(SystemTime::now()),
            owner: String::new(),
            annotations: config.annotations().clone().unwrap_or_default(),
            cgroup_path: (!cgroup.is_none()).then(|| cgroup.path().to_string()),
            systemd_cgroup: cgroup.driver().is_systemd(),
            systemd_user: cgroup.driver() == crate::cgroups::Driver::SystemdUser,
            own_pid_ns: plan.ns.is_new(Kind::Pid),
            terminal: plan.init.process.terminal().unwrap_or(false),
            config,
            policy: plan.policy.take(),
            userns_range: plan.userns_range,
        };
        state.save(root)?;
        Ok(Record { state, dir, undo })
    }

    /// Init reported ready: the record says "created", and stays.
    fn created(mut self, root: &Path, pid: Pid) -> Result<State> {
        self.state.status = Status::Created;
        self.state.pid = pid.as_raw();
        self.state.pid_start_time = crate::linux::pid::stat(pid).map_or(0, |s| s.start_time);
        self.state.save(root)?;
        self.undo.armed = false;
        Ok(self.state)
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(cg) = self.cgroup {
            if let Err(e) = cg.destroy() {
                tracing::warn!("cleanup: {}", e.chain());
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
