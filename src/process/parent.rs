//! Role PARENT: `brig create` (and `run`). Decides everything, records the
//! container, clones the child, places it, writes its id maps, hands it the
//! config and waits for ready. Any failure tears down all it made.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{mkfifo, Pid};
use oci_spec::runtime::LinuxIdMapping;

use crate::bundle::Bundle;
use crate::cgroups::Manager;
use crate::cli::GlobalOpts;
use crate::error::{Context, Error, IoResultExt, Result, SysResultExt};
use crate::linux::namespaces::{self, Kind, NsPlan};
use crate::linux::procfs::ProcfsHandle;
use crate::linux::{exe, userns};
use crate::process::channel::{self, Channel};
use crate::process::child::{self, ChildPlan};
use crate::process::clone::{clone3, Forked};
use crate::process::messages::{InitConfig, InitLog, InitMode, ParentPhase, ToInit, ToParent};
use crate::state::{self, State, Status};

pub struct CreateOpts<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub console_socket: Option<ConsoleSocket<'a>>,
    pub pid_file: Option<&'a Path>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
}

/// Where the pty master goes when process.terminal is true.
pub enum ConsoleSocket<'a> {
    /// `--console-socket PATH`.
    Path(&'a Path),
    /// One end of a socketpair: `run` in the foreground proxies the pty itself.
    Connected(UnixStream),
}

/// A created container whose init waits for `start`.
pub struct Created {
    pub state: State,
    pub pid: Pid,
    pub pidfd: OwnedFd,
}

/// Undo on drop unless disarmed: remove the cgroup and the state
/// directory (the child is killed by its own [`KillOnDrop`], first). A
/// `create` that fails leaves nothing behind.
struct Teardown<'a> {
    dir: &'a Path,
    cgroup: Option<&'a Manager>,
    armed: bool,
}

impl Drop for Teardown<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(cg) = self.cgroup {
            if let Err(e) = cg.destroy() {
                tracing::warn!("cleanup: {}", e.chain());
            }
        }
        let _ = std::fs::remove_dir_all(self.dir);
    }
}

