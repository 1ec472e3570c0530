//! Role PARENT for `brig exec`: one more process in a running container.
//! It takes the container's own launch path (`parent::spawn`, CHILD, INIT
//! in `InitMode::Exec`) with a plan that joins every namespace the container
//! has and creates none, so it gets the init's confinement: seccomp,
//! AppArmor, capabilities, no_new_privs, rlimits, Landlock, user, umask,
//! and only stdio and the preserved descriptors.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType, Process, Spec};

use crate::cgroups::{sub, Manager};
use crate::error::{Error, Result};
use crate::linux::namespaces::{self, Kind, Ns, NsPlan, JOIN_ORDER};
use crate::process::messages::{InitConfig, InitMode, ParentPhase, ToInit, ToParent};
use crate::process::parent::{self, ConsoleSocket, Launch};
use crate::state::{State, Status};

pub struct ExecOpts<'a> {
    /// For `--log`, which init writes to as well.
    pub global: &'a crate::cli::GlobalOpts,
    pub console_socket: Option<ConsoleSocket<'a>>,
    pub pid_file: Option<&'a Path>,
    /// Descriptors 3..3+N reach the process; each must be open.
    pub preserve_fds: u32,
    /// `--cgroup` arguments, as runc takes them.
    pub sub_cgroups: &'a [String],
}

/// A process that has reached execve in the container.
pub struct Execed {
    pub pid: Pid,
    pub pidfd: OwnedFd,
}

/// Refuse what runc refuses: exec into a stopped container, or a paused
/// one unless asked to (the process would start frozen).
pub fn check_status(status: Status, ignore_paused: bool) -> Result<()> {
    match status {
        Status::Created | Status::Running => Ok(()),
        Status::Paused if ignore_paused => Ok(()),
        Status::Paused => Err(Error::invalid(
            "cannot exec in a paused container (use --ignore-paused to override)",
        )),
        Status::Stopped => Err(Error::invalid("cannot exec in a stopped container")),
        Status::Creating => Err(Error::invalid(
            "cannot exec in a container that is still being created",
        )),
    }
}

/// The exec'd process's namespaces: the container's own (created at its
/// `create`) through its init's /proc/PID/ns links, those it joined by
/// path through the same path, and the host's left alone. Pure.
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

/// Start `process` in container `st` (with the config it was created
/// with, not the bundle's config.json as it may be now) and return
/// once it has reached execve, or with the error that stopped it.
pub fn exec(st: &State, process: Process, opts: ExecOpts<'_>) -> Result<Execed> {
    crate::validate::process(&process)?;
    let terminal = process.terminal().unwrap_or(false);
    match (terminal, opts.console_socket.is_some()) {
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
    let mut spec: Spec = (*st.config).clone();
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::invalid("config.json has no linux section"))?;
    let container_ns = NsPlan::from_spec(linux.namespaces().as_deref().unwrap_or(&[]))?;
    let ns = join_plan(&container_ns, st.pid)?;
    for (kind, path) in ns.joins() {
        namespaces::open_ns(kind, path)?;
    }
    let cgroup_path = st
        .cgroup_path
        .as_deref()
        .ok_or_else(|| Error::invalid(format!("container {} has no cgroup", st.id)))?;
    let cgroup =
        Manager::open(cgroup_path, st.systemd_cgroup)?.sub(&sub::parse(opts.sub_cgroups)?)?;
    parent::check_preserved(opts.preserve_fds)?;
    let (console, listener) = parent::connect_sockets(opts.console_socket.as_ref(), linux)?;
    let mut keep_fds: Vec<RawFd> = (3..3 + opts.preserve_fds as RawFd).collect();
    keep_fds.extend(console.as_ref().map(|c| c.as_raw_fd()));
    keep_fds.extend(listener.as_ref().map(|c| c.as_raw_fd()));
    let (log_fd, log) = parent::init_log(opts.global);
    keep_fds.extend(log_fd.as_ref().map(|fd| fd.as_raw_fd()));
    let oom_score_adj = process.oom_score_adj();
    spec.set_process(Some(process));

    // The /proc/PID/ns paths above must still be this container's: its
    // init must be the same live process right before the clone.
    if !st.init_alive() {
        return Err(Error::invalid("cannot exec in a stopped container"));
    }
    let mut spawned = parent::spawn(Launch {
        ns: &ns,
        cgroup: &cgroup,
        id_maps: (&[], &[]),
        time_offsets: None,
        keep_fds,
        oom_score_adj,
    })?;
    // sync 1b
    spawned.channel.send(&ToInit::Config(Box::new(InitConfig {
        mode: InitMode::Exec,
        id: st.id.clone(),
        spec,
        bundle: st.bundle.clone(),
        rootfs: st.rootfs.clone(),
        ns,
        no_pivot: false,
        // The container's init made its session keyring; exec shares it.
        no_new_keyring: true,
        preserve_fds: opts.preserve_fds,
        listen_fds: None,
        fifo_fd: None,
        console_fd: console.as_ref().map(|c| c.as_raw_fd()),
        console_raw_output: matches!(opts.console_socket, Some(ConsoleSocket::Connected(_))),
        seccomp_listener_fd: listener.as_ref().map(|c| c.as_raw_fd()),
        cgroup_view: None,
        state_json: st.to_oci(Status::Running, st.pid),
        idmapped_fds: Vec::new(),
        log,
    })))?;
    // EOF: the channel closed at execve.
    ParentPhase::AwaitExec.on_message(spawned.channel.recv::<ToParent>()?)?;
    if let Some(p) = opts.pid_file {
        parent::write_pid_file(p, spawned.pid)?;
    }
    spawned.guard.disarm();
    Ok(Execed {
        pid: spawned.pid,
        pidfd: spawned.pidfd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(t: LinuxNamespaceType, path: Option<&str>) -> LinuxNamespace {
        let b = LinuxNamespaceBuilder::default().typ(t);
        match path {
            Some(p) => b.path(p).build().unwrap(),
            None => b.build().unwrap(),
        }
    }

    #[test]
    fn join_plan_joins_what_the_container_has() {
        let container = NsPlan::from_spec(&[
            ns(LinuxNamespaceType::User, None),
            ns(LinuxNamespaceType::Pid, None),
            ns(LinuxNamespaceType::Network, Some("/var/run/netns/x")),
            ns(LinuxNamespaceType::Mount, None),
        ])
        .unwrap();
        let plan = join_plan(&container, 42).unwrap();
        let joins: Vec<(Kind, String)> = plan
            .joins()
            .map(|(k, p)| (k, p.display().to_string()))
            .collect();
        assert_eq!(
            joins,
            vec![
                (Kind::User, "/proc/42/ns/user".into()),
                (Kind::Net, "/var/run/netns/x".into()),
                (Kind::Pid, "/proc/42/ns/pid".into()),
                (Kind::Mount, "/proc/42/ns/mnt".into()),
            ]
        );
        // Nothing is created; the host's namespaces are not touched.
        assert!(plan.clone_flags().is_empty());
        assert_eq!(*plan.get(Kind::Uts), Ns::Host);
    }

    #[test]
    fn status_rules() {
        assert!(check_status(Status::Running, false).is_ok());
        assert!(check_status(Status::Created, false).is_ok());
        assert!(check_status(Status::Paused, true).is_ok());
        let e = check_status(Status::Paused, false).unwrap_err().chain();
        assert!(e.contains("--ignore-paused"), "{e}");
        assert!(check_status(Status::Stopped, true).is_err());
        assert!(check_status(Status::Creating, false).is_err());
    }
}