pub fn create(global: &GlobalOpts, opts: &CreateOpts<'_>) -> Result<Created> {
    state::validate_id(opts.id)?;
    // Decide first: nothing is created until the whole config is checked.
    let bundle = Bundle::load(opts.bundle)?;
    let spec = &bundle.spec;
    let ns = crate::validate::spec(spec)?;
    let process = spec.process().as_ref().expect("validated");
    let linux = spec.linux().as_ref().expect("validated");
    let terminal = process.terminal().unwrap_or(false);
    match (terminal, opts.console_socket.as_ref()) {
        (true, None) => {
            return Err(Error::invalid(
                "process.terminal is true but no --console-socket was given",
            ))
        }
        (false, Some(_)) => {
            return Err(Error::invalid(
                "--console-socket was given but process.terminal is false",
            ))
        }
        _ => {}
    }
    let cgroup = Manager::new(
        linux
            .cgroups_path()
            .as_ref()
            .map(|p| p.to_string_lossy())
            .as_deref(),
        opts.id,
        global.systemd_cgroup,
    )?;
    if let Some(r) = linux.resources() {
        cgroup.check(r)?;
    }
    let (listen_fds, preserve_fds) = listen_fds(opts.preserve_fds);
    check_preserved(preserve_fds)?;

    state::ensure_root(&global.root)?;
    let dir = state::container_dir(&global.root, opts.id);
    match state::create_container_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::invalid(format!(
                "container {} already exists",
                opts.id
            )))
        }
        Err(e) => return Err(Error::io(format!("create {}", dir.display()), e)),
    }
    let mut teardown = Teardown {
        dir: &dir,
        cgroup: None,
        armed: true,
    };
    let _lock = state::Lock::acquire(&dir)?;
    // The record comes before any resource, so a killed create is still
    // found and cleaned by `delete --force`.
    let mut st = State {
        oci_version: crate::OCI_VERSION.into(),
        id: opts.id.into(),
        status: Status::Creating,
        pid: 0,
        pid_start_time: 0,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::logging::rfc3339(SystemTime::now()),
        owner: String::new(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup_path: Some(cgroup.path().to_string()),
        systemd_cgroup: global.systemd_cgroup,
        own_pid_ns: ns.is_new(Kind::Pid),
        terminal,
        config: Box::new(spec.clone()),
    };
    st.save(&global.root)?;

    cgroup.create()?;
    teardown.cgroup = Some(&cgroup);
    // Always: without linux.resources the container still gets the
    // device allow-list.
    let resources = crate::cgroups::devices::with_default_devices(
        linux.resources().as_ref(),
        linux.devices().as_deref().unwrap_or(&[]),
    );
    // Limits before the process exists; a systemd scope exists only once
    // its first process does, so there they follow spawn (init is still
    // waiting for its Config then).
    let systemd = cgroup.systemd_unit().is_some();
    if !systemd {
        cgroup.set(&resources)?;
    }

    let fifo_path = dir.join(state::EXEC_FIFO);
    mkfifo(&fifo_path, Mode::from_bits_truncate(0o622))
        .or_sys(|| format!("mkfifo {}", fifo_path.display()))?;
    // Init opens the fifo for writing as the container's root, which in a
    // new user namespace is a host id other than ours: make it the owner
    // (runc does the same), or init cannot wait for `start`.
    if ns.is_new(Kind::User) {
        let uid = userns::host_id(linux.uid_mappings().as_deref().unwrap_or(&[]), 0);
        let gid = userns::host_id(linux.gid_mappings().as_deref().unwrap_or(&[]), 0);
        nix::unistd::chown(
            &fifo_path,
            uid.map(nix::unistd::Uid::from_raw),
            gid.map(nix::unistd::Gid::from_raw),
        )
        .or_sys(|| format!("chown {} to the container's root", fifo_path.display()))?;
    }
    let fifo = open_path(&fifo_path)?;
    let (console, listener) = connect_sockets(opts.console_socket.as_ref(), linux)?;
    // Made here, on the host, and inherited by the child: inside the new
    // user namespace a source may be out of reach, and an idmapped mount
    // cannot be made.
    let idmapped = crate::linux::rootfs::premade_sources(spec, &bundle.rootfs)?;
    let mut keep_fds: Vec<RawFd> = (3..3 + preserve_fds as RawFd).collect();
    keep_fds.push(fifo.as_raw_fd());
    keep_fds.extend(console.as_ref().map(|c| c.as_raw_fd()));
    keep_fds.extend(listener.as_ref().map(|c| c.as_raw_fd()));
    keep_fds.extend(idmapped.iter().map(|(_, fd)| fd.as_raw_fd()));
    let (log_fd, log) = init_log(global);
    keep_fds.extend(log_fd.as_ref().map(|fd| fd.as_raw_fd()));

    if ns.joins().any(|(k, _)| k == Kind::User) && ns.is_new(Kind::Pid) {
        return Err(Error::invalid(
            "joining a user namespace by path while creating a new pid namespace is not supported yet",
        ));
    }
    // Dropped (killing the child) before `teardown` on any error below.
    let mut spawned = spawn(Launch {
        ns: &ns,
        cgroup: &cgroup,
        id_maps: (
            linux.uid_mappings().as_deref().unwrap_or(&[]),
            linux.gid_mappings().as_deref().unwrap_or(&[]),
        ),
        time_offsets: time_offsets(linux),
        keep_fds,
        oom_score_adj: process.oom_score_adj(),
    })?;
    let pid = spawned.pid;
    if systemd {
        cgroup.set(&resources)?;
    }
    let cgroup_view = if crate::linux::rootfs::mounts_cgroup(spec) {
        Some(crate::linux::rootfs::CgroupView {
            mountinfo: std::fs::read_to_string("/proc/self/mountinfo")
                .or_io(|| "read /proc/self/mountinfo".into())?,
            cgroup: std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .or_io(|| format!("read /proc/{pid}/cgroup"))?,
        })
    } else {
        None
    };
    let state_json = st.to_oci(Status::Creating, pid.as_raw());
    // sync 1b
    spawned.channel.send(&ToInit::Config(Box::new(InitConfig {
        mode: InitMode::Create,
        id: opts.id.into(),
        spec: spec.clone(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        ns,
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        preserve_fds,
        listen_fds,
        fifo_fd: Some(fifo.as_raw_fd()),
        console_fd: console.as_ref().map(|c| c.as_raw_fd()),
        console_raw_output: matches!(opts.console_socket, Some(ConsoleSocket::Connected(_))),
        seccomp_listener_fd: listener.as_ref().map(|c| c.as_raw_fd()),
        cgroup_view,
        state_json,
        idmapped_fds: idmapped
            .iter()
            .map(|(i, fd)| (*i, fd.as_raw_fd()))
            .collect(),
        log,
    })))?;
    // sync 2, and before it sync 1c/1d when init asks for the hooks.
    let mut phase = ParentPhase::AwaitReady;
    while phase != ParentPhase::Done {
        phase = phase.on_message(spawned.channel.recv::<ToParent>()?)?;
        if phase == ParentPhase::RunHooks {
            // sync 1c: init has its mounts, not yet pivot_root. prestart
            // then createRuntime, in our (the runtime's) namespaces. A
            // failure returns here and the Teardown kills init.
            let state = st.to_oci(Status::Creating, pid.as_raw());
            crate::hooks::run(crate::hooks::Kind::Prestart, spec.hooks().as_ref(), &state)?;
            crate::hooks::run(
                crate::hooks::Kind::CreateRuntime,
                spec.hooks().as_ref(),
                &state,
            )?;
            // sync 1d
            spawned.channel.send(&ToInit::HooksDone)?;
            phase = phase.hooks_done()?;
        }
    }

    st.status = Status::Created;
    st.pid = pid.as_raw();
    st.pid_start_time = crate::linux::pid::stat(pid).map_or(0, |s| s.start_time);
    st.save(&global.root)?;
    if let Some(p) = opts.pid_file {
        write_pid_file(p, pid)?;
    }
    teardown.armed = false;
    drop(teardown);
    spawned.guard.disarm();
    Ok(Created {
        state: st,
        pid,
        pidfd: spawned.pidfd,
    })
}

/// What `create` and `exec` hand the one launch path.
pub(crate) struct Launch<'a> {
    /// New namespaces are created at clone; joined ones by the child (the
    /// pid namespace by us, before the clone).
    pub ns: &'a NsPlan,
    /// The child is in it before it runs anything of its own.
    pub cgroup: &'a Manager,
    /// (uid, gid) maps, written when the plan creates a user namespace.
    pub id_maps: (&'a [LinuxIdMapping], &'a [LinuxIdMapping]),
    /// "monotonic S N\nboottime S N\n" for a new time namespace.
    pub time_offsets: Option<String>,
    /// Descriptors that must survive the child's re-exec.
    pub keep_fds: Vec<RawFd>,
    /// `process.oomScoreAdj`, written by us from the host's user
    /// namespace: a value below the current one needs CAP_SYS_RESOURCE
    /// there, which a process in a new user namespace never has.
    pub oom_score_adj: Option<i32>,
}

/// A child released at sync 1, now re-executing as INIT and waiting for
/// its Config (sync 1b) on `channel`.
pub(crate) struct Spawned {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    pub channel: Channel,
    pub guard: KillOnDrop,
}

/// Kills and reaps the child on drop unless disarmed: a failed launch
/// leaves no process behind.
pub(crate) struct KillOnDrop(Option<Pid>);

impl KillOnDrop {
    pub fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
    }
}

/// The launch path shared by `create` and `exec`: clone the child into its
/// namespaces (and cgroup, on v2), place it in the cgroup, write its id
/// maps, release it (sync 1). Everything before this is decided by the
/// caller; everything after (sync 1b on) depends on the mode.
pub(crate) fn spawn(launch: Launch<'_>) -> Result<Spawned> {
    let ns = launch.ns;
    let exe = exe::protected_self()?;
    let (parent_ch, child_ch) = channel::pair()?;
    // A pid namespace given by path is entered for our children only; the
    // parent's own pid namespace does not change.
    if let Some(path) = ns.joins().find(|(k, _)| *k == Kind::Pid).map(|(_, p)| p) {
        namespaces::join(Kind::Pid, path)?;
    }
    // Init must not be dumpable before its re-exec; the child inherits this.
    nix::sys::prctl::set_dumpable(false).or_sys(|| "prctl PR_SET_DUMPABLE 0".into())?;

    let into_cgroup = launch.cgroup.clone_into_fd().map(|fd| fd.as_raw_fd());
    let (pid, pidfd) = match clone3(ns.clone_flags(), into_cgroup)? {
        Forked::Child => {
            drop(parent_ch);
            child::run(
                child_ch,
                ChildPlan {
                    ns,
                    time_offsets: launch.time_offsets,
                    keep_fds: launch.keep_fds,
                },
                &exe,
            )
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(child_ch);
    let guard = KillOnDrop(Some(pid));

    // Cgroup before the user namespace's maps and before the child runs
    // anything of its own. A child cloned into it (pure v2) is there
    // already; a write to cgroup.procs would cost an RCU grace period
    // (cgroup_threadgroup_rwsem) for nothing.
    if into_cgroup.is_none() {
        launch.cgroup.add(pid)?;
    }
    if ns.is_new(Kind::User) || launch.oom_score_adj.is_some() {
        let procfs = ProcfsHandle::new()?;
        if ns.is_new(Kind::User) {
            userns::write_maps(&procfs, pid, launch.id_maps.0, launch.id_maps.1)?;
        }
        if let Some(adj) = launch.oom_score_adj {
            write_oom_score_adj(&procfs, pid, adj)?;
        }
    }
    // sync 1
    parent_ch.send(&ToInit::Go)?;
    Ok(Spawned {
        pid,
        pidfd,
        channel: parent_ch,
        guard,
    })
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

/// `--log` for init: the file opened once more by us, in append mode, and
/// handed down (a failure to open it was reported by our own logger).
pub(crate) fn init_log(global: &GlobalOpts) -> (Option<OwnedFd>, InitLog) {
    use std::os::unix::fs::OpenOptionsExt;
    let fd = global.log.as_deref().and_then(|p| {
        std::fs::OpenOptions::new()
            .append(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(p)
            .ok()
            .map(OwnedFd::from)
    });
    let log = InitLog {
        fd: fd.as_ref().map(|f| f.as_raw_fd()),
        format: global.log_format,
        debug: global.debug,
    };
    (fd, log)
}

/// The console socket (terminal: true) and the seccomp agent's socket
/// (SCMP_ACT_NOTIFY with listenerPath), connected before the clone so a
/// wrong path fails before any process exists.
pub(crate) fn connect_sockets(
    console: Option<&ConsoleSocket<'_>>,
    linux: &oci_spec::runtime::Linux,
) -> Result<(Option<UnixStream>, Option<UnixStream>)> {
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
    // Only a profile with an SCMP_ACT_NOTIFY rule has anything to send to
    // the agent; otherwise its listenerPath is ignored (as runc does).
    let listener = match linux
        .seccomp()
        .as_ref()
        .filter(|s| crate::linux::seccomp::uses_notify(s))
        .and_then(|s| s.listener_path().as_ref())
    {
        Some(p) => Some(
            UnixStream::connect(p)
                .or_io(|| format!("failed to connect with seccomp agent {}", p.display()))?,
        ),
        None => None,
    };
    Ok((console, listener))
}

/// Every preserved descriptor must be open: a hole would let the init
/// channel (made later) take its number and reach the container.
pub(crate) fn check_preserved(n: u32) -> Result<()> {
    for fd in 3..3 + n as RawFd {
        if !crate::linux::fds::is_open(fd) {
            return Err(Error::invalid(format!(
                "--preserve-fds {n}: descriptor {fd} is not open"
            )));
        }
    }
    Ok(())
}

/// LISTEN_FDS in brig's environment (socket activation): those fds come
/// first and are preserved, before --preserve-fds more.
fn listen_fds(preserve: u32) -> (Option<u32>, u32) {
    match std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        Some(n) if n > 0 => (Some(n), n + preserve),
        _ => (None, preserve),
    }
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

fn open_path(p: &Path) -> Result<OwnedFd> {
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid("path has a NUL byte"))?;
    // SAFETY: valid C string; returns a new fd or -1.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::sys(format!("open {}", p.display()), Errno::last()));
    }
    // SAFETY: fd was just opened and is ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Written atomically (temp file + rename) before create returns.
pub(crate) fn write_pid_file(p: &Path, pid: Pid) -> Result<()> {
    let p: PathBuf = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().or_io(|| "getcwd".into())?.join(p)
    };
    state::write_atomic(&p, pid.to_string().as_bytes(), 0o644)
        .context(|| format!("write pid file {}", p.display()))
}
